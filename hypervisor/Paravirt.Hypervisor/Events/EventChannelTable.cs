using System.Runtime.CompilerServices;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Events;

/// <summary>EVTCHNSTAT_* of event_channel.h: the state of one port.</summary>
public enum EventChannelState
{
    Closed = 0, Unbound = 1, Interdomain = 2, Pirq = 3, Virq = 4, Ipi = 5,
}

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

    internal EventChannelTable(Domain domain) => _domain = domain;

    public int MaxPorts { get; internal set; } = DefaultMaxPorts;

    private Lock Lock => _domain.Hypervisor.EventLock;

    /// <summary>EVTCHNOP_alloc_unbound: a port in <paramref name="dom"/> that <paramref name="remoteDom"/> may bind.</summary>
    public static int AllocUnbound(Domain caller, ushort dom, ushort remoteDom, out uint port)
    {
        port = 0;
        var hv = caller.Hypervisor;
        if (dom == DomId.Self) dom = caller.Id;
        if (remoteDom == DomId.Self) remoteDom = caller.Id;
        if (dom != caller.Id && !caller.IsPrivileged) return -XenErrno.EPERM;
        var d = hv.GetDomain(dom);
        if (d == null || d.IsDying) return -XenErrno.ESRCH;
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
        byte* info = shared + SharedInfoLayout.VcpuInfo((int)vcpu);
        ref long sel = ref Unsafe.AsRef<long>(info + SharedInfoLayout.VcpuPendingSel);
        long selBit = 1L << word;
        if ((Interlocked.Or(ref sel, selBit) & selBit) != 0) return true;
        Volatile.Write(ref *(info + SharedInfoLayout.VcpuUpcallPending), (byte)1);
        return true;
    }

    /// <summary>Whether a vCPU has an event waiting for delivery (upcall pending), as SCHEDOP_block checks.</summary>
    internal static unsafe bool UpcallPending(Domain d, int vcpu)
    {
        byte* info = d.Hypervisor.Memory.Base + (d.SharedInfoMfn << 12) + SharedInfoLayout.VcpuInfo(vcpu);
        return Volatile.Read(ref *(info + SharedInfoLayout.VcpuUpcallPending)) != 0;
    }

    internal static unsafe void EnableEventDelivery(Domain d, int vcpu)
    {
        byte* info = d.Hypervisor.Memory.Base + (d.SharedInfoMfn << 12) + SharedInfoLayout.VcpuInfo(vcpu);
        Volatile.Write(ref *(info + SharedInfoLayout.VcpuUpcallMask), (byte)0);
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
        ch.Reset();
        return 0;
    }

    private bool IsValidLocked(uint port) => port != 0 && port < (uint)_ports.Count;

    private int AllocPortLocked(out uint port)
    {
        for (int p = 1; p < _ports.Count; p++)
            if (_ports[p].State == EventChannelState.Closed) { port = (uint)p; return 0; }
        if (_ports.Count >= MaxPorts) { port = 0; return -XenErrno.ENOSPC; }
        _ports.Add(new EventChannel());
        port = (uint)(_ports.Count - 1);
        return 0;
    }
}
