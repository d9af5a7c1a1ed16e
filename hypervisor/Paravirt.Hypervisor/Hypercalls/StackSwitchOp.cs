namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>HYPERVISOR_stack_switch(ss, sp) (do_stack_switch): where bounce frames from user mode go.</summary>
public static class StackSwitchOp
{
    /// <summary>Records kernel_ss (RPL raised to 3, fixup_guest_stack_selector) and kernel_sp; never fails.</summary>
    public static long Do(Vcpu v, ulong ss, ulong sp)
    {
        ushort sel = (ushort)ss;
        if ((sel & 3) < 3) sel = (ushort)((sel & ~3) | 3);
        v.KernelStackSegment = sel;
        v.KernelStackPointer = sp;
        return 0;
    }
}
