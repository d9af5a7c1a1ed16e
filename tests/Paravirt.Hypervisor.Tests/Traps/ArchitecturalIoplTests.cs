using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>
/// VMASST_TYPE_architectural_iopl (Xen 4.7+): with the assist on, HYPERVISOR_iret takes the virtual IOPL from the
/// frame's RFLAGS.IOPL, and bounce frames report the virtual IOPL in the saved RFLAGS; without it iret leaves the
/// virtual IOPL (PHYSDEVOP_set_iopl's) alone and frames carry IOPL 0. Found by XTF's pv-iopl test ("vmassist").
/// </summary>
public class ArchitecturalIoplTests : TrapTestBase
{
    private const ulong Target = 0xFFFF_FFFF_8000_4444, Handler = 0xFFFF_FFFF_8000_5000;

    private void Iret(ulong rflags)
    {
        ulong f = Stack + 0x800;
        ulong[] words = [0, 0, 0, 0, Target, 0xe030, rflags, Stack + 0x900, 0xe02b];
        for (int i = 0; i < words.Length; i++) Put(f + (ulong)i * 8, words[i]);
        KernelContext(0xFFFF_FFFF_8000_100B, f);
        R.Rax = Hypercall.Iret;
        Hv.Hypercalls.Dispatch(V);
    }

    [TestCase(0u)]
    [TestCase(1u)]
    [TestCase(3u)]
    public void UnderTheAssistIretTakesTheVirtualIoplFromTheFrame(uint iopl)
    {
        V.Domain.SetVmAssist(VmAssistOp.TypeArchitecturalIopl, true);
        V.VirtualIopl = 2;
        Iret(VcpuRegisters.RflagsFixed | VcpuRegisters.RflagsIf | ((ulong)iopl << 12));
        Assert.That(CrashMessage, Is.Null);
        Assert.That(V.VirtualIopl, Is.EqualTo((int)iopl));
        Assert.That(R.Rflags & 0x3000, Is.Zero, "the real IOPL stays 0");
    }

    [Test]
    public void WithoutTheAssistIretLeavesTheVirtualIoplAlone()
    {
        V.VirtualIopl = 1;
        Iret(VcpuRegisters.RflagsFixed | VcpuRegisters.RflagsIf | 0x3000);
        Assert.That(CrashMessage, Is.Null);
        Assert.That(V.VirtualIopl, Is.EqualTo(1));
    }

    [TestCase(true, 0x3000UL)]
    [TestCase(false, 0UL)]
    public void ABounceFrameReportsTheVirtualIoplOnlyUnderTheAssist(bool assist, ulong expectedIopl)
    {
        V.Domain.SetVmAssist(VmAssistOp.TypeArchitecturalIopl, assist);
        V.VirtualIopl = 3;
        SetTrap(ExceptionVector.GeneralProtection, Handler);
        KernelContext(Target, Stack + 0x800);
        V.HandleGuestExit(new VcpuExit(VcpuExitReason.Exception, ExceptionVector.GeneralProtection, 0, true, 0));
        Assert.That(CrashMessage, Is.Null);
        Assert.That(R.Rip, Is.EqualTo(Handler));
        ulong savedRflags = Get<ulong>(R.Rsp + 5 * 8); // rcx, r11, error code, rip, cs, rflags
        Assert.That(savedRflags & 0x3000, Is.EqualTo(expectedIopl));
        Assert.That(R.Rflags & 0x3000, Is.Zero, "the real IOPL stays 0");
    }
}
