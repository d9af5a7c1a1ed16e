namespace Paravirt.Hypervisor;

/// <summary>Per-domain PV ABI switches: the VM assists the guest turned on (d->vm_assist).</summary>
public sealed partial class Domain
{
    private long _vmAssist;

    /// <summary>d->vm_assist: bit n set = VMASST_TYPE n enabled (HYPERVISOR_vm_assist).</summary>
    public ulong VmAssist => (ulong)Interlocked.Read(ref _vmAssist);

    internal bool HasVmAssist(int type) => (VmAssist & (1UL << type)) != 0;

    internal void SetVmAssist(int type, bool on)
    {
        if (on) Interlocked.Or(ref _vmAssist, 1L << type);
        else Interlocked.And(ref _vmAssist, ~(1L << type));
    }
}
