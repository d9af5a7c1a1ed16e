using Paravirt.Cpu;

namespace Paravirt.Hypervisor.Tests;

/// <summary>Test double: vCPUs that hold registers but never run guest code (builder and hypercall tests).</summary>
internal sealed class RegistersOnlyPlatform : IPlatform
{
    public string Name => "registers-only";
    public IVcpu CreateVcpu(MachineMemory memory) => new Cpu();

    private sealed class Cpu : IVcpu
    {
        private readonly ManualResetEventSlim _kick = new();
        public VcpuRegisters Registers { get; } = new();
        public VcpuExit Run() { _kick.Wait(); _kick.Reset(); return VcpuExit.Kicked; }
        public void Kick() => _kick.Set();
        public void FlushTlb() { }
        public void InvalidatePage(ulong linearAddress) { }
        public Func<uint, uint, (uint Eax, uint Ebx, uint Ecx, uint Edx)>? Cpuid { get; set; }
        public void Dispose() => _kick.Dispose();
    }
}
