using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor;

/// <summary>A request the hypervisor refuses: the errno a guest would get, and one line for the administrator.</summary>
public sealed class HypervisorException(int errno, string message) : Exception(message)
{
    public int Errno { get; } = errno;
}

/// <summary>
/// The hypervisor: machine memory and its frame table, the domain table, event channels, the hypercall
/// table and the console ring. Dom0 (domain 0) is a managed domain created with it.
/// </summary>
public sealed partial class Hypervisor : IDisposable
{
    private readonly Dictionary<ushort, Domain> _domains = new();
    private readonly Lock _domainsLock = new();
    private readonly Dictionary<ulong, int> _foreignRefs = new();
    private readonly HashSet<ulong> _deferredFree = new();
    private readonly Dictionary<ulong, ushort> _deferredOwner = new();
    private ushort _domidRover;

    /// <param name="pcpus">Physical CPUs the credit scheduler shares among vCPUs; 0: one per host processor.</param>
    public Hypervisor(MachineMemory memory, IPlatform platform, HypervisorConsole? console = null, int pcpus = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pcpus);
        Scheduler = new Scheduling.SchedulerDriver(pcpus == 0 ? Environment.ProcessorCount : pcpus);
        Memory = memory;
        Platform = platform;
        Console = console ?? new HypervisorConsole();
        Frames = new FrameTable(memory);
        Mmu = new PvMmu(this);
        Hypercalls = new HypercallTable(this);
        Dom0 = new Domain(this, 0, "Domain-0", Guid.Empty, managed: true, privileged: true);
        Dom0.SchedDomain = Scheduler.AddDomain(0);
        _domains[0] = Dom0;
        Console.Log($"Paravirt hypervisor: {memory.FrameCount} frames ({memory.Size >> 20} MiB), platform {platform.Name}");
    }

    public MachineMemory Memory { get; }
    public IPlatform Platform { get; }
    public HypervisorConsole Console { get; }
    public FrameTable Frames { get; }
    public HypercallTable Hypercalls { get; }
    public Domain Dom0 { get; }
    /// <summary>The credit scheduler: which vCPU runs on which of the pCPUs, with each domain's weight and cap.</summary>
    public Scheduling.SchedulerDriver Scheduler { get; }
    /// <summary>The lock that serialises event-channel state across all domains.</summary>
    internal Lock EventLock { get; } = new();

    /// <summary>Raised (on the thread that caused it) when a guest shuts down or is crashed — Xen's VIRQ_DOM_EXC.</summary>
    public event Action<Domain>? DomainShutdown;

    public IReadOnlyList<Domain> Domains
    {
        get { lock (_domainsLock) return _domains.Values.OrderBy(d => d.Id).ToList(); }
    }

    public Domain? GetDomain(ushort id)
    {
        lock (_domainsLock) return _domains.GetValueOrDefault(id);
    }

    /// <summary>
    /// Create a paused guest with <paramref name="pages"/> pages of memory (populated, scrubbed) and a
    /// shared_info page; all or nothing.
    /// </summary>
    public Domain CreateDomain(string name, Guid uuid, ulong pages, int vcpus)
    {
        if (pages == 0) throw new HypervisorException(XenErrno.EINVAL, "a domain needs at least one page of memory");
        if (vcpus < 1 || vcpus > SharedInfoLayout.LegacyMaxVcpus)
            throw new HypervisorException(XenErrno.EINVAL, $"vcpus must be 1..{SharedInfoLayout.LegacyMaxVcpus}, got {vcpus}");
        if (pages + 1 > Frames.FreeFrames)
            throw new HypervisorException(XenErrno.ENOMEM,
                $"not enough free host memory: the domain needs {(pages + 1) * 4} KiB, {Frames.FreeFrames * 4} KiB are free");

        Domain d;
        lock (_domainsLock)
        {
            ushort id = 0;
            for (int tries = 0; tries < DomId.FirstReserved; tries++)
            {
                _domidRover = (ushort)(_domidRover + 1 >= DomId.FirstReserved ? 1 : _domidRover + 1);
                if (!_domains.ContainsKey(_domidRover)) { id = _domidRover; break; }
            }
            if (id == 0) throw new HypervisorException(XenErrno.ENOSPC, "no free domain id");
            d = new Domain(this, id, name, uuid, managed: false, privileged: false);
            d.SchedDomain = Scheduler.AddDomain(id);
            _domains[id] = d;
        }
        try
        {
            var frames = new ulong[pages + 1];
            if (!Frames.TryAllocate(d.Id, frames))
                throw new HypervisorException(XenErrno.ENOMEM, $"not enough free host memory for {pages} pages");
            d.P2m = frames[..^1];
            d.MaxPages = pages;
            for (ulong pfn = 0; pfn < pages; pfn++) Frames.SetMachineToPhys(d.P2m[pfn], pfn);
            d.SharedInfoMfn = frames[^1];
            // Every vCPU starts with event delivery masked (shared_info_x86_64).
            var shared = Memory.FrameForWrite(d.SharedInfoMfn);
            for (int i = 0; i < SharedInfoLayout.LegacyMaxVcpus; i++)
                shared[SharedInfoLayout.VcpuInfo(i) + SharedInfoLayout.VcpuUpcallMask] = 1;
            var list = new List<Vcpu>();
            for (int i = 0; i < vcpus; i++)
            {
                var cpu = Platform.CreateVcpu(Memory);
                list.Add(new Vcpu(d, i, cpu));
            }
            d.Vcpus = list;
            d.PauseLocked(); // created paused, as XEN_DOMCTL_createdomain does
            return d;
        }
        catch
        {
            DestroyDomain(d);
            throw;
        }
    }

    /// <summary>Start the vCPU threads (first unpause) or drop one pause reference.</summary>
    public void Unpause(Domain d)
    {
        bool start;
        lock (d.StateLock)
        {
            if (d.IsDying) throw new HypervisorException(XenErrno.EINVAL, $"domain {d.Id} is dying");
            if (!d.UnpauseLocked()) throw new HypervisorException(XenErrno.EINVAL, $"domain {d.Id} is not paused");
            start = !d.Vcpus.Any(v => v.IsStarted);
            Monitor.PulseAll(d.StateLock);
        }
        if (start) foreach (var v in d.Vcpus) v.Start();
    }

    public void Pause(Domain d)
    {
        lock (d.StateLock)
        {
            if (d.IsDying) throw new HypervisorException(XenErrno.EINVAL, $"domain {d.Id} is dying");
            d.PauseLocked();
        }
        foreach (var v in d.Vcpus) v.Nudge();
    }

    /// <summary>SCHEDOP_shutdown and friends: stop the domain and tell Dom0.</summary>
    public void ShutdownDomain(Domain d, ShutdownReason reason)
    {
        if (d.MarkShutdown(reason, null))
        {
            Console.Log($"d{d.Id}: shutdown, reason {reason.ToString().ToLowerInvariant()}");
            DomainShutdown?.Invoke(d);
        }
    }

    /// <summary>domain_crash: record why, dump the registers of the vCPU that did it, stop the domain.</summary>
    public void CrashDomain(Domain d, string reason)
    {
        var dump = d.Vcpus.Count > 0 ? d.Vcpus.FirstOrDefault(v => v.Registers != null)?.RegisterDump() : null;
        if (!d.MarkShutdown(ShutdownReason.Crash, reason)) return;
        Console.Log(reason);
        Console.Log($"Domain {d.Id} ({d.Name}) crashed");
        if (dump != null) Console.Log(dump);
        DomainShutdown?.Invoke(d);
    }

    /// <summary>
    /// Tear a domain down completely: stop its vCPUs, close its event channels, return its frames to the pool
    /// (frames still mapped by a back-end return when that mapping is dropped). Idempotent.
    /// </summary>
    public void DestroyDomain(Domain d)
    {
        if (d == Dom0) throw new HypervisorException(XenErrno.EPERM, "Domain-0 cannot be destroyed");
        lock (_domainsLock)
        {
            if (!_domains.Remove(d.Id)) return;
        }
        d.MarkDying();
        foreach (var v in d.Vcpus)
        {
            if (v.Thread == Thread.CurrentThread) continue;
            v.Join();
        }
        d.EventChannels.CloseAll();
        var frames = new List<ulong>(d.P2m.Length + 1);
        frames.AddRange(d.OwnedMemoryFrames());
        if (d.SharedInfoMfn != ulong.MaxValue) frames.Add(d.SharedInfoMfn);
        var now = new List<ulong>(frames.Count);
        lock (_foreignRefs)
        {
            foreach (var mfn in frames)
            {
                if (_foreignRefs.ContainsKey(mfn)) { _deferredFree.Add(mfn); _deferredOwner[mfn] = d.Id; }
                else now.Add(mfn);
            }
        }
        Frames.Release(d.Id, now.ToArray());
        Scheduler.RemoveDomain(d.SchedDomain);
        foreach (var v in d.Vcpus) v.Cpu.Dispose();
        d.P2m = [];
    }

    /// <summary>
    /// A privileged domain maps one frame of another domain (xc_map_foreign_range). The frame stays allocated
    /// while the mapping exists, even if its owner dies.
    /// </summary>
    public ForeignMapping MapForeignFrame(Domain caller, ushort target, ulong mfn) => MapForeignFrame(caller, target, mfn, writable: null);

    /// <summary>
    /// As above. A writable mapping holds a PGT_writable_page reference, so the frame cannot become a page table while
    /// managed code may write it (rings mapped before the guest runs stay plain memory for good); <c>null</c> = writable
    /// unless the frame already is a page table or descriptor page, which is then mapped for reading only (core dumps).
    /// </summary>
    internal ForeignMapping MapForeignFrame(Domain caller, ushort target, ulong mfn, bool? writable)
    {
        if (!caller.IsPrivileged) throw new HypervisorException(XenErrno.EPERM, $"d{caller.Id} may not map foreign frames");
        var t = GetDomain(target) ?? throw new HypervisorException(XenErrno.ESRCH, $"no domain {target}");
        if (!Frames.IsOwnedBy(mfn, t.Id)) throw new HypervisorException(XenErrno.EINVAL, $"frame 0x{mfn:x} does not belong to d{target}");
        bool typed = writable != false && Mmu.TryGetWritableRef(t, mfn);
        if (writable == true && !typed) throw new HypervisorException(XenErrno.EBUSY, $"frame 0x{mfn:x} of d{target} is a page table or descriptor page");
        lock (_foreignRefs) _foreignRefs[mfn] = _foreignRefs.GetValueOrDefault(mfn) + 1;
        return new ForeignMapping(this, t, mfn) { Writable = typed };
    }

    internal void UnmapForeignFrame(ulong mfn, bool writable)
    {
        if (writable) Mmu.PutWritableRef(mfn);
        bool free = false;
        ushort owner = 0;
        lock (_foreignRefs)
        {
            int n = _foreignRefs[mfn] - 1;
            if (n > 0) _foreignRefs[mfn] = n;
            else
            {
                _foreignRefs.Remove(mfn);
                if (_deferredFree.Remove(mfn)) { free = true; owner = _deferredOwner[mfn]; _deferredOwner.Remove(mfn); }
            }
        }
        if (free) Frames.Release(owner, [mfn]);
    }

    public void Dispose()
    {
        foreach (var d in Domains.Where(d => d != Dom0)) DestroyDomain(d);
        Scheduler.Dispose();
    }
}

/// <summary>A frame of another domain mapped by a privileged managed domain; dispose to unmap.</summary>
public sealed class ForeignMapping : IDisposable
{
    private readonly Hypervisor _hv;
    private int _disposed;

    internal ForeignMapping(Hypervisor hv, Domain owner, ulong mfn)
    {
        _hv = hv;
        Owner = owner;
        Mfn = mfn;
    }

    public Domain Owner { get; }
    public ulong Mfn { get; }
    internal bool Writable { get; init; } = true;

    /// <summary>The frame's bytes. Throws <see cref="ObjectDisposedException"/> once unmapped or once the owner is dying.</summary>
    public Span<byte> Span
    {
        get
        {
            if (Volatile.Read(ref _disposed) != 0 || Owner.IsDying)
                throw new ObjectDisposedException(nameof(ForeignMapping), $"frame 0x{Mfn:x} of d{Owner.Id} is no longer mapped");
            return _hv.Memory.FrameForWrite(Mfn);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _hv.UnmapForeignFrame(Mfn, Writable);
    }
}
