using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor.Tests.Mmu;

/// <summary>Writable page tables: a guest kernel store into its own read-only L1 is decoded, validated and applied.</summary>
internal class PtwrTests : MmuTestBase
{
    private ulong _pteMaddr, _pteVa;

    [SetUp]
    public void FindEntry()
    {
        _pteMaddr = PteAddress(Layout.VirtOf(Layout.StartInfoPfn));
        ulong pfn = F.Hv.Frames.MachineToPhys(_pteMaddr >> 12);
        _pteVa = Layout.VirtOf(pfn) + (_pteMaddr & 0xFFF);
    }

    /// <summary>Put the instruction at Scratch and fake the write #PF it takes on <paramref name="target"/>.</summary>
    private bool Store(byte[] code, ulong target, ulong rax = 0, ulong rcx = 0)
    {
        Assert.That(GuestMemory.CopyTo(V, Scratch, code), Is.True);
        var r = V.Registers;
        r.Rip = Scratch;
        r.Rdi = target;
        r.Rax = rax;
        r.Rcx = rcx;
        var exit = new VcpuExit(VcpuExitReason.Exception, ExceptionVector.PageFault,
            (uint)(PageFaultError.Present | PageFaultError.Write | PageFaultError.User), true, target);
        return Mmu.TryEmulatePageTableWrite(V, exit);
    }

    [Test]
    public void AnEightByteMovIntoAnL1IsValidatedAndApplied()
    {
        ulong val = (Spare(Dom, 0) << 12) | P | Rw;
        Assert.That(Store([0x48, 0x89, 0x07], _pteVa, rax: val), Is.True);
        Assert.That(F.Memory.ReadUInt64(_pteMaddr) & ~(U | PvMmu.GuestKernel), Is.EqualTo(val));
        Assert.That(V.Registers.Rip, Is.EqualTo(Scratch + 3));
        Assert.That(Pages.TypeOf(Spare(Dom, 0)), Is.EqualTo(PageType.Writable));
        PageTypeInvariants.Check(F.Hv, [Dom, Peer]);
    }

    [Test]
    public void AnImmediateStoreClearsAnEntry()
    {
        Assert.That(Store([0x48, 0xC7, 0x07, 0, 0, 0, 0], _pteVa), Is.True);
        Assert.That(F.Memory.ReadUInt64(_pteMaddr), Is.Zero);
        PageTypeInvariants.Check(F.Hv, [Dom, Peer]);
    }

    [Test]
    public void AFourByteStoreIsMergedWithTheOtherHalf()
    {
        ulong old = F.Memory.ReadUInt64(_pteMaddr);
        ulong newLow = (uint)((Spare(Dom, 0) << 12) | P);
        Assume.That(Spare(Dom, 0) >> 20, Is.EqualTo((old & PvMmu.AddressMask) >> 32), "same upper half");
        Assert.That(Store([0x89, 0x07], _pteVa, rax: newLow), Is.True);
        Assert.That(F.Memory.ReadUInt64(_pteMaddr) & 0xFFFF_F000UL, Is.EqualTo(newLow & 0xFFFF_F000UL));
    }

    [Test]
    public void AnEntryThatMapsAnotherDomainIsLeftToFault()
    {
        ulong before = F.Memory.ReadUInt64(_pteMaddr);
        Assert.That(Store([0x48, 0x89, 0x07], _pteVa, rax: (Spare(Peer, 0) << 12) | P), Is.False);
        Assert.That(F.Memory.ReadUInt64(_pteMaddr), Is.EqualTo(before));
        Assert.That(V.Registers.Rip, Is.EqualTo(Scratch));
    }

    [Test]
    public void AStoreIntoAnUpperLevelTableIsNotEmulated()
    {
        ulong l4Va = Layout.VirtOf(F.Hv.Frames.MachineToPhys(L4)) + 8;
        Assert.That(Store([0x48, 0x89, 0x07], l4Va, rax: 0), Is.False);
    }

    [Test]
    public void XchgReturnsTheOldEntry()
    {
        ulong old = F.Memory.ReadUInt64(_pteMaddr);
        ulong val = (Spare(Dom, 0) << 12) | P;
        Assert.That(Store([0x48, 0x87, 0x07], _pteVa, rax: val), Is.True);
        Assert.That(V.Registers.Rax, Is.EqualTo(old));
    }

    [Test]
    public void CmpxchgWritesOnlyWhenTheEntryMatches()
    {
        ulong old = F.Memory.ReadUInt64(_pteMaddr);
        ulong val = (Spare(Dom, 0) << 12) | P;
        byte[] lockCmpxchg = [0xF0, 0x48, 0x0F, 0xB1, 0x0F];
        Assert.That(Store(lockCmpxchg, _pteVa, rax: old ^ 0x1000, rcx: val), Is.True);
        Assert.That(F.Memory.ReadUInt64(_pteMaddr), Is.EqualTo(old), "a failed compare writes nothing");
        Assert.That(V.Registers.Rax, Is.EqualTo(old));
        Assert.That(Store(lockCmpxchg, _pteVa, rax: old, rcx: val), Is.True);
        Assert.That(F.Memory.ReadUInt64(_pteMaddr) & PvMmu.AddressMask, Is.EqualTo(Spare(Dom, 0) << 12));
        Assert.That(V.Registers.Rflags & (1UL << 6), Is.Not.Zero, "ZF");
    }

    [Test]
    public void AReadFaultOrAUserModeWriteIsNotEmulated()
    {
        var exit = new VcpuExit(VcpuExitReason.Exception, ExceptionVector.PageFault, (uint)PageFaultError.Present, true, _pteVa);
        Assert.That(Mmu.TryEmulatePageTableWrite(V, exit), Is.False);
        Assert.That(Mmu.TryEmulatePageTableWrite(V, new VcpuExit(VcpuExitReason.Exception, ExceptionVector.GeneralProtection)), Is.False);
    }
}
