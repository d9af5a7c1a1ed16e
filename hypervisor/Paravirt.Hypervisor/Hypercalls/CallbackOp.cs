using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Traps;
using Paravirt.Cpu;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_callback_op(cmd, arg), HYPERVISOR_set_callbacks(event, failsafe, syscall) and HYPERVISOR_nmi_op
/// (xen/include/public/callback.h, nmi.h; xen/arch/x86/pv/callback.c).
/// </summary>
public static class CallbackOp
{
    public const int NmiRegisterCallback = 0, NmiUnregisterCallback = 1;

    // struct callback_register { uint16_t type @0; uint16_t flags @2; xen_callback_t address @8; } (16 bytes)
    // struct callback_unregister { uint16_t type @0; uint16_t _unused @2; } (4 bytes)
    public static long Do(Vcpu v, ulong cmd, ulong arg)
    {
        switch (cmd)
        {
            case CallbackType.OpRegister:
            {
                if (!GuestMemory.Read(v, arg, out uint head) || !GuestMemory.Read(v, arg + 8, out ulong address))
                    return -XenErrno.EFAULT;
                return Register(v, (ushort)head, (ushort)(head >> 16), address);
            }
            case CallbackType.OpUnregister:
            {
                if (!GuestMemory.Read(v, arg, out uint head)) return -XenErrno.EFAULT;
                return Unregister(v, (ushort)head);
            }
            default:
                return -XenErrno.ENOSYS;
        }
    }

    /// <summary>register_guest_callback: -EINVAL for a non-canonical address, -ENOSYS for an unknown type.</summary>
    public static int Register(Vcpu v, ushort type, ushort flags, ulong address)
    {
        if (!PrivilegedOpEmulator.IsCanonical(address)) return -XenErrno.EINVAL;
        bool mask = (flags & CallbackType.FlagMaskEvents) != 0;
        switch (type)
        {
            case CallbackType.Event:
                v.EventCallback = address;
                return 0;
            case CallbackType.Failsafe:
                v.FailsafeCallback = address;
                v.FailsafeDisablesEvents = mask;
                return 0;
            case CallbackType.Syscall:
                v.SyscallCallback = address;
                v.SyscallDisablesEvents = mask;
                return 0;
            case CallbackType.Syscall32:
                v.Syscall32Callback = address;
                v.Syscall32DisablesEvents = mask;
                return 0;
            case CallbackType.Sysenter:
                v.SysenterCallback = address;
                v.SysenterDisablesEvents = mask;
                return 0;
            case CallbackType.Nmi:
                return RegisterNmi(v, address);
            default:
                return -XenErrno.ENOSYS;
        }
    }

    /// <summary>unregister_guest_callback: only the NMI callback can be removed (-EINVAL for the others).</summary>
    public static int Unregister(Vcpu v, ushort type)
    {
        switch (type)
        {
            case CallbackType.Event: case CallbackType.Failsafe: case CallbackType.Syscall:
            case CallbackType.Syscall32: case CallbackType.Sysenter:
                return -XenErrno.EINVAL;
            case CallbackType.Nmi:
                v.TrapTable[ExceptionVector.Nmi] = default;
                return 0;
            default:
                return -XenErrno.ENOSYS;
        }
    }

    /// <summary>The NMI callback is trap-table entry 2, entered with events masked.</summary>
    private static int RegisterNmi(Vcpu v, ulong address)
    {
        if (!PrivilegedOpEmulator.IsCanonical(address)) return -XenErrno.EINVAL;
        v.TrapTable[ExceptionVector.Nmi] = new TrapInfo
        {
            Vector = ExceptionVector.Nmi, Flags = TrapAbi.TiIf, Cs = X86_64.FlatKernelCs64, Address = address,
        };
        return 0;
    }

    /// <summary>do_set_callbacks: registers all three, ignoring individual failures; always 0.</summary>
    public static long SetCallbacks(Vcpu v, ulong eventAddress, ulong failsafeAddress, ulong syscallAddress)
    {
        Register(v, CallbackType.Event, 0, eventAddress);
        Register(v, CallbackType.Failsafe, 0, failsafeAddress);
        Register(v, CallbackType.Syscall, 0, syscallAddress);
        return 0;
    }

    /// <summary>HYPERVISOR_nmi_op: struct xennmi_callback { unsigned long handler_address; unsigned long pad; }.</summary>
    public static long NmiOp(Vcpu v, ulong cmd, ulong arg)
    {
        switch (cmd)
        {
            case NmiRegisterCallback:
                // copy_from_guest of the whole struct: both words must be readable.
                if (!GuestMemory.Read(v, arg, out ulong handler) || !GuestMemory.Read(v, arg + 8, out ulong _)) return -XenErrno.EFAULT;
                return RegisterNmi(v, handler);
            case NmiUnregisterCallback:
                v.TrapTable[ExceptionVector.Nmi] = default;
                return 0;
            default:
                return -XenErrno.ENOSYS;
        }
    }
}
