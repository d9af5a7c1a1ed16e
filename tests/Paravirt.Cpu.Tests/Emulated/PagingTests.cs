using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>4-level paging through guest page tables: permissions, #PF error codes, restartability, A/D bits.</summary>
public class PagingTests
{
    private const ulong Unmapped = 0x0090_0000;
    private const ulong P = GuestMachine.P, RW = GuestMachine.RW, US = GuestMachine.US, NX = GuestMachine.NX;

    [Test]
    public void ReadOfNotPresentPageFaultsRestartably()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.mov(rax, __[rbx]); a.int3(); });
        m.Regs.Rbx = Unmapped + 8;
        m.Regs.Rax = 0x1111;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.PageFault));
        Assert.That(exit.ErrorCode, Is.EqualTo((uint)PageFaultError.User)); // not present, read, user
        Assert.That(exit.FaultAddress, Is.EqualTo(Unmapped + 8));
        Assert.That(m.Regs.Cr2, Is.EqualTo(Unmapped + 8));
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase));
        Assert.That(m.Regs.Rax, Is.EqualTo(0x1111UL));

        // The "kernel" maps the page and restarts the instruction.
        var frame = m.AllocFrame();
        m.Map(Unmapped, frame, P | US);
        m.Memory.WriteUInt64((frame << 12) + 8, 0xABCD);
        m.Vcpu.InvalidatePage(Unmapped);
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.EqualTo(0xABCDUL));
    }

    [Test]
    public void WriteToReadOnlyPageFaultsWithPresentWriteUser()
    {
        using var m = new GuestMachine();
        m.Map(Unmapped, m.AllocFrame(), P | US);
        m.Load(a => { a.mov(__qword_ptr[rbx], 5); a.int3(); });
        m.Regs.Rbx = Unmapped;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.PageFault));
        Assert.That(exit.ErrorCode, Is.EqualTo((uint)(PageFaultError.Present | PageFaultError.Write | PageFaultError.User)));
    }

    [Test]
    public void UserAccessNeedsUserAtEveryLevel()
    {
        using var m = new GuestMachine();
        // Leaf says user, but the upper levels created for this new region do not.
        m.Map(0x7F_0000_0000, m.AllocFrame(), P | RW | US, upperFlags: P | RW);
        m.Load(a => { a.mov(rax, __[rbx]); a.int3(); });
        m.Regs.Rbx = 0x7F_0000_0000;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.PageFault));
        Assert.That(exit.ErrorCode, Is.EqualTo((uint)(PageFaultError.Present | PageFaultError.User)));
    }

    [Test]
    public void FetchFromNoExecutePageFaultsWithInstructionFetch()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.jmp(rbx); });
        m.Regs.Rbx = GuestMachine.DataBase; // mapped NX
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.PageFault));
        Assert.That(exit.ErrorCode,
            Is.EqualTo((uint)(PageFaultError.Present | PageFaultError.User | PageFaultError.InstructionFetch)));
        Assert.That(exit.FaultAddress, Is.EqualTo(GuestMachine.DataBase));
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.DataBase));
    }

    [Test]
    public void InstructionStraddlingIntoUnmappedPageFaultsAtTheSecondPage()
    {
        using var m = new GuestMachine();
        ulong last = GuestMachine.CodeBase + 4 * 4096 - 2; // the code region is 4 pages; the next is unmapped
        m.WriteBytes(last, [0x48, 0xB8]); // mov rax, imm64: 8 more bytes needed
        m.Regs.Rip = last;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.PageFault));
        Assert.That(exit.FaultAddress, Is.EqualTo(GuestMachine.CodeBase + 4 * 4096));
        Assert.That(exit.ErrorCode, Is.EqualTo((uint)(PageFaultError.User | PageFaultError.InstructionFetch)));
        Assert.That(m.Regs.Rip, Is.EqualTo(last));
    }

    [Test]
    public void InstructionStraddlingTwoPagesExecutes()
    {
        using var m = new GuestMachine();
        ulong start = GuestMachine.CodeBase + 4096 - 3;
        m.Load(a => { a.mov(rax, 0x1122_3344_5566_7788); a.int3(); }, start);
        m.Regs.Rip = start;
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.EqualTo(0x1122_3344_5566_7788UL));
    }

    [Test]
    public void StoreSpanningIntoReadOnlyPageChangesNeither()
    {
        using var m = new GuestMachine();
        ulong roPage = GuestMachine.DataBase + 4 * 4096;
        m.Map(roPage, m.AllocFrame(), P | US | NX);
        m.Load(a => { a.mov(__[rbx], rax); a.int3(); });
        m.Regs.Rbx = roPage - 4;
        m.Regs.Rax = ulong.MaxValue;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.PageFault));
        Assert.That(exit.FaultAddress, Is.EqualTo(roPage));
        Assert.That(m.ReadBytes(roPage - 4, 4), Is.All.EqualTo(0));
    }

    [Test]
    public void NonCanonicalDataAccessRaisesGeneralProtection()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.mov(rax, __[rbx]); a.int3(); });
        m.Regs.Rbx = 0x8000_0000_0000_0000;
        var exit = m.Run();
        Assert.That((exit.Vector, exit.ErrorCode, exit.HasErrorCode), Is.EqualTo((ExceptionVector.GeneralProtection, 0u, true)));
    }

    [Test]
    public void NonCanonicalStackAccessRaisesStackFault()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.push(rax); a.int3(); });
        m.Regs.Rsp = 0x0000_8000_0000_0008;
        var exit = m.Run();
        Assert.That((exit.Vector, exit.ErrorCode), Is.EqualTo((ExceptionVector.StackFault, 0u)));
        Assert.That(m.Regs.Rsp, Is.EqualTo(0x0000_8000_0000_0008UL));
    }

    [Test]
    public void ReadSetsAccessedAtEveryLevelButNotDirty()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.mov(rax, __[rbx]); a.int3(); });
        m.Regs.Rbx = GuestMachine.DataBase;
        m.RunToBreakpoint();
        for (int level = 4; level >= 1; level--)
            Assert.That(m.Memory.ReadUInt64(m.EntryAddress(GuestMachine.DataBase, level)) & PageTableWalker.Accessed,
                Is.Not.Zero, $"A at level {level}");
        Assert.That(m.Memory.ReadUInt64(m.EntryAddress(GuestMachine.DataBase, 1)) & PageTableWalker.Dirty, Is.Zero);
    }

    [Test]
    public void WriteSetsDirtyInTheLeaf()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.mov(rax, __[rbx]); a.mov(__[rbx], rax); a.int3(); }); // read first: D must still follow
        m.Regs.Rbx = GuestMachine.DataBase + 0x10;
        m.RunToBreakpoint();
        Assert.That(m.Memory.ReadUInt64(m.EntryAddress(GuestMachine.DataBase, 1)) & PageTableWalker.Dirty, Is.Not.Zero);
    }

    [Test]
    public void LargePagesTranslate()
    {
        using var m = new GuestMachine(frames: 2048);
        // 2 MiB page at 0x4000_0000 -> machine 2 MiB (frames 512..1023); 1 GiB page at 0x80_0000_0000 -> machine 0.
        ulong l2 = m.AllocFrame();
        m.Memory.WriteUInt64(m.EntryAddress(0x4000_0000, 3), (l2 << 12) | P | RW | US); // shares L4[0] with the code
        m.Memory.WriteUInt64(l2 << 12, 0x20_0000 | P | RW | US | GuestMachine.PS);
        ulong l3b = m.AllocFrame();
        m.Memory.WriteUInt64((m.L4 << 12) + 1 * 8, (l3b << 12) | P | RW | US);
        m.Memory.WriteUInt64(l3b << 12, 0 | P | RW | US | GuestMachine.PS);
        m.Memory.WriteUInt64(0x20_0000 + 0x1234 * 8, 0x5555);
        m.Memory.WriteUInt64(0x30_0000, 0x6666);
        m.Load(a => { a.mov(rax, __[rbx]); a.mov(rdx, __[rsi]); a.mov(__[rsi], rax); a.int3(); });
        m.Regs.Rbx = 0x4000_0000 + 0x1234 * 8;
        m.Regs.Rsi = 0x80_0000_0000 + 0x30_0000;
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.EqualTo(0x5555UL));
        Assert.That(m.Regs.Rdx, Is.EqualTo(0x6666UL));
        Assert.That(m.Memory.ReadUInt64(0x30_0000), Is.EqualTo(0x5555UL));
        Assert.That(m.Memory.ReadUInt64(l3b << 12) & PageTableWalker.Dirty, Is.Not.Zero);
    }

    [Test]
    public void StaleTranslationIsUsedUntilInvalidated()
    {
        using var m = new GuestMachine();
        var other = m.AllocFrame();
        m.Memory.WriteUInt64(other << 12, 42);
        m.Load(a => { a.mov(rax, __[rbx]); a.int3(); });
        m.Regs.Rbx = GuestMachine.DataBase;
        m.RunToBreakpoint();
        m.Map(GuestMachine.DataBase, other, P | RW | US | NX); // no invlpg yet
        m.Regs.Rip = GuestMachine.CodeBase;
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.Zero, "TLB still holds the old frame, as hardware");
        m.Vcpu.InvalidatePage(GuestMachine.DataBase);
        m.Regs.Rip = GuestMachine.CodeBase;
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.EqualTo(42UL));
    }

    [Test]
    public void NewCr3TakesEffectWithoutExplicitFlush()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.mov(rax, __[rbx]); a.int3(); });
        m.Regs.Rbx = GuestMachine.DataBase;
        m.RunToBreakpoint();
        m.Regs.Cr3 = m.AllocFrame() << 12; // an empty address space
        m.Regs.Rip = GuestMachine.CodeBase;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.PageFault));
        Assert.That(exit.ErrorCode & (uint)PageFaultError.InstructionFetch, Is.Not.Zero);
    }

    [Test]
    public void OneCodeFrameMappedTwiceRunsCorrectlyAtBothAddresses()
    {
        using var m = new GuestMachine();
        ulong alias = 0x00A0_0000;
        m.Map(alias, m.MachineAddress(GuestMachine.CodeBase) >> 12, P | US);
        // RIP-relative lea and a relative call: both depend on where the frame is mapped.
        m.Load(a =>
        {
            var f = a.CreateLabel();
            var here = a.CreateLabel();
            a.Label(ref here);
            a.lea(rax, __[here]);
            a.call(f);
            a.int3();
            a.Label(ref f);
            a.lea(rbx, __[f]);
            a.ret();
        });
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rax, m.Regs.Rbx & ~0xFFFUL), Is.EqualTo((GuestMachine.CodeBase, GuestMachine.CodeBase)));
        m.Regs.Rip = alias;
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rax, m.Regs.Rbx & ~0xFFFUL), Is.EqualTo((alias, alias)));
    }

    [Test]
    public void PageTablesOutsideMachineMemoryFaultInsteadOfThrowing()
    {
        using var m = new GuestMachine();
        m.Regs.Cr3 = (m.Memory.FrameCount + 10) << 12;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.PageFault));
        Assert.That(exit.ErrorCode & (uint)PageFaultError.ReservedBit, Is.Not.Zero);
    }

    [Test]
    public void FlushFromAnotherThreadDuringARunTakesEffect()
    {
        using var m = new GuestMachine();
        var other = m.AllocFrame();
        m.Memory.WriteUInt64(other << 12, 1);
        // Spin until the data word becomes nonzero; only a remap plus a flush can make it so.
        m.Load(a => { var top = a.CreateLabel(); a.Label(ref top); a.mov(rax, __[rbx]); a.test(rax, rax); a.jz(top); a.int3(); });
        m.Regs.Rbx = GuestMachine.DataBase;
        var t = new Thread(() =>
        {
            Thread.Sleep(30);
            m.Map(GuestMachine.DataBase, other, P | RW | US | NX);
            m.Vcpu.FlushTlb();
        });
        t.Start();
        m.RunToBreakpoint();
        t.Join();
        Assert.That(m.Regs.Rax, Is.EqualTo(1UL));
    }
}
