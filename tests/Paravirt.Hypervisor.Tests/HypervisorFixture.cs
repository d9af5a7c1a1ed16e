using Paravirt.Cpu;
using Paravirt.Hypervisor.Boot;

namespace Paravirt.Hypervisor.Tests;

/// <summary>A hypervisor over 64 MiB of machine memory with registers-only vCPUs.</summary>
internal sealed class HypervisorFixture : IDisposable
{
    public HypervisorFixture(ulong frames = 32768)
    {
        Memory = new MachineMemory(frames);
        Hv = new Hypervisor(Memory, new RegistersOnlyPlatform());
    }

    public MachineMemory Memory { get; }
    public Hypervisor Hv { get; }

    public (Domain Domain, PvBuildResult Result) Build(TestElf? elf = null, ulong pages = 8192, string cmdline = "console=hvc0")
    {
        var d = Hv.CreateDomain("guest", Guid.NewGuid(), pages, 1);
        var k = KernelImage.Parse((elf ?? new TestElf()).Build(), "k");
        var r = DomainBuilder.Build(Memory, d, new PvBuildRequest(k, null, cmdline, 1, 2));
        return (d, r);
    }

    public void Dispose()
    {
        Hv.Dispose();
        Memory.Dispose();
    }
}
