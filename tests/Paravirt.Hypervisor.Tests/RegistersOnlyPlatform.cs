using Paravirt.Cpu;

namespace Paravirt.Hypervisor.Tests;

/// <summary>Test double: vCPUs that hold registers but never run guest code (builder and hypercall tests).</summary>
internal sealed class RegistersOnlyPlatform : IPlatform
{
    public string Name => "registers-only";
    public IVcpu CreateVcpu(MachineMemory memory) => new Cpu();

    /// <summary>Also records what the hypervisor loads into the debug registers, and reports the DR6 status a test
    /// sets in <see cref="DebugStatus"/> (as a CPU does after a #DB).</summary>
    internal sealed class Cpu : IVcpu
    {
        private readonly ManualResetEventSlim _kick = new();
        public VcpuRegisters Registers { get; } = new();
        public VcpuExit Run() { _kick.Wait(); _kick.Reset(); return VcpuExit.Kicked; }
        public void Kick() => _kick.Set();
        public void FlushTlb() { }
        public void InvalidatePage(ulong linearAddress) { }
        public Func<uint, uint, (uint Eax, uint Ebx, uint Ecx, uint Edx)>? Cpuid { get; set; }
        public (ulong Dr0, ulong Dr1, ulong Dr2, ulong Dr3, ulong Dr7) LoadedDebugRegisters { get; private set; }
        public int DebugRegisterLoads { get; private set; }
        public void SetDebugRegisters(ulong dr0, ulong dr1, ulong dr2, ulong dr3, ulong dr7)
        {
            LoadedDebugRegisters = (dr0, dr1, dr2, dr3, dr7);
            DebugRegisterLoads++;
        }
        public ulong DebugStatus { get; set; }
        public void Dispose() => _kick.Dispose();
    }
}
