using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_event_channel_op (xen/include/public/event_channel.h): copy the argument struct in, call the
/// typed operation on <see cref="EventChannelTable"/>, copy the result out.
/// </summary>
public static class EventChannelOp
{
    public const int BindInterdomain = 0, BindVirq = 1, BindPirq = 2, Close = 3, Send = 4, Status = 5,
        AllocUnbound = 6, BindIpi = 7, BindVcpu = 8, Unmask = 9, Reset = 10, InitControl = 11,
        ExpandArray = 12, SetPriority = 13;

    public static long Do(Vcpu v, ulong cmd, ulong arg)
    {
        var d = v.Domain;
        switch (cmd)
        {
            case Send: // struct evtchn_send { evtchn_port_t port; }
            {
                if (!GuestMemory.Read(v, arg, out uint port)) return -XenErrno.EFAULT;
                return EventChannelTable.Send(d, port);
            }
            case Close: // struct evtchn_close { evtchn_port_t port; }
            {
                if (!GuestMemory.Read(v, arg, out uint port)) return -XenErrno.EFAULT;
                return EventChannelTable.Close(d, port);
            }
            case AllocUnbound: // { domid_t dom @0; domid_t remote_dom @2; evtchn_port_t port @4 (OUT) }
            {
                if (!GuestMemory.Read(v, arg, out ulong raw)) return -XenErrno.EFAULT;
                int rc = EventChannelTable.AllocUnbound(d, (ushort)raw, (ushort)(raw >> 16), out uint port);
                if (rc != 0) return rc;
                if (!GuestMemory.Write(v, arg + 4, port)) { EventChannelTable.Close(d, port); return -XenErrno.EFAULT; }
                return 0;
            }
            case BindInterdomain: // { domid_t remote_dom @0; evtchn_port_t remote_port @4; evtchn_port_t local_port @8 (OUT) }
            {
                if (!GuestMemory.Read(v, arg, out ulong raw)) return -XenErrno.EFAULT;
                int rc = EventChannelTable.BindInterdomain(d, (ushort)raw, (uint)(raw >> 32), out uint local);
                if (rc != 0) return rc;
                if (!GuestMemory.Write(v, arg + 8, local)) { EventChannelTable.Close(d, local); return -XenErrno.EFAULT; }
                return 0;
            }
            default:
                return -XenErrno.ENOSYS;
        }
    }
}
