using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>HYPERVISOR_iret frame semantics (pv/iret.c).</summary>
public class IretTests : TrapTestBase
{
    private const ulong Target = 0xFFFF_FFFF_8000_4444;

    /// <summary>An iret_context at Stack + 0x800 as the hypercall page's iret stub leaves it, then the hypercall.</summary>
    private void Iret(ulong rip, ulong cs, ulong rflags, ulong rsp, ulong ss, ulong flags = 0, ulong rax = 0xA0, ulong r11 = 0xB0, ulong rcx = 0xC0)
    {
        ulong f = Stack + 0x800;
        ulong[] words = [rax, r11, rcx, flags, rip, cs, rflags, rsp, ss];
        for (int i = 0; i < words.Length; i++) Put(f + (ulong)i * 8, words[i]);
        KernelContext(0xFFFF_FFFF_8000_100B, f);
        R.Rax = Hypercall.Iret;
        R.Rcx = 0xDEAD;
        R.R11 = 0xBEEF;
        Hv.Hypercalls.Dispatch(V);
    }

    [Test]
    public void IretToKernelContextRestoresTheWholeFrame()
    {
        UpcallMask = 1;
        Iret(Target, 0xe030, VcpuRegisters.RflagsFixed | VcpuRegisters.RflagsIf | 0x3001, Stack + 0x900, 0xe028);
        Assert.That((R.Rip, R.Cs, R.Rsp, R.Ss), Is.EqualTo((Target, (ushort)0xe033, Stack + 0x900, (ushort)0xe02b)));
        Assert.That((R.Rax, R.R11, R.Rcx), Is.EqualTo((0xA0UL, 0xB0UL, 0xC0UL)));
        Assert.That(R.Rflags & 0x3000, Is.Zero, "IOPL dropped");
        Assert.That(R.Rflags & 1, Is.EqualTo(1UL));
        Assert.That(V.InKernelMode, Is.True);
        Assert.That(UpcallMask, Is.Zero, "mask = !RFLAGS.IF");
        Assert.That(CrashMessage, Is.Null);
    }

    [Test]
    public void IretWithIfClearMasksEvents()
    {
        UpcallMask = 0;
        Iret(Target, 0xe030, VcpuRegisters.RflagsFixed, Stack + 0x900, 0xe02b);
        Assert.That(UpcallMask, Is.EqualTo(1));
        Assert.That(R.Rflags & VcpuRegisters.RflagsIf, Is.Not.Zero, "the real IF stays on");
    }

    [Test]
    public void IretWithVgcfInSyscallLeavesRcxAndR11()
    {
        Iret(Target, 0xe030, VcpuRegisters.RflagsIf, Stack + 0x900, 0xe02b, flags: TrapAbi.VgcfInSyscall);
        Assert.That((R.Rcx, R.R11), Is.EqualTo((0xDEADUL, 0xBEEFUL)));
        Assert.That(R.Rax, Is.EqualTo(0xA0UL));
    }

    [Test]
    public void IretToRpl3SwitchesToUserModeAndItsPageTables()
    {
        AllowUserMode();
        R.GsBase = 0x1111;
        R.KernelGsBase = 0x2222;
        Iret(0x40_0000, X86_64.FlatUserCs64, VcpuRegisters.RflagsIf, 0x7FFF_F000, X86_64.FlatUserSs64);
        Assert.That(V.InKernelMode, Is.False);
        Assert.That((R.GsBase, R.KernelGsBase), Is.EqualTo((0x2222UL, 0x1111UL)));
        Assert.That(R.Cr3, Is.EqualTo(V.GuestTableUserMfn << 12));
        Assert.That(R.Rip, Is.EqualTo(0x40_0000UL));
    }

    [Test]
    public void IretToUserModeWithoutUserPageTablesCrashesTheDomain()
    {
        Iret(0x40_0000, X86_64.FlatUserCs64, VcpuRegisters.RflagsIf, 0x7FFF_F000, X86_64.FlatUserSs64);
        Assert.That(CrashMessage, Does.Contain("no user page tables"));
    }

    [Test]
    public void IretWithAnUnreadableFrameCrashesTheDomain()
    {
        KernelContext(0x1000, 0x30000);
        R.Rax = Hypercall.Iret;
        Hv.Hypercalls.Dispatch(V);
        Assert.That(CrashMessage, Does.Contain("HYPERVISOR_iret"));
    }

    [Test]
    public void IretToANonCanonicalRipEntersTheFailsafeCallbackWithTheSegments()
    {
        Assert.That(CallbackOp.Register(V, CallbackType.Failsafe, 0, 0xFFFF_FFFF_8000_FA00), Is.Zero);
        Iret(0x0000_8000_0000_0000, 0xe030, VcpuRegisters.RflagsIf, Stack + 0x900, 0xe02b);
        Assert.That(R.Rip, Is.EqualTo(0xFFFF_FFFF_8000_FA00UL));
        // RCX, R11, DS, ES, FS, GS, RIP, CS, RFLAGS, RSP, SS below Stack + 0x900.
        Assert.That(R.Rsp, Is.EqualTo(Stack + 0x900 - 88));
        Assert.That(Get<ulong>(R.Rsp + 48), Is.EqualTo(0x0000_8000_0000_0000UL));
        Assert.That(CrashMessage, Is.Null);
    }

    [Test]
    public void IretWithABadStackSelectorAndNoFailsafeCallbackCrashesTheDomain()
    {
        Iret(Target, 0xe030, VcpuRegisters.RflagsIf, Stack + 0x900, 0);
        Assert.That(CrashMessage, Does.Contain("failsafe"));
    }

    [Test]
    public void IretIsCountedAndNotReturnedToTheCaller()
    {
        Iret(Target, 0xe030, VcpuRegisters.RflagsIf, Stack + 0x900, 0xe02b);
        Assert.That(R.Rip, Is.EqualTo(Target), "not the caller's RCX");
        Assert.That(Hv.Hypercalls.CountOf(Hypercall.Iret), Is.EqualTo(1));
    }
}
