using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>Privileged-instruction emulation after #GP(0), forced-emulation CPUID after #UD, and the PV CPUID policy.</summary>
public class PrivilegedOpTests : TrapTestBase
{
    private const ulong GpHandler = 0xFFFF_FFFF_8000_0D00, UdHandler = 0xFFFF_FFFF_8000_0600;

    [SetUp]
    public void InstallHandlers()
    {
        SetTrap(ExceptionVector.GeneralProtection, GpHandler);
        SetTrap(ExceptionVector.InvalidOpcode, UdHandler);
    }

    /// <summary>Place <paramref name="code"/> at Page1 and raise the exit the CPU would give for it.</summary>
    private void Run(byte vector, params byte[] code)
    {
        Assert.That(GuestMemory.CopyTo(V, Page1, code), Is.True);
        KernelContext(Page1, Stack + 0x800);
        V.HandleGuestExit(new VcpuExit(VcpuExitReason.Exception, vector, 0, vector == ExceptionVector.GeneralProtection));
    }

    private void Gp(params byte[] code) => Run(ExceptionVector.GeneralProtection, code);

    private void AssertReflectedGp()
    {
        Assert.That(R.Rip, Is.EqualTo(GpHandler));
        Assert.That(Get<ulong>(R.Rsp + 24), Is.EqualTo(Page1), "#GP at the instruction");
    }

    [Test]
    public void RdmsrOfFsBaseIsEmulated()
    {
        R.FsBase = 0x1234_5678_9ABC;
        R.Rcx = 0xC000_0100;
        Gp(0x0F, 0x32);
        Assert.That((R.Rax, R.Rdx, R.Rip), Is.EqualTo((0x5678_9ABCUL, 0x1234UL, Page1 + 2)));
    }

    [Test]
    public void WrmsrOfTheShadowGsBaseIsEmulated()
    {
        R.Rcx = 0xC000_0102;
        R.Rax = 0x5000;
        R.Rdx = 0x7FFF;
        Gp(0x0F, 0x30);
        Assert.That(R.KernelGsBase, Is.EqualTo(0x7FFF_0000_5000UL));
        Assert.That(R.Rip, Is.EqualTo(Page1 + 2));
    }

    [Test]
    public void WrmsrOfANonCanonicalBaseIsReflectedAsGp()
    {
        R.Rcx = 0xC000_0100;
        R.Rax = 0;
        R.Rdx = 0x8000;
        Gp(0x0F, 0x30);
        AssertReflectedGp();
        Assert.That(R.FsBase, Is.Zero);
    }

    [TestCase(0x1BU)]      // APIC base
    [TestCase(0x3AU)]      // feature control
    [TestCase(0xC000_0082U)] // LSTAR
    public void RdmsrOfAnMsrPvGuestsCannotSeeIsReflectedAsGp(uint msr)
    {
        R.Rcx = msr;
        Gp(0x0F, 0x32);
        AssertReflectedGp();
    }

    [Test]
    public void RdmsrInGuestUserModeIsReflectedAsGp()
    {
        AllowUserMode();
        V.InKernelMode = false;
        V.KernelStackPointer = Stack + 0x1000;
        R.Rcx = 0xC000_0100;
        Assert.That(GuestMemory.CopyTo(V, Page1, new byte[] { 0x0F, 0x32 }), Is.True);
        R.Rip = Page1;
        R.Cs = X86_64.FlatUserCs64;
        V.HandleGuestExit(new VcpuExit(VcpuExitReason.Exception, ExceptionVector.GeneralProtection, 0, true));
        Assert.That(R.Rip, Is.EqualTo(GpHandler));
        Assert.That(V.InKernelMode, Is.True);
    }

    [Test]
    public void EferReadsAsLongModeWithSyscallAndNx()
    {
        R.Rcx = 0xC000_0080;
        Gp(0x0F, 0x32);
        Assert.That(R.Rax, Is.EqualTo(0xD01UL));
    }

    [Test]
    public void MovFromCr0ShowsTsFromFpuTaskswitchState()
    {
        Gp(0x0F, 0x20, 0xC0); // mov rax, cr0
        Assert.That(R.Rax, Is.EqualTo(0x8005_0033UL));
        Assert.That(R.Rip, Is.EqualTo(Page1 + 3));
    }

    [Test]
    public void MovToCr0ThatChangesMoreThanTsIsReflectedAsGp()
    {
        R.Rax = 0x8005_0033 & ~1UL; // clears PE
        Gp(0x0F, 0x22, 0xC0);
        AssertReflectedGp();
    }

    [Test]
    public void MovFromCr2ReadsTheLastDeliveredFaultAddress()
    {
        SetTrap(ExceptionVector.PageFault, 0xFFFF_FFFF_8000_0E00);
        KernelContext(Page1, Stack + 0x800);
        V.HandleGuestExit(new VcpuExit(VcpuExitReason.Exception, ExceptionVector.PageFault, 2, true, 0xCAFE_0000));
        Gp(0x0F, 0x20, 0xD3); // mov rbx, cr2
        Assert.That(R.Rbx, Is.EqualTo(0xCAFE_0000UL));
    }

    [Test]
    public void MovFromDr7ReadsTheDebugRegister()
    {
        Gp(0x0F, 0x21, 0xF9); // mov rcx, dr7
        Assert.That(R.Rcx, Is.EqualTo(TrapAbi.Dr7Default));
    }

    [Test]
    public void CliAndStiWithoutVirtualIoplAreReflectedAsGp()
    {
        UpcallMask = 0;
        Gp(0xFA);
        AssertReflectedGp();
        Assert.That(UpcallMask, Is.Zero);
    }

    [Test]
    public void WithIoplOneCliAndStiAreSkippedAndLeaveTheEventMaskAlone()
    {
        Assert.That(Hypercalls.PhysdevOp.SetIoplOf(V, 1), Is.Zero);
        UpcallMask = 0;
        Gp(0xFA);
        Assert.That((R.Rip, UpcallMask), Is.EqualTo((Page1 + 1, (byte)0)));
        UpcallMask = 1;
        Gp(0xFB);
        Assert.That((R.Rip, UpcallMask), Is.EqualTo((Page1 + 1, (byte)1)));
    }

    [Test]
    public void InGuestUserModeCliNeedsIoplThree()
    {
        Assert.That(Hypercalls.PhysdevOp.SetIoplOf(V, 1), Is.Zero);
        AllowUserMode();
        V.ToggleGuestMode();
        Gp(0xFA);
        Assert.That(R.Rip, Is.EqualTo(GpHandler));
        Assert.That(Hypercalls.PhysdevOp.SetIoplOf(V, 3), Is.Zero);
        V.ToggleGuestMode();
        Gp(0xFA);
        Assert.That(R.Rip, Is.EqualTo(Page1 + 1));
    }

    [Test]
    public void WbinvdIsANoOpForADomU()
    {
        Gp(0x0F, 0x09);
        Assert.That(R.Rip, Is.EqualTo(Page1 + 2));
    }

    [TestCase(new byte[] { 0xEC })]             // in al, dx
    [TestCase(new byte[] { 0xE6, 0x80 })]       // out 0x80, al
    [TestCase(new byte[] { 0x0F, 0x01, 0x10 })] // lgdt [rax]
    [TestCase(new byte[] { 0xF4 })]             // hlt
    public void OtherPrivilegedInstructionsAreReflectedAsGp(byte[] code)
    {
        Gp(code);
        AssertReflectedGp();
    }

    [Test]
    public void MovToCr3OfAFrameThatIsNotAValidL4IsReflectedAsGp()
    {
        R.Rax = MachineAddressOf(StackPfn + 1); // an ordinary, writable-mapped page
        ulong cr3 = R.Cr3;
        Gp(0x0F, 0x22, 0xD8); // mov cr3, rax
        AssertReflectedGp();
        Assert.That(R.Cr3, Is.EqualTo(cr3));
    }

    [Test]
    public void MovFromCr3ReadsTheKernelBase()
    {
        Gp(0x0F, 0x20, 0xD8); // mov rax, cr3
        Assert.That(R.Rax, Is.EqualTo(V.GuestTableMfn != 0 ? V.GuestTableMfn << 12 : R.Cr3));
        Assert.That(R.Rip, Is.EqualTo(Page1 + 3));
    }

    [Test]
    public void AGpWithAnErrorCodeIsNeverEmulated()
    {
        Assert.That(GuestMemory.CopyTo(V, Page1, new byte[] { 0xFA }), Is.True);
        KernelContext(Page1, Stack + 0x800);
        UpcallMask = 0;
        V.HandleGuestExit(new VcpuExit(VcpuExitReason.Exception, ExceptionVector.GeneralProtection, 0x10, true));
        Assert.That(R.Rip, Is.EqualTo(GpHandler));
        Assert.That(UpcallMask, Is.Zero);
    }

    [Test]
    public void TheForcedEmulationPrefixRunsCpuidWithThePvPolicy()
    {
        R.Rax = 0x4000_0000;
        R.Rcx = 0;
        Run(ExceptionVector.InvalidOpcode, 0x0F, 0x0B, (byte)'x', (byte)'e', (byte)'n', 0x0F, 0xA2);
        Assert.That(R.Rip, Is.EqualTo(Page1 + 7));
        Assert.That(((uint)R.Rbx, (uint)R.Rcx, (uint)R.Rdx), Is.EqualTo((0x566e6558u, 0x65584d4du, 0x4d4d566eu)), "XenVMMXenVMM");
        Assert.That(R.Rax, Is.EqualTo((ulong)PvCpuidPolicy.XenMaxLeaf));
    }

    [Test]
    public void AForcedEmulationPrefixNotFollowedByCpuidIsAnInvalidOpcode()
    {
        Run(ExceptionVector.InvalidOpcode, 0x0F, 0x0B, (byte)'x', (byte)'e', (byte)'n', 0x90, 0x90);
        Assert.That(R.Rip, Is.EqualTo(UdHandler));
    }

    [Test]
    public void APlainUd2IsDeliveredAsInvalidOpcode()
    {
        Run(ExceptionVector.InvalidOpcode, 0x0F, 0x0B, 0x90, 0x90, 0x90, 0x90, 0x90);
        Assert.That(R.Rip, Is.EqualTo(UdHandler));
        Assert.That(Get<ulong>(R.Rsp + 16), Is.EqualTo(Page1));
    }

    [Test]
    public void SingleSteppingOverAnEmulatedInstructionRaisesDebugAfterIt()
    {
        SetTrap(ExceptionVector.Debug, 0xFFFF_FFFF_8000_0100);
        Assert.That(GuestMemory.CopyTo(V, Page1, new byte[] { 0x0F, 0x09 }), Is.True);
        KernelContext(Page1, Stack + 0x800);
        R.Rflags |= 1UL << 8;
        V.HandleGuestExit(new VcpuExit(VcpuExitReason.Exception, ExceptionVector.GeneralProtection, 0, true));
        Assert.That(R.Rip, Is.EqualTo(0xFFFF_FFFF_8000_0100UL));
        Assert.That(Get<ulong>(R.Rsp + 16), Is.EqualTo(Page1 + 2));
    }

    // ---- the policy itself ----

    [Test]
    public void CpuidHidesVirtualisationAndShowsTheHypervisorBit()
    {
        var cpuid = V.Cpu.Cpuid!;
        var (_, _, ecx, edx) = cpuid(1, 0);
        Assert.That(ecx & (1u << 31), Is.Not.Zero, "HYPERVISOR");
        Assert.That(ecx & (1u << 5), Is.Zero, "VMX");
        Assert.That(edx & (1u << 9), Is.Zero, "APIC");
        Assert.That(cpuid(0x8000_0001, 0).Ecx & (1u << 2), Is.Zero, "SVM");
        Assert.That(cpuid(0x8000_0001, 0).Edx & (1u << 29), Is.Not.Zero, "LM");
    }

    [Test]
    public void XenLeavesReportVersionAndHypercallPage()
    {
        var cpuid = V.Cpu.Cpuid!;
        Assert.That(cpuid(0x4000_0001, 0).Eax, Is.EqualTo((4u << 16) | 19));
        Assert.That(cpuid(0x4000_0002, 0), Is.EqualTo((1u, 0x4000_0000u, 1u, 0u)));
        Assert.That(cpuid(0x4000_0003, 2).Eax, Is.GreaterThan(0u), "TSC kHz");
    }
}
