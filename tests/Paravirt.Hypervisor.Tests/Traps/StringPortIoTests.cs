using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>
/// ins/outs (with and without rep) emulated after #GP(0) as Xen's rep_ins / rep_outs do, and the guest's I/O
/// breakpoints (DR7 R/W = 10 under CR4.DE) for in/out and ins/outs.
/// </summary>
public class StringPortIoTests : TrapTestBase
{
    private const ulong GpHandler = 0xFFFF_FFFF_8000_0D00, PfHandler = 0xFFFF_FFFF_8000_0E00, DbHandler = 0xFFFF_FFFF_8000_0100;

    [SetUp]
    public void InstallHandlers()
    {
        SetTrap(ExceptionVector.GeneralProtection, GpHandler);
        SetTrap(ExceptionVector.PageFault, PfHandler);
        SetTrap(ExceptionVector.Debug, DbHandler);
    }

    private void GrantIopl(uint iopl)
    {
        Put(Page2, iopl);
        Assert.That(Call(Hypercall.PhysdevOp, PhysdevOp.SetIopl, Page2), Is.Zero);
    }

    /// <summary>Place <paramref name="code"/> at Page1 and raise the #GP(0) the CPU gives for it at CPL 3.</summary>
    private void Gp(params byte[] code)
    {
        Assert.That(GuestMemory.CopyTo(V, Page1, code), Is.True);
        KernelContext(Page1, Stack + 0x800);
        Again();
    }

    /// <summary>The instruction at RIP traps again (a rep that was let go part-way).</summary>
    private void Again() => V.HandleGuestExit(new VcpuExit(VcpuExitReason.Exception, ExceptionVector.GeneralProtection, 0, true));

    private void Fill(ulong va, int count, byte value)
    {
        for (int i = 0; i < count; i++) Put(va + (ulong)i, value);
    }

    // The bounce frame from RSP up: rcx, r11, [error code], rip, cs, rflags, rsp, ss.
    private static readonly byte[] RepInsb = [0xF3, 0x6C], RepInsd = [0xF3, 0x6D], Outsb = [0x6E];

    [Test]
    public void InsAndOutsWithoutIoplOrBitmapAreGp()
    {
        R.Rdx = 0x80;
        R.Rdi = Stack;
        R.Rcx = 4;
        Gp(RepInsb);
        Assert.That(R.Rip, Is.EqualTo(GpHandler));
        Assert.That(R.Rcx, Is.EqualTo(4UL), "nothing done");
        Gp(Outsb);
        Assert.That(R.Rip, Is.EqualTo(GpHandler));
    }

    [Test]
    public void RepInsbStoresAllOnesAndStepsRdiAndRcx()
    {
        GrantIopl(1);
        Fill(Stack, 8, 0);
        R.Rdx = 0x80;
        R.Rdi = Stack;
        R.Rcx = 5;
        Gp(RepInsb);
        Assert.That((R.Rip, R.Rdi, R.Rcx), Is.EqualTo((Page1 + 2, Stack + 5, 0UL)));
        Assert.That(Get<ulong>(Stack), Is.EqualTo(0x0000_00FF_FFFF_FFFFUL));
    }

    [Test]
    public void RepInsdWithTheDirectionFlagSetWalksDown()
    {
        GrantIopl(1);
        Fill(Stack, 16, 0);
        R.Rdx = 0x60;
        R.Rdi = Stack + 8;
        R.Rcx = 2;
        Assert.That(GuestMemory.CopyTo(V, Page1, RepInsd), Is.True);
        KernelContext(Page1, Stack + 0x800);
        R.Rflags |= Rflags.DF;
        Again();
        Assert.That((R.Rip, R.Rdi, R.Rcx), Is.EqualTo((Page1 + 2, Stack, 0UL)));
        Assert.That((Get<uint>(Stack + 4), Get<uint>(Stack + 8), Get<uint>(Stack + 12)), Is.EqualTo((0xFFFF_FFFFu, 0xFFFF_FFFFu, 0u)));
    }

    [Test]
    public void RepOutswReadsThroughTheFsBaseAndLeavesMemoryAlone()
    {
        GrantIopl(1);
        Fill(Stack, 8, 0x5A);
        R.FsBase = Stack;
        R.Rsi = 2;
        R.Rcx = 3;
        R.Rdx = 0x80;
        Gp(0x64, 0x66, 0xF3, 0x6F); // rep outsw dx, word ptr fs:[rsi]
        Assert.That((R.Rip, R.Rsi, R.Rcx), Is.EqualTo((Page1 + 4, 8UL, 0UL)));
        Assert.That(Get<ulong>(Stack), Is.EqualTo(0x5A5A_5A5A_5A5A_5A5AUL));
    }

    [Test]
    public void A32BitAddressSizeTruncatesTheOffsetButNotTheFsBase()
    {
        GrantIopl(1);
        R.FsBase = Stack;
        R.Rsi = 0xFFFF_FFFF_0000_0002UL; // ESI = 2
        R.Rcx = 0xFFFF_FFFF_0000_0003UL; // ECX = 3
        R.Rdx = 0x80;
        Gp(0x64, 0x67, 0xF3, 0x6E); // rep outsb dx, byte ptr fs:[esi]
        Assert.That((R.Rip, R.Rsi, R.Rcx), Is.EqualTo((Page1 + 4, 5UL, 0UL)), "ESI and ECX written back zero-extended");
    }

    [Test]
    public void RepWithAZeroCountDoesNothing()
    {
        Fill(Stack, 8, 0);
        R.Rdi = Stack;
        R.Rcx = 0;
        Gp(RepInsb);
        Assert.That((R.Rip, R.Rdi), Is.EqualTo((Page1 + 2, Stack)), "no iteration, so no permission check either");
        Assert.That(Get<ulong>(Stack), Is.Zero);
    }

    [Test]
    public void A32BitAddressSizeUsesEdiAndEcx()
    {
        GrantIopl(1);
        R.Rdx = 0x80;
        R.Rdi = 0xFFFF_FFFF_0000_0000UL | (Stack & 0xFFFF_FFFF); // EDI: the kernel's address truncated to 32 bits
        R.Rcx = 0xABCD_0000_0000_0002UL;
        Gp(0x67, 0xF3, 0x6C);
        // The kernel lives above 4 GiB, so the truncated address is unmapped low memory: #PF at it.
        Assert.That(R.Rip, Is.EqualTo(PfHandler));
        Assert.That(Get<ulong>(R.Rsp + 16), Is.EqualTo(2UL), "#PF error: write access, kernel mode");
        Assert.That(V.GuestCr2, Is.EqualTo(Stack & 0xFFFF_FFFF));
        Assert.That(R.Rcx, Is.EqualTo(0xABCD_0000_0000_0002UL), "nothing done: the count is untouched");
    }

    [Test]
    public void InsIntoAnUnmappedPageFaultsWithTheDoneIterationsCommitted()
    {
        GrantIopl(1);
        // Unmap Page2; the two bytes before it (the end of Page1) are writable.
        Assert.That(Call(Hypercall.UpdateVaMapping, Page2, 0, 2 /* UVMF_INVLPG */), Is.Zero);
        R.Rdx = 0x80;
        R.Rdi = Page2 - 2;
        R.Rcx = 4;
        Gp(RepInsb);
        Assert.That(R.Rip, Is.EqualTo(PfHandler));
        Assert.That(Get<ulong>(R.Rsp + 24), Is.EqualTo(Page1), "the frame's RIP: at the instruction");
        Assert.That(Get<ulong>(R.Rsp + 16), Is.EqualTo(2UL));
        Assert.That(V.GuestCr2, Is.EqualTo(Page2));
        Assert.That((R.Rdi, R.Rcx), Is.EqualTo((Page2, 2UL)));
        Assert.That(Get<ushort>(Page2 - 2), Is.EqualTo((ushort)0xFFFF));
    }

    [Test]
    public void OutsFromXensRangeIsGp()
    {
        GrantIopl(1);
        R.Rsi = X86_64.HypervisorVirtStart + 0x1000;
        R.Rdx = 0x80;
        Gp(Outsb);
        Assert.That(R.Rip, Is.EqualTo(GpHandler));
        Assert.That(Get<ulong>(R.Rsp + 16), Is.Zero, "#GP(0)");
        Assert.That(R.Rsi, Is.EqualTo(X86_64.HypervisorVirtStart + 0x1000));
    }

    [Test]
    public void ALongRepIsLetGoPartWayAndResumesFromRcx()
    {
        GrantIopl(1);
        Fill(Stack, 2000, 0);
        R.Rdx = 0x80;
        R.Rdi = Stack;
        R.Rcx = 2000;
        Gp(RepInsb);
        ulong first = (ulong)PrivilegedOpEmulator.MaxStringIterationsPerTrap;
        Assert.That((R.Rip, R.Rcx, R.Rdi), Is.EqualTo((Page1, 2000 - first, Stack + first)));
        Again();
        Assert.That((R.Rip, R.Rcx, R.Rdi), Is.EqualTo((Page1 + 2, 0UL, Stack + 2000)));
        Assert.That(Get<byte>(Stack + 1999), Is.EqualTo((byte)0xFF));
        Assert.That(Get<byte>(Stack + 2000), Is.Zero);
    }

    private void IoBreakpoint(int n, ulong port, ulong len, bool cr4De = true)
    {
        V.GuestCr4Bits = cr4De ? 1UL << 3 : 0;
        Assert.That(Call(Hypercall.SetDebugreg, (ulong)n, port), Is.Zero);
        ulong dr7 = (1UL << (2 * n)) | (2UL << (16 + 4 * n)) | (len << (18 + 4 * n));
        Assert.That(Call(Hypercall.SetDebugreg, 7, dr7), Is.Zero);
    }

    [Test]
    public void AnIoBreakpointOnTheWrittenPortRaisesDbAfterTheOut()
    {
        GrantIopl(1);
        IoBreakpoint(2, 0x80, 0);
        Gp(0xE6, 0x80); // out 0x80, al
        Assert.That(R.Rip, Is.EqualTo(DbHandler));
        Assert.That(Get<ulong>(R.Rsp + 16), Is.EqualTo(Page1 + 2), "a trap: RIP after the out");
        Assert.That(Call(Hypercall.GetDebugreg, 6), Is.EqualTo((long)(TrapAbi.Dr6Default | 0b0100)));
    }

    [Test]
    public void AnIoBreakpointMatchesAnyOverlapOfItsLength()
    {
        GrantIopl(1);
        IoBreakpoint(0, 0x61, 3 /* 4 ports: 0x61-0x64 */);
        R.Rdx = 0x5E;
        Gp(0xED); // in eax, dx: ports 0x5e-0x61
        Assert.That(R.Rip, Is.EqualTo(DbHandler));
        Assert.That(Call(Hypercall.GetDebugreg, 6) & 0xF, Is.EqualTo(1L));
        Assert.That(Call(Hypercall.SetDebugreg, 6, TrapAbi.Dr6Default), Is.Zero);
        R.Rdx = 0x65;
        Gp(0xEC); // in al, dx: port 0x65, past the range
        Assert.That(R.Rip, Is.EqualTo(Page1 + 1));
        Assert.That(Call(Hypercall.GetDebugreg, 6), Is.EqualTo((long)TrapAbi.Dr6Default));
    }

    [Test]
    public void IoBreakpointsNeedCr4De()
    {
        GrantIopl(1);
        IoBreakpoint(0, 0x80, 0);
        V.GuestCr4Bits = 0;
        Gp(0xE6, 0x80);
        Assert.That(R.Rip, Is.EqualTo(Page1 + 2));
    }

    [Test]
    public void AnIoBreakpointStopsARepAfterOneIterationWithRipAtTheInstruction()
    {
        GrantIopl(1);
        IoBreakpoint(1, 0x80, 0);
        Fill(Stack, 8, 0);
        R.Rdx = 0x80;
        R.Rdi = Stack;
        R.Rcx = 4;
        Gp(RepInsb);
        Assert.That(R.Rip, Is.EqualTo(DbHandler));
        Assert.That(Get<ulong>(R.Rsp + 16), Is.EqualTo(Page1), "iterations remain: RIP at the rep");
        Assert.That((R.Rcx, R.Rdi), Is.EqualTo((3UL, Stack + 1)));
        Assert.That(Get<ulong>(Stack), Is.EqualTo(0xFFUL));
        Assert.That(Call(Hypercall.GetDebugreg, 6) & 0xF, Is.EqualTo(2L));
    }
}
