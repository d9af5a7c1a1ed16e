namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>HYPERVISOR_fpu_taskswitch(int set) (do_fpu_taskswitch).</summary>
public static class FpuOp
{
    /// <summary>Set or clear the guest's CR0.TS: with it set, the next x87/SSE instruction traps #NM to the guest
    /// (and delivering that #NM clears it again). Always 0.</summary>
    public static long Do(Vcpu v, ulong set)
    {
        v.Cpu.TaskSwitched = (int)set != 0;
        return 0;
    }
}
