using System.Runtime.CompilerServices;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Events;

/// <summary>EVTCHNSTAT_* of event_channel.h: the state of one port.</summary>
public enum EventChannelState
{
    Closed = 0, Unbound = 1, Interdomain = 2, Pirq = 3, Virq = 4, Ipi = 5,
}

/// <summary>What EVTCHNOP_status reports about one port (struct evtchn_status, OUT fields).</summary>
public readonly record struct EventChannelStatus(EventChannelState State, uint Vcpu, ushort RemoteDomain, uint RemotePort, uint Virq);

internal sealed class EventChannel
{
    public EventChannelState State;
    public ushort RemoteDomain;
    public uint RemotePort;
    public uint NotifyVcpu;
    public uint Virq;
    /// <summary>For managed domains: what to run when the port is signalled (instead of shared_info bits).</summary>
    public Action? Handler;

    public void Reset()
    {
        State = EventChannelState.Closed;
        RemoteDomain = 0;
        RemotePort = 0;
        NotifyVcpu = 0;
        Virq = 0;
        Handler = null;
    }
}

/// <summary>
/// One domain's event-channel ports (2-level ABI) and the typed operations on them (Xen's
/// xen/common/event_channel.c). Managed domains call these directly with their own identity; the guest
/// hypercall layer (<c>EventChannelOp</c>) only marshals. All state is guarded by the hypervisor's event lock.
/// </summary>
public sealed class EventChannelTable
{
    /// <summary>xl.cfg max_event_channels default (1023): ports 1..1023; port 0 is never allocated.</summary>
    public const int DefaultMaxPorts = 1024;

    private readonly Domain _domain;
    private readonly List<EventChannel> _ports = [new EventChannel()];
    /// <summary>v->virq_to_evtchn for every vCPU: [vcpu * Virq.Count + virq] = port, 0 when unbound. Sized on first bind.</summary>
    private uint[] _virqPorts = [];
    /// <summary>SCHEDOP_poll state per vCPU (Xen's poll_mask + poll_evtchn), allocated on first poll.</summary>
    private PollState?[] _polls = [];
    private int _pollers;

    /// <summary>SCHEDOP_poll allows at most 128 ports per call.</summary>
    public const int MaxPollPorts = 128;

    private sealed class PollState
    {
        public readonly uint[] Ports = new uint[MaxPollPorts];
        public int Count;
        public bool Active;
        public long Deadline;
        public required Func<bool> Satisfied;
    }

    internal EventChannelTable(Domain domain) => _domain = domain;

    private int _maxPorts = DefaultMaxPorts;

    /// <summary>
    /// The per-domain port limit (max_evtchn_port + 1, xl.cfg max_event_channels + 1): allocation beyond it gives
    /// -ENOSPC. Capped by the 2-level ABI's 4096 ports; lowering it never closes open ports.
    /// </summary>
    public int MaxPorts
    {
        get => _maxPorts;
        set
        {
            if (value < 2 || value > SharedInfoLayout.MaxEventChannels)
                throw new ArgumentOutOfRangeException(nameof(value), value, $"the 2-level ABI allows 2..{SharedInfoLayout.MaxEventChannels} ports");
            lock (Lock) _maxPorts = value;
        }
    }

    /// <summary>How many vCPUs events can be aimed at: a managed domain has no vCPUs but takes notifications as vCPU 0.</summary>
    private static int VcpuCount(Domain d) => d.IsManaged ? 1 : d.Vcpus.Count;

    private Lock Lock => _domain.Hypervisor.EventLock;

    /// <summary>EVTCHNOP_alloc_unbound: a port in <paramref name="dom"/> that <paramref name="remoteDom"/> may bind.</summary>
    public static int AllocUnbound(Domain caller, ushort dom, ushort remoteDom, out uint port)
    {
        port = 0;
        var hv = caller.Hypervisor;
        if (dom == DomId.Self) dom = caller.Id;
        if (remoteDom == DomId.Self) remoteDom = caller.Id;
        // As Xen (evtchn_alloc_unbound): the domain is looked up first (-ESRCH), then the XSM check (-EPERM).
        var d = hv.GetDomain(dom);
        if (d == null || d.IsDying) return -XenErrno.ESRCH;
        if (dom != caller.Id && !caller.IsPrivileged) return -XenErrno.EPERM;
        lock (hv.EventLock)
        {
            int rc = d.EventChannels.AllocPortLocked(out port);
            if (rc != 0) return rc;
            var ch = d.EventChannels._ports[(int)port];
            ch.State = EventChannelState.Unbound;
            ch.RemoteDomain = remoteDom;
            return 0;
        }
    }

    /// <summary>EVTCHNOP_bind_interdomain: connect a new local port to <paramref name="remoteDom"/>'s unbound port.</summary>
    public static int BindInterdomain(Domain caller, ushort remoteDom, uint remotePort, out uint localPort)
    {
        localPort = 0;
        var hv = caller.Hypervisor;
        if (remoteDom == DomId.Self) remoteDom = caller.Id;
        var rd = hv.GetDomain(remoteDom);
        if (rd == null || rd.IsDying) return -XenErrno.ESRCH;
        lock (hv.EventLock)
        {
            if (!rd.EventChannels.IsValidLocked(remotePort)) return -XenErrno.EINVAL;
            var rch = rd.EventChannels._ports[(int)remotePort];
            if (rch.State != EventChannelState.Unbound || rch.RemoteDomain != caller.Id) return -XenErrno.EINVAL;
            int rc = caller.EventChannels.AllocPortLocked(out localPort);
            if (rc != 0) return rc;
            var lch = caller.EventChannels._ports[(int)localPort];
            lch.State = EventChannelState.Interdomain;
            lch.RemoteDomain = remoteDom;
            lch.RemotePort = remotePort;
            rch.State = EventChannelState.Interdomain;
            rch.RemoteDomain = caller.Id;
            rch.RemotePort = localPort;
        }
        // As Xen: make sure the binder does not miss a notification sent before it bound.
        SetPending(caller, localPort);
        return 0;
    }

    /// <summary>EVTCHNOP_send.</summary>
    public static int Send(Domain caller, uint port)
    {
        var hv = caller.Hypervisor;
        Domain? target;
        uint targetPort;
        lock (hv.EventLock)
        {
            if (!caller.EventChannels.IsValidLocked(port)) return -XenErrno.EINVAL;
            var ch = caller.EventChannels._ports[(int)port];
            switch (ch.State)
            {
                case EventChannelState.Interdomain:
                    target = hv.GetDomain(ch.RemoteDomain);
                    targetPort = ch.RemotePort;
                    break;
                case EventChannelState.Ipi:
                    target = caller;
                    targetPort = port;
                    break;
                case EventChannelState.Unbound:
                    return 0; // silently dropped, as Xen
                default:
                    return -XenErrno.EINVAL;
            }
        }
        if (target != null && !target.IsDying) SetPending(target, targetPort);
        return 0;
    }

    /// <summary>EVTCHNOP_close: the peer of an interdomain channel goes back to unbound.</summary>
    public static int Close(Domain caller, uint port)
    {
        var hv = caller.Hypervisor;
        lock (hv.EventLock) return caller.EventChannels.CloseLocked(port);
    }

    /// <summary>
    /// EVTCHNOP_bind_virq: a new port that receives <paramref name="virq"/> on <paramref name="vcpu"/>. Global VIRQs
    /// bind on vCPU 0 only (-EINVAL otherwise); a VIRQ already bound on that vCPU gives -EEXIST.
    /// </summary>
    public static int BindVirq(Domain caller, uint virq, uint vcpu, out uint port)
    {
        port = 0;
        if (virq >= Virq.Count) return -XenErrno.EINVAL;
        if (!Virq.IsPerVcpu(virq) && vcpu != 0) return -XenErrno.EINVAL;
        if (vcpu >= (uint)VcpuCount(caller)) return -XenErrno.ENOENT;
        var t = caller.EventChannels;
        lock (caller.Hypervisor.EventLock)
        {
            if (t._virqPorts.Length == 0) t._virqPorts = new uint[VcpuCount(caller) * Virq.Count];
            int slot = (int)(vcpu * Virq.Count + virq);
            if (t._virqPorts[slot] != 0) return -XenErrno.EEXIST;
            int rc = t.AllocPortLocked(out port);
            if (rc != 0) return rc;
            var ch = t._ports[(int)port];
            ch.State = EventChannelState.Virq;
            ch.Virq = virq;
            ch.NotifyVcpu = vcpu;
            t._virqPorts[slot] = port;
            return 0;
        }
    }

    /// <summary>EVTCHNOP_bind_ipi: a port that, when sent on, notifies <paramref name="vcpu"/> of the caller itself.</summary>
    public static int BindIpi(Domain caller, uint vcpu, out uint port)
    {
        port = 0;
        if (vcpu >= (uint)VcpuCount(caller)) return -XenErrno.ENOENT;
        var t = caller.EventChannels;
        lock (caller.Hypervisor.EventLock)
        {
            int rc = t.AllocPortLocked(out port);
            if (rc != 0) return rc;
            var ch = t._ports[(int)port];
            ch.State = EventChannelState.Ipi;
            ch.NotifyVcpu = vcpu;
            return 0;
        }
    }

    /// <summary>
    /// EVTCHNOP_status: the state of <paramref name="port"/> in <paramref name="dom"/>. Another domain's ports are
    /// visible only to a privileged caller (-EPERM); a port beyond the allocated ones is -EINVAL.
    /// </summary>
    public static int Status(Domain caller, ushort dom, uint port, out EventChannelStatus status)
    {
        status = default;
        if (dom == DomId.Self) dom = caller.Id;
        var d = caller.Hypervisor.GetDomain(dom);
        if (d == null) return -XenErrno.ESRCH;
        lock (caller.Hypervisor.EventLock)
        {
            var t = d.EventChannels;
            if (port >= (uint)t._ports.Count) return -XenErrno.EINVAL;
            if (d != caller && !caller.IsPrivileged) return -XenErrno.EPERM;
            var ch = t._ports[(int)port];
            status = ch.State switch
            {
                EventChannelState.Unbound => new(ch.State, ch.NotifyVcpu, ch.RemoteDomain, 0, 0),
                EventChannelState.Interdomain => new(ch.State, ch.NotifyVcpu, ch.RemoteDomain, ch.RemotePort, 0),
                EventChannelState.Virq => new(ch.State, ch.NotifyVcpu, 0, 0, ch.Virq),
                _ => new(ch.State, ch.NotifyVcpu, 0, 0, 0),
            };
            return 0;
        }
    }

    /// <summary>
    /// EVTCHNOP_bind_vcpu: aim future notifications of <paramref name="port"/> at <paramref name="vcpu"/>. Allowed for
    /// unbound and interdomain ports and global VIRQs; per-vCPU VIRQs and IPIs stay where they are (-EINVAL).
    /// </summary>
    public static int BindVcpu(Domain caller, uint port, uint vcpu)
    {
        if (vcpu >= (uint)VcpuCount(caller)) return -XenErrno.ENOENT;
        var t = caller.EventChannels;
        lock (caller.Hypervisor.EventLock)
        {
            if (!t.IsValidLocked(port)) return -XenErrno.EINVAL;
            var ch = t._ports[(int)port];
            switch (ch.State)
            {
                case EventChannelState.Virq when !Virq.IsPerVcpu(ch.Virq):
                case EventChannelState.Unbound:
                case EventChannelState.Interdomain:
                    ch.NotifyVcpu = vcpu;
                    return 0;
                default:
                    return -XenErrno.EINVAL;
            }
        }
    }

    /// <summary>
    /// EVTCHNOP_unmask (evtchn_2l_unmask): clear the mask bit; if the port was masked and is pending, raise it on
    /// its vCPU now (selector bit, upcall pending, wake) so the event is not lost.
    /// </summary>
    public static int Unmask(Domain caller, uint port)
    {
        uint vcpu;
        lock (caller.Hypervisor.EventLock)
        {
            // port_is_valid: port 0 is valid (reserved, never bound) in Xen, so unmasking it succeeds.
            if (port != 0 && !caller.EventChannels.IsValidLocked(port)) return -XenErrno.EINVAL;
            vcpu = port == 0 ? 0 : caller.EventChannels._ports[(int)port].NotifyVcpu;
        }
        if (caller.IsManaged || caller.IsDying || caller.SharedInfoMfn == ulong.MaxValue) return 0;
        if (UnmaskBits(caller, port, vcpu) && vcpu < caller.Vcpus.Count) caller.Vcpus[(int)vcpu].Wake();
        return 0;
    }

    /// <summary>
    /// EVTCHNOP_reset: close every port of <paramref name="dom"/>. Another domain needs a privileged caller (-EPERM)
    /// and must be paused (-EINVAL), so its vCPUs cannot race the teardown.
    /// </summary>
    public static int Reset(Domain caller, ushort dom)
    {
        if (dom == DomId.Self) dom = caller.Id;
        var d = caller.Hypervisor.GetDomain(dom);
        if (d == null) return -XenErrno.ESRCH;
        if (d != caller && !caller.IsPrivileged) return -XenErrno.EPERM;
        if (d != caller && !d.IsPaused) return -XenErrno.EINVAL;
        d.EventChannels.CloseAll();
        return 0;
    }

    /// <summary>send_guest_vcpu_virq: raise a per-vCPU VIRQ (VIRQ_TIMER, VIRQ_DEBUG) on one vCPU if it is bound there.</summary>
    public static void SendVcpuVirq(Domain d, int vcpu, uint virq)
    {
        uint port;
        lock (d.Hypervisor.EventLock)
        {
            var ports = d.EventChannels._virqPorts;
            int slot = vcpu * Virq.Count + (int)virq;
            if (virq >= Virq.Count || vcpu < 0 || slot >= ports.Length) return;
            port = ports[slot];
        }
        if (port != 0) SetPending(d, port);
    }

    /// <summary>send_global_virq: raise a global VIRQ (VIRQ_DOM_EXC, VIRQ_CONSOLE) where the domain bound it on vCPU 0.</summary>
    public static void SendGlobalVirq(Domain d, uint virq)
    {
        if (Virq.IsPerVcpu(virq)) throw new ArgumentOutOfRangeException(nameof(virq), virq, "not a global VIRQ");
        SendVcpuVirq(d, 0, virq);
    }

    /// <summary>For managed domains: run <paramref name="handler"/> whenever <paramref name="port"/> is signalled.</summary>
    public void SetHandler(uint port, Action? handler)
    {
        if (!_domain.IsManaged) throw new InvalidOperationException("only managed domains take event handlers");
        lock (Lock)
        {
            if (!IsValidLocked(port)) throw new ArgumentOutOfRangeException(nameof(port), port, "no such port");
            _ports[(int)port].Handler = handler;
        }
    }

    public EventChannelState StateOf(uint port)
    {
        lock (Lock) return IsValidLocked(port) ? _ports[(int)port].State : EventChannelState.Closed;
    }

    public int OpenPorts
    {
        get { lock (Lock) return _ports.Count(p => p.State != EventChannelState.Closed); }
    }

    /// <summary>Mark a port pending and notify: shared_info bits and a vCPU wake-up for guests, the handler for managed domains.</summary>
    internal static void SetPending(Domain d, uint port)
    {
        Action? handler = null;
        uint vcpu;
        lock (d.Hypervisor.EventLock)
        {
            if (!d.EventChannels.IsValidLocked(port)) return;
            var ch = d.EventChannels._ports[(int)port];
            handler = ch.Handler;
            vcpu = ch.NotifyVcpu;
        }
        if (d.IsManaged)
        {
            handler?.Invoke();
            return;
        }
        if (d.IsDying || d.SharedInfoMfn == ulong.MaxValue) return;
        if (SetPendingBits(d, port, vcpu) && vcpu < d.Vcpus.Count) d.Vcpus[(int)vcpu].Wake();
        if (Volatile.Read(ref d.EventChannels._pollers) != 0) WakePollers(d, port);
    }

    /// <summary>
    /// evtchn_2l_set_pending: set the pending bit; if it was clear and the port is unmasked, set the selector bit
    /// and evtchn_upcall_pending of the notified vCPU. Returns whether the vCPU should be woken. The guest
    /// changes these words concurrently with lock-prefixed instructions, so every update here is atomic.
    /// </summary>
    private static unsafe bool SetPendingBits(Domain d, uint port, uint vcpu)
    {
        var mem = d.Hypervisor.Memory;
        byte* shared = mem.Base + (d.SharedInfoMfn << 12);
        int word = (int)(port / 64);
        long bit = 1L << (int)(port % 64);
        ref long pending = ref Unsafe.AsRef<long>(shared + SharedInfoLayout.EvtchnPending + word * 8);
        ref long mask = ref Unsafe.AsRef<long>(shared + SharedInfoLayout.EvtchnMask + word * 8);
        mem.NoteWrite(d.SharedInfoMfn);
        if ((Interlocked.Or(ref pending, bit) & bit) != 0) return false;
        if ((Volatile.Read(ref mask) & bit) != 0) return false;
        if (vcpu >= SharedInfoLayout.LegacyMaxVcpus) return false;
        return MarkSelector(d, word, vcpu);
    }

    private static unsafe bool UnmaskBits(Domain d, uint port, uint vcpu)
    {
        var mem = d.Hypervisor.Memory;
        byte* shared = mem.Base + (d.SharedInfoMfn << 12);
        int word = (int)(port / 64);
        long bit = 1L << (int)(port % 64);
        ref long pending = ref Unsafe.AsRef<long>(shared + SharedInfoLayout.EvtchnPending + word * 8);
        ref long mask = ref Unsafe.AsRef<long>(shared + SharedInfoLayout.EvtchnMask + word * 8);
        mem.NoteWrite(d.SharedInfoMfn);
        if ((Interlocked.And(ref mask, ~bit) & bit) == 0) return false;
        if ((Volatile.Read(ref pending) & bit) == 0) return false;
        if (vcpu >= SharedInfoLayout.LegacyMaxVcpus) return false;
        return MarkSelector(d, word, vcpu);
    }

    /// <summary>Set the selector bit of <paramref name="word"/> and, if it was clear, evtchn_upcall_pending.</summary>
    private static unsafe bool MarkSelector(Domain d, int word, uint vcpu)
    {
        byte* info = Vcpu.VcpuInfoPointer(d, (int)vcpu); // follows VCPUOP_register_vcpu_info
        if (info == null) return false;
        Vcpu.NoteVcpuInfoWrite(d, (int)vcpu);
        ref long sel = ref Unsafe.AsRef<long>(info + SharedInfoLayout.VcpuPendingSel);
        long selBit = 1L << word;
        if ((Interlocked.Or(ref sel, selBit) & selBit) != 0) return true;
        Volatile.Write(ref *(info + SharedInfoLayout.VcpuUpcallPending), (byte)1);
        return true;
    }

    /// <summary>
    /// SCHEDOP_poll, first half: validate <paramref name="ports"/> and register <paramref name="v"/> as polling them
    /// until system time <paramref name="deadline"/> (0: none). Returns 1 when a port is already pending (no need
    /// to sleep), 0 when registered, or -EINVAL for a port past the 2-level ABI's 4096. The caller then blocks with
    /// <see cref="PollPredicate"/>, which sending on any polled port (masked or not) satisfies.
    /// </summary>
    internal static int BeginPoll(Vcpu v, ReadOnlySpan<uint> ports, long deadline)
    {
        var d = v.Domain;
        var t = d.EventChannels;
        lock (d.Hypervisor.EventLock)
        {
            // Xen's do_poll bounds ports by the ABI's limit (d->max_evtchns: 4096 for 2-level), not by the domain's
            // max_evtchn_port: an unallocated port below it is simply never pending.
            foreach (var p in ports)
                if (p >= SharedInfoLayout.MaxEventChannels) return -XenErrno.EINVAL;
            foreach (var p in ports)
                if (IsPending(d, p)) return 1;
            if (t._polls.Length == 0) t._polls = new PollState?[Math.Max(1, d.Vcpus.Count)];
            var st = t._polls[v.Id] ??= new PollState { Satisfied = () => PollSatisfied(v) };
            ports.CopyTo(st.Ports);
            st.Count = ports.Length;
            st.Deadline = deadline;
            if (!st.Active) { st.Active = true; t._pollers++; }
            return 0;
        }
    }

    /// <summary>The allocation-free wake-up condition of a registered poll (checked under the vCPU's lock by Block).</summary>
    internal static Func<bool> PollPredicate(Vcpu v)
    {
        lock (v.Domain.Hypervisor.EventLock) return v.Domain.EventChannels._polls[v.Id]!.Satisfied;
    }

    /// <summary>Stop polling (woken, timed out, or the poll was abandoned).</summary>
    internal static void EndPoll(Vcpu v)
    {
        var t = v.Domain.EventChannels;
        lock (v.Domain.Hypervisor.EventLock)
        {
            if (v.Id < t._polls.Length && t._polls[v.Id] is { Active: true } st)
            {
                st.Active = false;
                t._pollers--;
            }
        }
    }

    private static bool PollSatisfied(Vcpu v)
    {
        var d = v.Domain;
        PollState st;
        lock (d.Hypervisor.EventLock) st = d.EventChannels._polls[v.Id]!;
        if (!st.Active) return true;
        if (st.Deadline != 0 && Time.SystemClock.Of(d.Hypervisor).Now() >= st.Deadline) { EndPoll(v); return true; }
        for (int i = 0; i < st.Count; i++)
            if (IsPending(d, st.Ports[i])) { EndPoll(v); return true; }
        return false;
    }

    /// <summary>Wake every vCPU polling <paramref name="port"/> (called after its pending bit was set).</summary>
    private static void WakePollers(Domain d, uint port)
    {
        var t = d.EventChannels;
        Span<int> wake = stackalloc int[SharedInfoLayout.LegacyMaxVcpus];
        int n = 0;
        lock (d.Hypervisor.EventLock)
        {
            if (t._pollers == 0) return;
            for (int i = 0; i < t._polls.Length && n < wake.Length; i++)
                if (t._polls[i] is { Active: true } st && Array.IndexOf(st.Ports, port, 0, st.Count) >= 0)
                {
                    st.Active = false;
                    t._pollers--;
                    wake[n++] = i;
                }
        }
        for (int i = 0; i < n; i++) d.Vcpus[wake[i]].Wake();
    }

    /// <summary>evtchn_port_is_pending: the port's bit in shared_info evtchn_pending.</summary>
    internal static unsafe bool IsPending(Domain d, uint port)
    {
        if (d.SharedInfoMfn == ulong.MaxValue || port >= SharedInfoLayout.MaxEventChannels) return false;
        byte* shared = d.Hypervisor.Memory.Base + (d.SharedInfoMfn << 12);
        long word = Volatile.Read(ref Unsafe.AsRef<long>(shared + SharedInfoLayout.EvtchnPending + (int)(port / 64) * 8));
        return (word & (1L << (int)(port % 64))) != 0;
    }

    /// <summary>Whether a vCPU has an event waiting for delivery (upcall pending), as SCHEDOP_block checks.</summary>
    internal static unsafe bool UpcallPending(Domain d, int vcpu)
    {
        byte* info = Vcpu.VcpuInfoPointer(d, vcpu);
        return info != null && Volatile.Read(ref *(info + SharedInfoLayout.VcpuUpcallPending)) != 0;
    }

    internal static unsafe bool UpcallsMasked(Domain d, int vcpu)
    {
        if (d.SharedInfoMfn == ulong.MaxValue || vcpu >= SharedInfoLayout.LegacyMaxVcpus) return true;
        byte* info = Vcpu.VcpuInfoPointer(d, vcpu);
        return info == null || Volatile.Read(ref *(info + SharedInfoLayout.VcpuUpcallMask)) != 0;
    }

    internal static unsafe void EnableEventDelivery(Domain d, int vcpu)
    {
        byte* info = Vcpu.VcpuInfoPointer(d, vcpu);
        if (info == null) return;
        Volatile.Write(ref *(info + SharedInfoLayout.VcpuUpcallMask), (byte)0);
        Vcpu.NoteVcpuInfoWrite(d, vcpu);
    }

    /// <summary>Close every port (domain destruction); peers see their channel go unbound.</summary>
    internal void CloseAll()
    {
        lock (Lock)
            for (uint p = 1; p < _ports.Count; p++)
                if (_ports[(int)p].State != EventChannelState.Closed) CloseLocked(p);
    }

    private int CloseLocked(uint port)
    {
        if (!IsValidLocked(port)) return -XenErrno.EINVAL;
        var ch = _ports[(int)port];
        if (ch.State == EventChannelState.Closed) return -XenErrno.EINVAL;
        if (ch.State == EventChannelState.Interdomain)
        {
            var rd = _domain.Hypervisor.GetDomain(ch.RemoteDomain);
            if (rd != null && rd.EventChannels.IsValidLocked(ch.RemotePort))
            {
                var rch = rd.EventChannels._ports[(int)ch.RemotePort];
                if (rch.State == EventChannelState.Interdomain && rch.RemoteDomain == _domain.Id && rch.RemotePort == port)
                {
                    rch.State = EventChannelState.Unbound;
                    rch.RemoteDomain = _domain.Id;
                    rch.RemotePort = 0;
                }
            }
        }
        if (ch.State == EventChannelState.Virq)
        {
            int slot = (int)(ch.NotifyVcpu * Virq.Count + ch.Virq);
            // A global VIRQ moved by bind_vcpu is still recorded on vCPU 0.
            if (!Virq.IsPerVcpu(ch.Virq)) slot = (int)ch.Virq;
            if (slot < _virqPorts.Length && _virqPorts[slot] == port) _virqPorts[slot] = 0;
        }
        // evtchn_free: a freed port keeps no pending event, or whatever binds it next would see a stale one.
        ClearPendingBit(_domain, port);
        ch.Reset();
        return 0;
    }

    private static unsafe void ClearPendingBit(Domain d, uint port)
    {
        if (d.IsManaged || d.SharedInfoMfn == ulong.MaxValue || port >= SharedInfoLayout.MaxEventChannels) return;
        byte* shared = d.Hypervisor.Memory.Base + (d.SharedInfoMfn << 12);
        ref long pending = ref Unsafe.AsRef<long>(shared + SharedInfoLayout.EvtchnPending + (int)(port / 64) * 8);
        Interlocked.And(ref pending, ~(1L << (int)(port % 64)));
        d.Hypervisor.Memory.NoteWrite(d.SharedInfoMfn);
    }

    private bool IsValidLocked(uint port) => port != 0 && port < (uint)_ports.Count;

    private int AllocPortLocked(out uint port)
    {
        // get_free_port: the lowest closed port, never one at or past the limit.
        for (int p = 1; p < _ports.Count; p++)
        {
            if (p >= _maxPorts) { port = 0; return -XenErrno.ENOSPC; }
            if (_ports[p].State == EventChannelState.Closed) { port = (uint)p; return 0; }
        }
        if (_ports.Count >= _maxPorts) { port = 0; return -XenErrno.ENOSPC; }
        _ports.Add(new EventChannel());
        port = (uint)(_ports.Count - 1);
        return 0;
    }
}
