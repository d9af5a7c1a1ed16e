using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Boot;

namespace Paravirt.Hypervisor.Tests;

/// <summary>The guest SDK's real kernels go through the loader and builder.</summary>
public class SdkKernelTests
{
    private static string Kernel(string relative)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Paravirt.sln"))) dir = dir.Parent;
        return Path.Combine(dir!.FullName, "guest-sdk", "build", relative);
    }

    [TestCase("examples/hello")]
    [TestCase("tests/spin")]
    [TestCase("tests/crash")]
    [TestCase("tests/version")]
    public void TheSdkKernelLoadsAtTheLinuxStyleBase(string kernel)
    {
        var k = KernelImage.Load(Kernel(kernel));
        Assert.That(k.VirtBase, Is.EqualTo(0xffffffff80000000));
        Assert.That(k.VirtKernelStart, Is.EqualTo(0xffffffff80000000));
        Assert.That(k.VirtHypercallPage, Is.EqualTo(0xffffffff80001000));
        Assert.That(k.VirtEntry, Is.InRange(k.VirtKernelStart, k.VirtKernelEnd));
    }

    [Test]
    public void HelloBuildsIntoADomainWithItsEntryMapped()
    {
        using var f = new HypervisorFixture();
        var d = f.Hv.CreateDomain("hello", Guid.NewGuid(), 8192, 1);
        DomainBuilder.Build(f.Memory, d, new PvBuildRequest(KernelImage.Load(Kernel("examples/hello")), null, "", 1, 2));
        var regs = d.Vcpus[0].Registers;
        Assert.That(PageTableWalker.Translate(f.Memory, regs.Cr3, regs.Rip, false, true, true, out _), Is.Zero);
    }
}
