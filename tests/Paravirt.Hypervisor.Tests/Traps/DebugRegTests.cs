using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>set_debugreg / get_debugreg.</summary>
public class DebugRegTests : TrapTestBase
{
    [Test]
    public void DebugRegistersStartAtTheirResetValues()
    {
        Assert.That(Call(Hypercall.GetDebugreg, 6), Is.EqualTo((long)TrapAbi.Dr6Default));
        Assert.That(Call(Hypercall.GetDebugreg, 7), Is.EqualTo((long)TrapAbi.Dr7Default));
        Assert.That(Call(Hypercall.GetDebugreg, 0), Is.Zero);
    }

    [Test]
    public void AnAddressRegisterTakesAGuestAddress()
    {
        Assert.That(Call(Hypercall.SetDebugreg, 2, 0xFFFF_FFFF_8000_1000), Is.Zero);
        Assert.That(Call(Hypercall.GetDebugreg, 2), Is.EqualTo(unchecked((long)0xFFFF_FFFF_8000_1000)));
    }

    [TestCase(0xFFFF_8000_0000_1000UL)]
    [TestCase(0x0000_8000_0000_0000UL)]
    public void AnAddressRegisterRefusesXensRangeAndNonCanonicalAddressesWithEPERM(ulong address)
    {
        Assert.That(Call(Hypercall.SetDebugreg, 1, address), Is.EqualTo(-XenErrno.EPERM));
        Assert.That(Call(Hypercall.GetDebugreg, 1), Is.Zero);
    }

    [Test]
    public void Dr6AndDr7KeepTheirReservedBits()
    {
        Assert.That(Call(Hypercall.SetDebugreg, 6, 0), Is.Zero);
        Assert.That(Call(Hypercall.GetDebugreg, 6), Is.EqualTo(0xFFFF_0FF0L));
        Assert.That(Call(Hypercall.SetDebugreg, 7, 0xFFFF_FFFF_0000_0001UL), Is.Zero);
        Assert.That(Call(Hypercall.GetDebugreg, 7), Is.EqualTo(0x401L));
    }

    [Test]
    public void Dr7GeneralDetectIsEPERM() =>
        Assert.That(Call(Hypercall.SetDebugreg, 7, 1UL << 13), Is.EqualTo(-XenErrno.EPERM));

    [Test]
    public void AnIoBreakpointWithoutCr4DeIsEPERM() =>
        Assert.That(Call(Hypercall.SetDebugreg, 7, 0x1 | (2UL << 16)), Is.EqualTo(-XenErrno.EPERM));

    [TestCase(4)]
    [TestCase(5)]
    [TestCase(8)]
    [TestCase(-1)]
    public void OtherRegistersAreEINVALToSet(int reg) =>
        Assert.That(Call(Hypercall.SetDebugreg, unchecked((ulong)reg), 0), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void Dr4AndDr5ReadAsDr6AndDr7WithoutCr4De()
    {
        Assert.That(Call(Hypercall.GetDebugreg, 4), Is.EqualTo((long)TrapAbi.Dr6Default));
        Assert.That(Call(Hypercall.GetDebugreg, 5), Is.EqualTo((long)TrapAbi.Dr7Default));
        Assert.That(Call(Hypercall.GetDebugreg, 8), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void ASingleStepTrapSetsDr6BsForTheGuestToRead()
    {
        SetTrap(Paravirt.Cpu.ExceptionVector.Debug, 0xFFFF_FFFF_8000_0100);
        KernelContext(Page1, Stack + 0x800);
        R.Rflags |= Rflags.TF;
        V.HandleGuestExit(new Paravirt.Cpu.VcpuExit(Paravirt.Cpu.VcpuExitReason.Exception, Paravirt.Cpu.ExceptionVector.Debug));
        Assert.That(R.Rip, Is.EqualTo(0xFFFF_FFFF_8000_0100UL));
        Assert.That(Call(Hypercall.GetDebugreg, 6) & (1L << 14), Is.Not.Zero);
    }

    [Test]
    public void AnIcebpTrapClearsStaleBreakpointBitsAndKeepsTheRest()
    {
        // x86_merge_dr6 with nothing pending: B0-B3 are overwritten (with zeros), BS stays.
        SetTrap(Paravirt.Cpu.ExceptionVector.Debug, 0xFFFF_FFFF_8000_0100);
        Assert.That(Call(Hypercall.SetDebugreg, 6, TrapAbi.Dr6Default | 0b0010 | (1UL << 14)), Is.Zero);
        KernelContext(Page1, Stack + 0x800);
        V.HandleGuestExit(new Paravirt.Cpu.VcpuExit(Paravirt.Cpu.VcpuExitReason.Exception, Paravirt.Cpu.ExceptionVector.Debug));
        Assert.That(R.Rip, Is.EqualTo(0xFFFF_FFFF_8000_0100UL));
        Assert.That(Call(Hypercall.GetDebugreg, 6), Is.EqualTo((long)(TrapAbi.Dr6Default | (1UL << 14))));
    }

    private RegistersOnlyPlatform.Cpu Cpu => (RegistersOnlyPlatform.Cpu)V.Cpu;

    [Test]
    public void SetDebugregHandsTheAddressAndControlRegistersToTheCpu()
    {
        Assert.That(Call(Hypercall.SetDebugreg, 0, Page1 + 2), Is.Zero);
        Assert.That(Call(Hypercall.SetDebugreg, 3, Page2), Is.Zero);
        Assert.That(Call(Hypercall.SetDebugreg, 7, 1 | (1UL << 7) | (1UL << 16)), Is.Zero);
        Assert.That(Cpu.LoadedDebugRegisters, Is.EqualTo((Page1 + 2, 0UL, 0UL, Page2, TrapAbi.Dr7Default | 1 | (1UL << 7) | (1UL << 16))));
    }

    [Test]
    public void ARefusedSetDebugregLeavesTheCpuAsItWas()
    {
        Assert.That(Call(Hypercall.SetDebugreg, 7, 1), Is.Zero);
        int loads = Cpu.DebugRegisterLoads;
        Assert.That(Call(Hypercall.SetDebugreg, 1, 0xFFFF_8000_0000_1000UL), Is.EqualTo(-XenErrno.EPERM));
        Assert.That(Call(Hypercall.SetDebugreg, 7, 1UL << 13), Is.EqualTo(-XenErrno.EPERM));
        Assert.That(Cpu.DebugRegisterLoads, Is.EqualTo(loads));
        Assert.That(Cpu.LoadedDebugRegisters.Dr7, Is.EqualTo(TrapAbi.Dr7Default | 1));
    }

    [Test]
    public void ABreakpointHitReplacesEarlierBreakpointBitsAndKeepsBs()
    {
        SetTrap(Paravirt.Cpu.ExceptionVector.Debug, 0xFFFF_FFFF_8000_0100);
        Assert.That(Call(Hypercall.SetDebugreg, 6, TrapAbi.Dr6Default | 0b1000 | (1UL << 14)), Is.Zero);
        KernelContext(Page1, Stack + 0x800);
        Cpu.DebugStatus = 0b0100;
        V.HandleGuestExit(new Paravirt.Cpu.VcpuExit(Paravirt.Cpu.VcpuExitReason.Exception, Paravirt.Cpu.ExceptionVector.Debug));
        Assert.That(R.Rip, Is.EqualTo(0xFFFF_FFFF_8000_0100UL));
        Assert.That(Call(Hypercall.GetDebugreg, 6), Is.EqualTo((long)(TrapAbi.Dr6Default | 0b0100 | (1UL << 14))));
    }

    [Test]
    public void ASingleStepReportedByTheCpuClearsStaleBreakpointBits()
    {
        SetTrap(Paravirt.Cpu.ExceptionVector.Debug, 0xFFFF_FFFF_8000_0100);
        Assert.That(Call(Hypercall.SetDebugreg, 6, TrapAbi.Dr6Default | 0b0001), Is.Zero);
        KernelContext(Page1, Stack + 0x800);
        Cpu.DebugStatus = 1UL << 14;
        V.HandleGuestExit(new Paravirt.Cpu.VcpuExit(Paravirt.Cpu.VcpuExitReason.Exception, Paravirt.Cpu.ExceptionVector.Debug));
        Assert.That(Call(Hypercall.GetDebugreg, 6), Is.EqualTo((long)(TrapAbi.Dr6Default | (1UL << 14))));
    }
}
