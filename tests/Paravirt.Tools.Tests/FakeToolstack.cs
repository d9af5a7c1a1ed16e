using System.Threading.Channels;
using Paravirt.Domains.Toolstack;
using Paravirt.XlConfig;

namespace Paravirt.Tools.Tests;

/// <summary>
/// An in-memory toolstack for driving paravirtd and xl without a hypervisor. Domains are records; a test makes one
/// print on its console (<see cref="Print"/>), read input (<see cref="InputOf"/>) and die (<see cref="End"/>).
/// </summary>
internal sealed class FakeToolstack : IToolstack
{
    private readonly object _gate = new();
    private readonly Dictionary<uint, FakeDomain> _domains = new();
    private uint _nextId = 1;

    public string DmesgText { get; set; } = "(XEN) Paravirt hypervisor\n";
    public bool DmesgCleared { get; private set; }
    /// <summary>When set, Create throws this as a ToolstackException message.</summary>
    public string? CreateFailure { get; set; }

    public sealed class FakeDomain(DomainInfo info)
    {
        public DomainInfo Info { get; set; } = info;
        public List<byte> History { get; } = [];
        public List<Channel<byte[]>> Listeners { get; } = [];
        public List<byte> Input { get; } = [];
        public TaskCompletionSource<DomainEnd> Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<DomainInfo?> Successor { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Paused { get; set; }
    }

    public DomainInfo Create(DomainConfig config, bool paused)
    {
        lock (_gate)
        {
            if (CreateFailure is { } failure)
                throw new ToolstackException(failure);
            if (_domains.Values.Any(d => d.Info.Name == config.Name))
                throw new ToolstackException($"domain with name \"{config.Name}\" already exists");
            uint id = _nextId++;
            var info = new DomainInfo(id, config.Name, config.Uuid ?? Guid.NewGuid(), config.MemoryMiB, config.Vcpus,
                paused ? "--p---" : "-b----", 0, MaxKiB: Math.Max(config.MaxMemMiB, config.MemoryMiB) * 1024);
            _domains[id] = new FakeDomain(info) { Paused = paused };
            _configs[id] = config;
            return info;
        }
    }

    public IReadOnlyList<DomainInfo> List()
    {
        lock (_gate)
            return _domains.Values.Select(d => d.Info).OrderBy(d => d.DomId).ToList();
    }

    public DomainInfo Find(string nameOrId)
    {
        lock (_gate)
        {
            var found = _domains.Values.FirstOrDefault(d => d.Info.Name == nameOrId || d.Info.DomId.ToString() == nameOrId);
            return found?.Info ?? throw new ToolstackException($"{nameOrId} is an invalid domain identifier (rc=-6)");
        }
    }

    public void Destroy(uint domId) => End(domId, new DomainEnd(ShutdownReason.Poweroff, Destroyed: true, null));

    public void Pause(uint domId) => SetState(domId, paused: true);
    public void Unpause(uint domId) => SetState(domId, paused: false);

    private void SetState(uint domId, bool paused)
    {
        lock (_gate)
        {
            var domain = Get(domId);
            domain.Paused = paused;
            domain.Info = domain.Info with { State = paused ? "--p---" : "-b----" };
        }
    }

    public ConsoleSession AttachConsole(uint domId)
    {
        lock (_gate)
        {
            var domain = Get(domId);
            var channel = Channel.CreateUnbounded<byte[]>();
            if (domain.History.Count > 0)
                channel.Writer.TryWrite(domain.History.ToArray());
            domain.Listeners.Add(channel);
            return new ConsoleSession(channel.Reader, domain.Ended.Task,
                input => { lock (_gate) domain.Input.AddRange(input.ToArray()); },
                () => { lock (_gate) domain.Listeners.Remove(channel); channel.Writer.TryComplete(); });
        }
    }

    public Task<DomainEnd> WaitForEnd(uint domId)
    {
        lock (_gate)
            return Get(domId).Ended.Task;
    }

    public Task<DomainInfo?> WaitForSuccessor(uint domId)
    {
        lock (_gate)
            return Get(domId).Successor.Task;
    }

    public string Dmesg(bool clear)
    {
        lock (_gate)
        {
            string text = DmesgText;
            if (clear)
            {
                DmesgText = "";
                DmesgCleared = true;
            }
            return text;
        }
    }

    /// <summary>The shutdown requests received, in order: (domid, reason, force).</summary>
    public List<(uint DomId, ShutdownReason Reason, bool Force)> ShutdownRequests { get; } = [];
    /// <summary>When set, a shutdown request ends the domain with that reason (a cooperating guest).</summary>
    public bool GuestsHonourShutdown { get; set; }
    public Dictionary<uint, long> MemoryTargets { get; } = [];
    public Dictionary<uint, long> MemoryMaxima { get; } = [];
    private readonly Dictionary<uint, DomainConfig> _configs = [];

    public void Shutdown(uint domId, ShutdownReason reason, bool force)
    {
        lock (_gate)
        {
            Get(domId);
            ShutdownRequests.Add((domId, reason, force));
        }
        if (GuestsHonourShutdown)
            End(domId, new DomainEnd(reason, Destroyed: false, null));
    }

    public void Rename(uint domId, string newName)
    {
        lock (_gate)
        {
            var domain = Get(domId);
            if (_domains.Values.Any(d => d.Info.Name == newName && d != domain))
                throw new ToolstackException($"domain with name \"{newName}\" already exists");
            domain.Info = domain.Info with { Name = newName };
        }
    }

    /// <summary>When set, mem-set and mem-max fail with this message.</summary>
    public string? MemoryFailure { get; set; }

    public void SetMemoryTarget(uint domId, long targetKiB)
    {
        lock (_gate)
        {
            Get(domId);
            if (MemoryFailure is { } failure) throw new ToolstackException(failure);
            MemoryTargets[domId] = targetKiB;
        }
    }

    public void SetMaxMemory(uint domId, long maxKiB)
    {
        lock (_gate)
        {
            Get(domId);
            if (MemoryFailure is { } failure) throw new ToolstackException(failure);
            MemoryMaxima[domId] = maxKiB;
        }
    }

    public Dictionary<uint, int> OnlineVcpus { get; } = [];

    public void SetOnlineVcpus(uint domId, int count)
    {
        lock (_gate)
        {
            var domain = Get(domId);
            if (count < 1 || count > domain.Info.Vcpus) throw new ToolstackException($"cannot set {count} vCPUs online");
            OnlineVcpus[domId] = count;
        }
    }

    public HostInfo GetHostInfo() => new(4, 2048, 1024, 4, 19, ".0-paravirt", "xen-3.0-x86_64", "pv", "credit", 4096, "");

    public DomainConfig? ConfigOf(uint domId)
    {
        lock (_gate) { Get(domId); return _configs.GetValueOrDefault(domId); }
    }

    /// <summary>Attached disks per domain, in attach order (block-attach/-detach/-list).</summary>
    public Dictionary<uint, List<DiskSpec>> Disks { get; } = [];
    public List<(uint DomId, string Device, bool Force)> DetachRequests { get; } = [];

    public IReadOnlyList<DiskInfo> ListDisks(uint domId)
    {
        lock (_gate)
        {
            Get(domId);
            return Disks.GetValueOrDefault(domId, []).Select((d, i) => new DiskInfo(51712u + 16u * (uint)i, d.Vdev, 0, domId, 1, -1, -1,
                $"/local/domain/0/backend/vbd/{domId}/{51712 + 16 * i}", d.Target ?? "", d.ReadWrite)).ToList();
        }
    }

    public void AttachDisk(uint domId, DiskSpec disk)
    {
        lock (_gate)
        {
            Get(domId);
            if (disk.Script != null) throw new ToolstackException($"disk {disk.Vdev}: script={disk.Script} is not supported yet");
            var list = Disks.TryGetValue(domId, out var l) ? l : Disks[domId] = [];
            list.Add(disk);
        }
    }

    public void DetachDisk(uint domId, string device, bool force)
    {
        lock (_gate)
        {
            Get(domId);
            DetachRequests.Add((domId, device, force));
            var list = Disks.GetValueOrDefault(domId, []);
            if (list.RemoveAll(d => d.Vdev == device) == 0) throw new ToolstackException($"Error: Device {device} not connected.");
        }
    }

    // --- test controls ---

    public void Print(uint domId, string text)
    {
        lock (_gate)
        {
            var domain = Get(domId);
            var bytes = System.Text.Encoding.UTF8.GetBytes(text);
            domain.History.AddRange(bytes);
            foreach (var listener in domain.Listeners)
                listener.Writer.TryWrite(bytes);
        }
    }

    public string InputOf(uint domId)
    {
        lock (_gate)
            return System.Text.Encoding.UTF8.GetString(Get(domId).Input.ToArray());
    }

    public bool IsPaused(uint domId)
    {
        lock (_gate)
            return Get(domId).Paused;
    }

    public int ListenerCount(uint domId)
    {
        lock (_gate)
            return Get(domId).Listeners.Count;
    }

    public bool Exists(uint domId)
    {
        lock (_gate)
            return _domains.ContainsKey(domId);
    }

    /// <summary>The domain dies: consoles complete, waiters learn how, and it leaves the list.</summary>
    public void End(uint domId, DomainEnd end)
    {
        FakeDomain domain;
        lock (_gate)
        {
            domain = Get(domId);
            _domains.Remove(domId);
            foreach (var listener in domain.Listeners)
                listener.Writer.TryComplete();
            domain.Ended.TrySetResult(end);
        }
        domain.Successor.TrySetResult(null);
    }

    /// <summary>The domain dies and an on_* restart builds its configuration again; returns the new domain.</summary>
    public DomainInfo EndAndRestart(uint domId, DomainEnd end)
    {
        FakeDomain domain;
        DomainConfig config;
        lock (_gate)
        {
            domain = Get(domId);
            config = _configs[domId];
            _domains.Remove(domId);
            foreach (var listener in domain.Listeners)
                listener.Writer.TryComplete();
            domain.Ended.TrySetResult(end);
        }
        var next = Create(config, paused: false);
        domain.Successor.TrySetResult(next);
        return next;
    }

    private FakeDomain Get(uint domId) =>
        _domains.TryGetValue(domId, out var domain) ? domain : throw new ToolstackException($"domain {domId} does not exist");
}
