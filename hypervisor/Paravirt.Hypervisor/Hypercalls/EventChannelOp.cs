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
            case BindVirq: // { uint32_t virq @0; uint32_t vcpu @4; evtchn_port_t port @8 (OUT) }
            {
                if (!GuestMemory.Read(v, arg, out ulong raw)) return -XenErrno.EFAULT;
                int rc = EventChannelTable.BindVirq(d, (uint)raw, (uint)(raw >> 32), out uint port);
                if (rc != 0) return rc;
                if (!GuestMemory.Write(v, arg + 8, port)) { EventChannelTable.Close(d, port); return -XenErrno.EFAULT; }
                return 0;
            }
            case BindIpi: // { uint32_t vcpu @0; evtchn_port_t port @4 (OUT) }
            {
                if (!GuestMemory.Read(v, arg, out uint vcpu)) return -XenErrno.EFAULT;
                int rc = EventChannelTable.BindIpi(d, vcpu, out uint port);
                if (rc != 0) return rc;
                if (!GuestMemory.Write(v, arg + 4, port)) { EventChannelTable.Close(d, port); return -XenErrno.EFAULT; }
                return 0;
            }
            case Status:
            {
                // { domid_t dom @0; evtchn_port_t port @4; uint32_t status @8 (OUT); uint32_t vcpu @12 (OUT);
                //   union { unbound.dom; interdomain.dom @16, interdomain.port @20; pirq; virq @16 } (OUT) } — 24 bytes.
                if (!GuestMemory.Read(v, arg, out ulong raw)) return -XenErrno.EFAULT;
                int rc = EventChannelTable.Status(d, (ushort)raw, (uint)(raw >> 32), out var st);
                if (rc != 0) return rc;
                ulong u0 = st.State switch
                {
                    EventChannelState.Unbound => st.RemoteDomain,
                    EventChannelState.Interdomain => st.RemoteDomain | ((ulong)st.RemotePort << 32),
                    EventChannelState.Virq => st.Virq,
                    _ => 0,
                };
                if (!GuestMemory.Write(v, arg + 8, (uint)st.State | ((ulong)st.Vcpu << 32))) return -XenErrno.EFAULT;
                if (!GuestMemory.Write(v, arg + 16, u0)) return -XenErrno.EFAULT;
                return 0;
            }
            case BindVcpu: // { evtchn_port_t port @0; uint32_t vcpu @4 }
            {
                if (!GuestMemory.Read(v, arg, out ulong raw)) return -XenErrno.EFAULT;
                return EventChannelTable.BindVcpu(d, (uint)raw, (uint)(raw >> 32));
            }
            case Unmask: // { evtchn_port_t port; }
            {
                if (!GuestMemory.Read(v, arg, out uint port)) return -XenErrno.EFAULT;
                return EventChannelTable.Unmask(d, port);
            }
            case Reset: // { domid_t dom; }
            {
                if (!GuestMemory.Read(v, arg, out ushort dom)) return -XenErrno.EFAULT;
                return EventChannelTable.Reset(d, dom);
            }
            default:
                return -XenErrno.ENOSYS;
        }
    }
}
