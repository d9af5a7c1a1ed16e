using System.Collections.Concurrent;
using System.Globalization;
using Paravirt.Domains.Console;
using Paravirt.Domains.XenStore;
using Paravirt.Hypervisor;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Boot;
using Paravirt.Hypervisor.Events;
using Paravirt.XlConfig;
using HvShutdown = Paravirt.Hypervisor.ShutdownReason;

namespace Paravirt.Domains.Toolstack;

/// <summary>
/// libxl's role in Dom0: builds domains from a <see cref="DomainConfig"/>, publishes them in xenstore, connects
/// their console and store rings, and applies on_poweroff/on_crash/... when they stop. Every failure leaves
/// nothing behind: a half-built domain is destroyed before the error is reported.
/// </summary>
public sealed partial class Toolstack : IToolstack, IDisposable
{
    private readonly Hypervisor.Hypervisor _hv;
    private readonly XenStoreDaemon _xenstore;
    private readonly XenConsoled _consoled;
    private readonly ConcurrentDictionary<ushort, ManagedGuest> _guests = new();
    private readonly Lock _createLock = new();
    private readonly DateTime _started = DateTime.UtcNow;

    /// <summary>How long a guest asked to shut down through control/shutdown has before the hypervisor stops it.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Where coredump-destroy/coredump-restart write ELF cores (xl's XEN_DUMP_DIR role).</summary>
    public string CoreDumpDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "paravirt-dump");

    public Toolstack(Hypervisor.Hypervisor hv, XenStoreDaemon xenstore, XenConsoled consoled)
    {
        _hv = hv;
        _xenstore = xenstore;
        _consoled = consoled;
        _hv.DomainShutdown += OnDomainShutdown;
        PublishDom0();
        StartDeviceBackends();
    }

    /// <summary>A guest and what the toolstack knows about it.</summary>
    private sealed class ManagedGuest(Domain domain, DomainConfig config, DomainConsole console, XenStoreRingConnection store, ForeignMapping storeRing, uint dom0StorePort)
    {
        public uint Dom0StorePort { get; } = dom0StorePort;
        public Domain Domain { get; } = domain;
        public DomainConfig Config { get; } = config;
        public DomainConsole Console { get; } = console;
        public XenStoreRingConnection Store { get; } = store;
        public ForeignMapping StoreRing { get; } = storeRing;
        public TaskCompletionSource<DomainEnd> End { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        /// <summary>The domain an on_* restart built from this one's configuration; null once none will be built.</summary>
        public TaskCompletionSource<DomainInfo?> Successor { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Torn;
        /// <summary>Set by an explicit destroy: a restart action that raced it is abandoned.</summary>
        public volatile bool DestroyRequested;
        /// <summary>The name the toolstack knows the domain by (changed by rename; the hypervisor keeps its build name).</summary>
        public string Name { get; set; } = config.Name;
        public DateTime StartTimeUtc { get; } = DateTime.UtcNow;
        public long TargetKiB { get; set; } = config.MemoryMiB * 1024;
        public long MaxKiB { get; set; } = Math.Max(config.MaxMemMiB, config.MemoryMiB) * 1024;
        /// <summary>How many times this configuration has been restarted with rename-restart (xl's incarnation).</summary>
        public int Incarnation { get; set; }
    }

    public DomainInfo Create(DomainConfig config, bool paused)
    {
        if (config.DriverDomain) return CreateDriverDomain(config, paused); // Toolstack.DriverDomains.cs
        Validate(config);
        KernelImage kernel;
        byte[]? ramdisk = null;
        try
        {
            kernel = KernelImage.Load(config.Kernel);
            if (config.Ramdisk != null) ramdisk = RamdiskImage.ReadFile(config.Ramdisk);
        }
        catch (DomainBuildException e) { throw new ToolstackException(e.Message); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ToolstackException($"cannot read ramdisk {config.Ramdisk}: {e.Message}");
        }

        lock (_createLock)
        {
            if (NameInUse(config.Name))
                throw new ToolstackException($"domain with name \"{config.Name}\" already exists");
            ulong pages = (ulong)config.MemoryMiB * 256;
            Domain d;
            try { d = _hv.CreateDomain(config.Name, config.Uuid ?? Guid.NewGuid(), pages, MaxVcpusOf(config)); }
            catch (HypervisorException e) { throw new ToolstackException(e.Message); }

            DomainConsole? console = null;
            ForeignMapping? storeRing = null;
            uint dom0StorePort = 0;
            bool introduced = false;
            try
            {
                ApplyLimits(d, config); // Toolstack.Limits.cs: max_event_channels, max_grant_frames, max_maptrack_frames
                ApplySchedParams(d, config); // Toolstack.Sched.cs: cpu_weight, cap, cpus
                // libxl__build_pre: the store and console event channels, unbound towards Dom0 (ports 1 and 2).
                Check(EventChannelTable.AllocUnbound(_hv.Dom0, d.Id, 0, out uint storePort), "allocate the xenstore event channel");
                Check(EventChannelTable.AllocUnbound(_hv.Dom0, d.Id, 0, out uint consolePort), "allocate the console event channel");
                var built = DomainBuilder.Build(_hv.Memory, d, new PvBuildRequest(kernel, ramdisk, config.Cmdline, storePort, consolePort));

                console = _consoled.Introduce(d, built.ConsoleMfn, consolePort);
                PublishDomain(d, config, built, storePort, consolePort);
                storeRing = _hv.MapForeignFrame(_hv.Dom0, d.Id, built.StoreMfn);
                Check(EventChannelTable.BindInterdomain(_hv.Dom0, d.Id, storePort, out dom0StorePort), "bind the xenstore event channel");
                var ring = new ForeignRingPage(storeRing);
                var store = _xenstore.IntroduceDomain(d.Id, ring, () => EventChannelTable.Send(_hv.Dom0, dom0StorePort));
                introduced = true;
                _hv.Dom0.EventChannels.SetHandler(dom0StorePort, store.OnEvent);

                AttachConfiguredDisks(d, config);
                var guest = new ManagedGuest(d, config, console, store, storeRing, dom0StorePort);
                _guests[d.Id] = guest;
                _hv.Console.Log($"d{d.Id}: created \"{config.Name}\" with {config.MemoryMiB} MiB, kernel {config.Kernel}");
                if (!paused) _hv.Unpause(d);
                return Info(d);
            }
            catch (Exception e) when (e is DomainBuildException or HypervisorException or ToolstackException or XenStoreException)
            {
                if (introduced) _xenstore.ReleaseDomain(d.Id);
                DetachAllDisks(d);
                RemoveDomainNodes(d);
                if (console != null) _consoled.Release(d.Id);
                storeRing?.Dispose();
                if (dom0StorePort != 0) EventChannelTable.Close(_hv.Dom0, dom0StorePort);
                _guests.TryRemove(d.Id, out _);
                _hv.DestroyDomain(d);
                throw new ToolstackException(e.Message);
            }
        }
    }

    public IReadOnlyList<DomainInfo> List() => _hv.Domains.Where(d => !d.IsDying).Select(Info).ToList();

    public DomainInfo Find(string nameOrId)
    {
        var d = Resolve(nameOrId);
        return Info(d);
    }

    public void Destroy(uint domId)
    {
        // Seen by a restart whose teardown wins the race with this destroy: it must not build the domain again.
        ManagedGuest? g = null;
        if (domId < DomId.FirstReserved && _guests.TryGetValue((ushort)domId, out var found)) (g = found).DestroyRequested = true;
        if (TryDestroyDriverDomain(domId)) return;
        var d = Lookup(domId);
        if (d.IsManaged) throw new ToolstackException("cannot destroy privileged domain 0");
        Teardown(d, destroyed: true);
        // An explicit destroy ends the line: no restart follows it (see RegisterRestart and StartRestart).
        if (g is not null) g.Successor.TrySetResult(null);
    }

    public void Pause(uint domId)
    {
        var d = Lookup(domId);
        if (d.IsManaged) throw new ToolstackException(d.Id == 0 ? "cannot pause domain 0" : $"cannot pause driver domain {d.Id}: it runs managed code, not vCPUs");
        try { _hv.Pause(d); }
        catch (HypervisorException e) { throw new ToolstackException(e.Message); }
    }

    public void Unpause(uint domId)
    {
        var d = Lookup(domId);
        if (d.IsManaged) throw new ToolstackException(d.Id == 0 ? "cannot unpause domain 0" : $"cannot unpause driver domain {d.Id}: it is never paused");
        try { _hv.Unpause(d); }
        catch (HypervisorException e) { throw new ToolstackException(e.Message); }
    }

    public ConsoleSession AttachConsole(uint domId)
    {
        var d = Lookup(domId);
        if (!_guests.TryGetValue(d.Id, out var g))
            throw new ToolstackException(IsDriverDomain(d.Id) ? $"driver domain {domId} has no console (its back-ends are managed code)" : $"domain {domId} has no console");
        var reader = g.Console.Subscribe(out var detach);
        return new ConsoleSession(reader, g.End.Task, input => g.Console.SendInput(input.Span), detach);
    }

    public Task<DomainInfo?> WaitForSuccessor(uint domId)
    {
        if (!IsLive(domId) && RecentlyEnded(domId) is { } gone) return gone.Successor.Task;
        var d = Lookup(domId);
        if (!_guests.TryGetValue(d.Id, out var g)) throw new ToolstackException($"domain {domId} is not managed by this toolstack");
        return g.Successor.Task;
    }

    public Task<DomainEnd> WaitForEnd(uint domId)
    {
        if (!IsLive(domId) && RecentlyEnded(domId) is { } gone) return gone.End.Task;
        var d = Lookup(domId);
        if (!_guests.TryGetValue(d.Id, out var g)) throw new ToolstackException($"domain {domId} is not managed by this toolstack");
        return g.End.Task;
    }

    public void Shutdown(uint domId, ShutdownReason reason, bool force)
    {
        if (reason is not (ShutdownReason.Poweroff or ShutdownReason.Reboot))
            throw new ToolstackException($"shutdown reason {reason} cannot be requested (poweroff or reboot)");
        var d = Lookup(domId);
        if (IsDriverDomain(d.Id)) { TryDestroyDriverDomain(d.Id); return; } // managed code stops at once
        if (d.IsManaged) throw new ToolstackException("cannot shut down domain 0 from the toolstack");
        if (!_guests.TryGetValue(d.Id, out var g)) throw new ToolstackException($"domain {domId} is not managed by this toolstack");
        if (d.IsShutdown) return;
        string word = reason == ShutdownReason.Poweroff ? "poweroff" : "reboot";
        var hvReason = reason == ShutdownReason.Poweroff ? HvShutdown.Poweroff : HvShutdown.Reboot;
        string dom = $"/local/domain/{d.Id}";
        // A guest with PV drivers says which requests it honours (control/feature-*, xenstore-paths). With -F a guest
        // that never did is stopped by the hypervisor at once, as libxl falls back when PV control is unavailable.
        if (force && ReadOrNull($"{dom}/control/feature-{word}") != "1")
        {
            _hv.Console.Log($"d{d.Id}: no control/feature-{word}; forced {word}");
            _hv.ShutdownDomain(d, hvReason);
            return;
        }
        try { _xenstore.Write(0, $"{dom}/control/shutdown", word); }
        catch (XenStoreException e) { throw new ToolstackException($"cannot write {dom}/control/shutdown: {e.Message}"); }
        _hv.Console.Log($"d{d.Id}: asked to {word} through control/shutdown");
        var timeout = ShutdownTimeout;
        _ = Task.Delay(timeout).ContinueWith(_ =>
        {
            if (g.Torn != 0 || d.IsShutdown || d.IsDying) return;
            _hv.Console.Log($"d{d.Id}: did not {word} within {timeout.TotalSeconds:0.#} s; forced {word}");
            _hv.ShutdownDomain(d, hvReason);
        }, TaskScheduler.Default);
    }

    public void Rename(uint domId, string newName)
    {
        ValidateName(newName);
        var d = Lookup(domId);
        if (d.IsManaged) throw new ToolstackException("cannot rename domain 0");
        if (!_guests.TryGetValue(d.Id, out var g)) throw new ToolstackException($"domain {domId} is not managed by this toolstack");
        lock (_createLock)
        {
            if (g.Name == newName) return;
            if (NameInUse(newName)) throw new ToolstackException($"domain with name \"{newName}\" already exists");
            string old = g.Name;
            try
            {
                _xenstore.Write(0, $"/local/domain/{d.Id}/name", newName);
                _xenstore.Write(0, $"/vm/{d.Uuid}/name", newName);
            }
            catch (XenStoreException e) { throw new ToolstackException($"cannot rename domain {d.Id}: {e.Message}"); }
            g.Name = newName;
            _hv.Console.Log($"d{d.Id}: renamed \"{old}\" to \"{newName}\"");
        }
    }

    public void SetMemoryTarget(uint domId, long targetKiB)
    {
        var (d, g) = Guest(domId);
        if (targetKiB <= 0) throw new ToolstackException($"memory target must be positive, got {targetKiB} KiB");
        if (targetKiB > g.MaxKiB)
            throw new ToolstackException($"memory target {targetKiB} KiB is above the domain's maximum {g.MaxKiB} KiB (see xl mem-max)");
        try { _xenstore.Write(0, $"/local/domain/{d.Id}/memory/target", targetKiB.ToString(CultureInfo.InvariantCulture)); }
        catch (XenStoreException e) { throw new ToolstackException($"cannot write memory/target: {e.Message}"); }
        g.TargetKiB = targetKiB;
    }

    public void SetMaxMemory(uint domId, long maxKiB)
    {
        var (d, g) = Guest(domId);
        // The hypervisor holds the domain's allocation fixed at build time (it has no XEN_DOMCTL_max_mem yet), so the
        // maximum can be lowered to the target or raised back up to the built size, never beyond it.
        long builtKiB = (long)d.MaxPages * 4;
        if (maxKiB < g.TargetKiB)
            throw new ToolstackException($"memory max {maxKiB} KiB is below the current target {g.TargetKiB} KiB");
        if (maxKiB > builtKiB)
            throw new ToolstackException($"memory max {maxKiB} KiB is above the {builtKiB} KiB the domain was built with");
        try { _xenstore.Write(0, $"/local/domain/{d.Id}/memory/static-max", maxKiB.ToString(CultureInfo.InvariantCulture)); }
        catch (XenStoreException e) { throw new ToolstackException($"cannot write memory/static-max: {e.Message}"); }
        g.MaxKiB = maxKiB;
    }

    public void SetOnlineVcpus(uint domId, int count)
    {
        var (d, _) = Guest(domId);
        int max = d.Vcpus.Count;
        if (count < 1 || count > max)
            throw new ToolstackException($"cannot set {count} vCPUs online: domain {d.Id} has 1..{max} (maxvcpus)");
        try
        {
            for (int i = 0; i < max; i++)
                _xenstore.Write(0, $"/local/domain/{d.Id}/cpu/{i}/availability", i < count ? "online" : "offline");
        }
        catch (XenStoreException e) { throw new ToolstackException($"cannot write cpu/*/availability: {e.Message}"); }
    }

    public HostInfo GetHostInfo() => new(
        PcpuCount,
        (long)(_hv.Frames.TotalFrames / 256),
        (long)(_hv.Frames.FreeFrames / 256),
        Hypervisor.Hypercalls.XenVersionOp.Major,
        Hypervisor.Hypercalls.XenVersionOp.Minor,
        Hypervisor.Hypercalls.XenVersionOp.Extra,
        Hypervisor.Hypercalls.XenVersionOp.Caps,
        "pv",
        "credit",
        4096,
        "");

    public DomainConfig? ConfigOf(uint domId)
    {
        var d = Lookup(domId);
        return _guests.TryGetValue(d.Id, out var g) ? g.Config : DriverDomainConfig(d.Id);
    }

    public string Dmesg(bool clear) => _hv.Console.Read(clear);

    public void Dispose()
    {
        _hv.DomainShutdown -= OnDomainShutdown;
        CancelAllRestarts();
        // A death handler may be half way through a teardown: let it finish before the caller disposes the hypervisor.
        DrainDeathHandlers(TimeSpan.FromSeconds(30));
        foreach (var g in _guests.Values) Teardown(g.Domain, destroyed: true);
        DestroyAllDriverDomains();
        StopDeviceBackends();
    }

    // ---- domain death (the on_* actions and restarts are in Toolstack.Restart.cs) ----

    /// <summary>xl's coredump: the guest's memory as an ELF core in <see cref="CoreDumpDirectory"/>.</summary>
    private void WriteCore(ManagedGuest g)
    {
        var d = g.Domain;
        string file = Path.Combine(CoreDumpDirectory,
            $"{DateTime.UtcNow:yyyy-MMdd-HHmm.ss}.{g.Name}.{d.Id}.core");
        try
        {
            Directory.CreateDirectory(CoreDumpDirectory);
            using var stream = new FileStream(file, FileMode.CreateNew, FileAccess.Write);
            CoreDump.Write(stream, d.P2m, (mfn, page) =>
            {
                using var mapping = _hv.MapForeignFrame(_hv.Dom0, d.Id, mfn);
                mapping.Span.CopyTo(page);
            });
            _hv.Console.Log($"d{d.Id}: core dumped to {file}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or HypervisorException or ObjectDisposedException)
        {
            _hv.Console.Log($"d{d.Id}: core dump to {file} failed: {e.Message}");
        }
    }

    /// <summary>Destroy a guest and everything Dom0 holds for it; false when it was already torn down.</summary>
    private bool Teardown(Domain d, bool destroyed)
    {
        if (!_guests.TryGetValue(d.Id, out var g))
        {
            _hv.DestroyDomain(d);
            return false;
        }
        if (Interlocked.Exchange(ref g.Torn, 1) == 1) return false;
        var reason = d.ShutdownReason;
        _hv.Pause(d);
        g.Console.Drain();
        _xenstore.ReleaseDomain(d.Id);
        DetachAllDisks(d);
        RemoveDomainNodes(d);
        _consoled.Release(d.Id);
        g.StoreRing.Dispose();
        EventChannelTable.Close(_hv.Dom0, g.Dom0StorePort);
        _hv.DestroyDomain(d);
        _guests.TryRemove(d.Id, out _);
        RememberEnded(g);
        g.End.TrySetResult(new DomainEnd(
            reason is { } r ? (ShutdownReason)(uint)r : ShutdownReason.Poweroff, destroyed && reason == null, d.CrashMessage));
        _hv.Console.Log($"d{d.Id}: destroyed");
        return true;
    }

    // ---- xenstore layout (docs/misc/xenstore-paths.pandoc) ----

    private void PublishDom0()
    {
        Write(0, "/local/domain/0/name", "Domain-0");
        Write(0, "/local/domain/0/domid", "0");
        _xenstore.Mkdir(0, "/vm");
    }

    private void PublishDomain(Domain d, DomainConfig config, PvBuildResult built, uint storePort, uint consolePort)
    {
        string dom = $"/local/domain/{d.Id}", vm = $"/vm/{d.Uuid}";
        var ro = new[] { new XsPermission(0, XsPerm.None), new XsPermission(d.Id, XsPerm.Read) };
        var rw = new[] { new XsPermission(d.Id, XsPerm.None) };
        Mkdir(dom, ro);
        Mkdir(vm, ro);
        Write(0, $"{vm}/uuid", d.Uuid.ToString(), ro);
        Write(0, $"{vm}/name", config.Name, ro);
        Write(0, $"{vm}/start_time", (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0).ToString("F2", CultureInfo.InvariantCulture), ro);
        Write(0, $"{dom}/vm", vm, ro);
        Write(0, $"{dom}/name", config.Name, ro);
        Write(0, $"{dom}/domid", d.Id.ToString(CultureInfo.InvariantCulture), ro);
        Write(0, $"{dom}/memory/static-max", (config.MaxMemMiB * 1024).ToString(CultureInfo.InvariantCulture), ro);
        Write(0, $"{dom}/memory/target", (config.MemoryMiB * 1024).ToString(CultureInfo.InvariantCulture), ro);
        // libxl__build_post: one availability node per possible vCPU; those past `vcpus` start offline.
        for (int i = 0; i < MaxVcpusOf(config); i++) Write(0, $"{dom}/cpu/{i}/availability", i < config.Vcpus ? "online" : "offline", ro);
        Write(0, $"{dom}/store/port", storePort.ToString(CultureInfo.InvariantCulture), ro);
        Write(0, $"{dom}/store/ring-ref", built.StoreMfn.ToString(CultureInfo.InvariantCulture), ro);
        Write(0, $"{dom}/console/port", consolePort.ToString(CultureInfo.InvariantCulture), ro);
        Write(0, $"{dom}/console/ring-ref", built.ConsoleMfn.ToString(CultureInfo.InvariantCulture), ro);
        Write(0, $"{dom}/console/type", "xenconsoled", ro);
        Write(0, $"{dom}/console/output", "pty", ro);
        Write(0, $"{dom}/console/limit", XenConsoled.HistoryBytes.ToString(CultureInfo.InvariantCulture), ro);
        foreach (var sub in new[] { "device", "control", "data", "drivers", "feature", "attr", "error" })
            Mkdir($"{dom}/{sub}", rw);
        Mkdir($"{dom}/control/shutdown", rw);
        Write(0, $"{dom}/control/platform-feature-multiprocessor-suspend", "1", ro);
    }

    private void RemoveDomainNodes(Domain d)
    {
        TryRemove($"/local/domain/{d.Id}");
        TryRemove($"/vm/{d.Uuid}");
    }

    private void Write(ushort caller, string path, string value, XsPermission[]? perms = null)
    {
        _xenstore.Write(caller, path, value);
        if (perms != null) _xenstore.SetPerms(caller, path, perms);
    }

    private void Mkdir(string path, XsPermission[] perms)
    {
        _xenstore.Mkdir(0, path);
        _xenstore.SetPerms(0, path, perms);
    }

    private void TryRemove(string path)
    {
        try { _xenstore.Rm(0, path); }
        catch (XenStoreException) { }
    }

    // ---- helpers ----

    private bool NameInUse(string name) =>
        _hv.Domains.Any(d => !d.IsDying && (_guests.TryGetValue(d.Id, out var g) ? g.Name : d.Name) == name);

    /// <summary>A name must be usable as a xenstore value and on xl's command line: printable, not a number.</summary>
    private static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name)) throw new ToolstackException("domain name must be given");
        if (name.Length > 64) throw new ToolstackException($"domain name \"{name[..64]}...\" is longer than 64 characters");
        if (name.Any(c => c <= ' ' || c == 127 || c == '/')) throw new ToolstackException($"domain name \"{name}\" contains a space, '/' or a control character");
        if (name.All(char.IsAsciiDigit)) throw new ToolstackException($"domain name \"{name}\" is a number (it would read as a domain id)");
    }

    private (Domain, ManagedGuest) Guest(uint domId)
    {
        var d = Lookup(domId);
        if (!_guests.TryGetValue(d.Id, out var g)) throw new ToolstackException($"domain {domId} is not managed by this toolstack");
        return (d, g);
    }

    private string? ReadOrNull(string path)
    {
        try { return _xenstore.ReadString(0, path); }
        catch (XenStoreException) { return null; }
    }

    private static void Validate(DomainConfig c)
    {
        ValidateName(c.Name);
        if (c.Type != "pv") throw new ToolstackException($"type \"{c.Type}\" is not supported: only \"pv\"");
        if (c.MemoryMiB <= 0) throw new ToolstackException($"memory must be positive, got {c.MemoryMiB}");
        if (c.MaxMemMiB != 0 && c.MaxMemMiB < c.MemoryMiB) throw new ToolstackException($"maxmem ({c.MaxMemMiB}) is less than memory ({c.MemoryMiB})");
        ValidateVcpus(c); // Toolstack.Vcpus.cs
        if (string.IsNullOrEmpty(c.Kernel)) throw new ToolstackException("a pv domain needs a kernel");
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0) throw new ToolstackException($"cannot {what}: errno {-rc}");
    }

    private bool IsLive(uint domId) => domId < DomId.FirstReserved && _hv.GetDomain((ushort)domId) is { IsDying: false };

    private Domain Lookup(uint domId)
    {
        var d = domId < DomId.FirstReserved ? _hv.GetDomain((ushort)domId) : null;
        if (d == null || d.IsDying) throw new ToolstackException($"{domId} is an invalid domain identifier");
        return d;
    }

    private Domain Resolve(string nameOrId)
    {
        if (uint.TryParse(nameOrId, NumberStyles.None, CultureInfo.InvariantCulture, out var id)) return Lookup(id);
        return _hv.Domains.FirstOrDefault(d => !d.IsDying && (_guests.TryGetValue(d.Id, out var g) ? g.Name : d.Name) == nameOrId)
               // xl's find_domain: libxl_name_to_domid fails with ERROR_INVAL (-6) for a name no domain has.
               ?? throw new ToolstackException($"{nameOrId} is an invalid domain identifier (rc=-6)");
    }

    /// <summary>
    /// xl list's six letters (xl_info.c list_domains): r b p, then 's' for any shut-down domain and in the fifth place
    /// the shutdown reason's letter from "-rscwS" (poweroff '-', reboot 'r', suspend 's', crash 'c', watchdog 'w',
    /// soft reset 'S'), then d.
    /// </summary>
    internal static string ListState(Domain d)
    {
        var letters = d.StateLetters.ToCharArray();
        if (letters.Length != 6) return d.StateLetters;
        if (d.IsShutdown && d.ShutdownReason is { } reason)
        {
            letters[3] = 's';
            letters[4] = (uint)reason < 6 ? "-rscwS"[(int)(uint)reason] : '?';
        }
        else
        {
            letters[3] = '-';
            letters[4] = '-';
        }
        return new string(letters);
    }

    private DomainInfo Info(Domain d)
    {
        _guests.TryGetValue(d.Id, out var g);
        return new(
            d.Id, g?.Name ?? d.Name, d.Uuid, (long)(d.IsManaged ? 0 : d.MaxPages / 256),
            d.IsManaged ? PcpuCount : d.OnlineVcpuCount,
            ListState(d), d.CpuTimeSeconds, g?.StartTimeUtc ?? _started, g?.TargetKiB ?? 0,
            d.IsManaged ? null : d.Vcpus.Select(StateOf).ToList(),
            g?.MaxKiB ?? 0);
    }

    /// <summary>xenstored's view of a guest's store ring page (a Dom0 foreign mapping).</summary>
    private sealed class ForeignRingPage(ForeignMapping mapping) : IRingPage
    {
        public Span<byte> Span => mapping.Span;
    }
}
