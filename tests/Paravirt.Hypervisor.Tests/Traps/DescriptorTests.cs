using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Traps;
using Paravirt.Hypervisor.Memory;
using Paravirt.Cpu;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>set_gdt, update_descriptor, set_segment_base and the descriptor view the CPU's segment loads use.</summary>
public class DescriptorTests : TrapTestBase
{
    private const ulong DataDpl3 = 0x00CF_F200_0000_FFFFUL;   // flat writable data, DPL 3
    private const ulong DataDpl0 = 0x00CF_9200_0000_FFFFUL;   // flat writable data, DPL 0
    private const ulong Tss = 0x0000_8900_0000_0067UL;        // available 64-bit TSS: refused

    private ulong GdtMa(int entry) => MachineAddressOf(StackPfn + 1) + (ulong)entry * 8;

    private long SetGdt(uint entries, params ulong[] frames)
    {
        for (int i = 0; i < frames.Length; i++) Put(Page2 + (ulong)i * 8, frames[i]);
        return Call(Hypercall.SetGdt, Page2, entries);
    }

    /// <summary>Map the scratch page <paramref name="va"/> read-only, as a guest does with a page it makes a GDT.</summary>
    private void ReadOnly(ulong va, ulong pfn) =>
        Assert.That(Call(Hypercall.UpdateVaMapping, va, (D.P2m[pfn] << 12) | 0x21, 2), Is.Zero);

    private void Writable(ulong va, ulong pfn) =>
        Assert.That(Call(Hypercall.UpdateVaMapping, va, (D.P2m[pfn] << 12) | 0x23, 2), Is.EqualTo(0L));

    [Test]
    public void SetGdtInstallsOwnedFramesAndRaisesDplsToThree()
    {
        Memory.WriteUInt64(GdtMa(1), DataDpl0);
        Memory.WriteUInt64(GdtMa(2), 0x00CF_B200_1234_FFFFUL); // data, base 0x1234, DPL 1
        ReadOnly(Page1, StackPfn + 1);
        Assert.That(SetGdt(16, D.P2m[StackPfn + 1]), Is.Zero);
        Assert.That(V.GdtEntries, Is.EqualTo(16));
        Assert.That(Memory.ReadUInt64(GdtMa(1)), Is.EqualTo(DataDpl3), "DPL fixed up in place");
        Assert.That(V.Descriptors.Lookup(0x0B, out ulong d1), Is.True);
        Assert.That(d1, Is.EqualTo(DataDpl3));
        Assert.That(Memory.ReadUInt64(GdtMa(2)) >> 45 & 3, Is.EqualTo(3UL));
    }

    [Test]
    public void SetGdtWithTooManyEntriesIsEINVAL() =>
        Assert.That(SetGdt(TrapAbi.FirstReservedGdtEntry + 1, D.P2m[StackPfn + 1]), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void SetGdtWithAFrameTheDomainDoesNotOwnIsEINVAL() =>
        Assert.That(SetGdt(8, D.SharedInfoMfn + 100000), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void SetGdtWithASystemDescriptorIsEINVALAndKeepsTheOldTable()
    {
        ReadOnly(Page1, StackPfn + 1);
        Assert.That(SetGdt(8, D.P2m[StackPfn + 1]), Is.Zero);
        Memory.WriteUInt64(MachineAddressOf(StackPfn + 2) + 8 * 5, Tss);
        Memory.WriteUInt64(MachineAddressOf(StackPfn + 2) + 8 * 6, DataDpl0);
        Assert.That(SetGdt(16, D.P2m[StackPfn + 2]), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(V.GdtEntries, Is.EqualTo(8));
        Assert.That(V.GdtFrames, Is.EqualTo(new[] { D.P2m[StackPfn + 1] }));
        Assert.That(Memory.ReadUInt64(MachineAddressOf(StackPfn + 2) + 8 * 6), Is.EqualTo(DataDpl0), "nothing rewritten");
    }

    [Test]
    public void SetGdtWithAnUnreadableFrameListIsEFAULT() =>
        Assert.That(Call(Hypercall.SetGdt, 0x10, 8), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void GuestGdtEntriesAndXensFlatSelectorsAreVisibleToSegmentLoads()
    {
        Memory.WriteUInt64(GdtMa(3), 0x00CF_F200_5678_FFFFUL);
        ReadOnly(Page1, StackPfn + 1);
        Assert.That(SetGdt(8, D.P2m[StackPfn + 1]), Is.Zero);
        Assert.That(V.Descriptors.Lookup(0x1B, out ulong d), Is.True);
        Assert.That(DescriptorTables.BaseOf(d), Is.EqualTo(0x5678UL));
        Assert.That(V.Descriptors.Lookup(0x43, out _), Is.False, "past the guest's 8 entries");
        Assert.That(V.Descriptors.Lookup(0x1F, out _), Is.False, "no LDT: LDT selectors find nothing");
        Assert.That(V.Descriptors.IsUserCodeSelector(X86_64.FlatRing3Cs64), Is.True);
        Assert.That(V.Descriptors.IsUserStackSelector(X86_64.FlatRing3Ss64), Is.True);
        Assert.That(V.Descriptors.IsUserCodeSelector(0xe00b), Is.False, "Xen's ring-0 code is not ring 3's");
        Assert.That(V.Descriptors.Lookup(0xe03b, out _), Is.False, "beyond Xen's flat entries");
    }

    [Test]
    public void ADescriptorRewrittenBehindTheHypervisorsBackIsCheckedAgainOnUse()
    {
        ReadOnly(Page1, StackPfn + 1);
        Assert.That(SetGdt(8, D.P2m[StackPfn + 1]), Is.Zero);
        Memory.WriteUInt64(GdtMa(4), Tss);
        Assert.That(V.Descriptors.Lookup(0x23, out _), Is.False);
    }

    [Test]
    public void UpdateDescriptorWritesACheckedDescriptor()
    {
        Assert.That(Call(Hypercall.UpdateDescriptor, GdtMa(5), DataDpl0), Is.Zero);
        Assert.That(Memory.ReadUInt64(GdtMa(5)), Is.EqualTo(DataDpl3));
    }

    [Test]
    public void UpdateDescriptorErrorsAreEINVAL()
    {
        Assert.That(Call(Hypercall.UpdateDescriptor, GdtMa(5) + 4, DataDpl3), Is.EqualTo(-XenErrno.EINVAL), "unaligned");
        Assert.That(Call(Hypercall.UpdateDescriptor, GdtMa(5), Tss), Is.EqualTo(-XenErrno.EINVAL), "system descriptor");
        Assert.That(Call(Hypercall.UpdateDescriptor, (D.SharedInfoMfn + 100000) << 12, DataDpl3), Is.EqualTo(-XenErrno.EINVAL), "not the domain's frame");
        Assert.That(Memory.ReadUInt64(GdtMa(5)), Is.Zero);
    }

    [Test]
    public void APageTableFrameIsNeitherAGdtNorADescriptorTarget()
    {
        ulong l4 = R.Cr3 >> 12;
        Assume.That(Hv.Mmu.IsPageTable(l4), Is.True, "the builder's L4 is a typed page table");
        Assert.That(SetGdt(8, l4), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Call(Hypercall.UpdateDescriptor, (l4 << 12) + 8 * 300, DataDpl3), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void ACallGateIsAcceptedWithDplZeroAndTheOriginalDplInItsSelector()
    {
        // 64-bit call gate (type 0xC), DPL 3, target FLAT_RING3_CS64, offset 0x1000.
        ulong gate = 0x0000_EC00_0000_1000UL | ((ulong)X86_64.FlatRing3Cs64 << 16);
        Assert.That(DescriptorTables.CheckDescriptor(ref gate), Is.True);
        Assert.That((gate >> 45) & 3, Is.Zero);
        Assert.That((gate >> 16) & 3, Is.EqualTo(3UL));
        ulong badGate = 0x0000_EC00_0000_1000UL | (0xe008UL << 16);
        Assert.That(DescriptorTables.CheckDescriptor(ref badGate), Is.False, "target must be a guest code selector");
    }

    // ---- set_segment_base ----

    [Test]
    public void SetSegmentBaseSetsFsAndBothGsBases()
    {
        Assert.That(Call(Hypercall.SetSegmentBase, TrapAbi.SegbaseFs, 0x1000), Is.Zero);
        Assert.That(Call(Hypercall.SetSegmentBase, TrapAbi.SegbaseGsKernel, 0x2000), Is.Zero);
        Assert.That(Call(Hypercall.SetSegmentBase, TrapAbi.SegbaseGsUser, 0x3000), Is.Zero);
        Assert.That((R.FsBase, R.GsBase, R.KernelGsBase), Is.EqualTo((0x1000UL, 0x2000UL, 0x3000UL)));
    }

    [TestCase(TrapAbi.SegbaseFs)]
    [TestCase(TrapAbi.SegbaseGsKernel)]
    [TestCase(TrapAbi.SegbaseGsUser)]
    public void SetSegmentBaseWithANonCanonicalBaseIsEINVAL(int which)
    {
        Assert.That(Call(Hypercall.SetSegmentBase, (ulong)which, 0x0000_8000_0000_0000), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(R.FsBase | R.GsBase | R.KernelGsBase, Is.Zero);
    }

    [Test]
    public void SetSegmentBaseWithAnUnknownWhichIsEINVAL() =>
        Assert.That(Call(Hypercall.SetSegmentBase, 4, 0), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void GsUserSelLoadsTheSelectorAndItsDescriptorBaseForUserMode()
    {
        Memory.WriteUInt64(GdtMa(6), 0x12CF_F234_5678_FFFFUL); // base 0x12345678
        ReadOnly(Page1, StackPfn + 1);
        Assert.That(SetGdt(8, D.P2m[StackPfn + 1]), Is.Zero);
        R.GsBase = 0x9999; // the kernel's, untouched
        Assert.That(Call(Hypercall.SetSegmentBase, TrapAbi.SegbaseGsUserSel, 0x30), Is.Zero);
        Assert.That(R.Gs, Is.EqualTo((ushort)0x33));
        Assert.That(R.KernelGsBase, Is.EqualTo(0x1234_5678UL));
        Assert.That(R.GsBase, Is.EqualTo(0x9999UL));
    }

    [Test]
    public void GsUserSelWithABadSelectorLoadsNull()
    {
        R.KernelGsBase = 0x4444;
        Assert.That(Call(Hypercall.SetSegmentBase, TrapAbi.SegbaseGsUserSel, 0x1234), Is.Zero);
        Assert.That((R.Gs, R.KernelGsBase), Is.EqualTo(((ushort)0, 0UL)));
    }

    // ---- segment-descriptor page types ----

    [Test]
    public void AGdtFrameMappedWritableIsRefused()
    {
        Assert.That(SetGdt(8, D.P2m[StackPfn + 1]), Is.EqualTo(-XenErrno.EINVAL), "Page1 is mapped writable by the builder");
        Assert.That(V.GdtEntries, Is.Zero);
        Assert.That(Hv.Mmu.Pages.TypeOf(D.P2m[StackPfn + 1]), Is.EqualTo(PageType.Writable));
    }

    [Test]
    public void AnInstalledGdtFrameIsADescriptorPageThatCannotBeMappedWritable()
    {
        ulong mfn = D.P2m[StackPfn + 1];
        ReadOnly(Page1, StackPfn + 1);
        Assert.That(SetGdt(8, mfn), Is.Zero);
        Assert.That(Hv.Mmu.Pages.TypeOf(mfn), Is.EqualTo(PageType.SegDesc));
        Assert.That(Hv.Mmu.Pages.TypeCountOf(mfn), Is.EqualTo(1));
        Assert.That(Call(Hypercall.UpdateVaMapping, Page1, (mfn << 12) | 0x23, 2), Is.EqualTo(-XenErrno.EBUSY));
        // update_descriptor still writes it (checked), keeping its type.
        Assert.That(Call(Hypercall.UpdateDescriptor, GdtMa(2), DataDpl0), Is.Zero);
        Assert.That(Memory.ReadUInt64(GdtMa(2)), Is.EqualTo(DataDpl3));
        Assert.That(Hv.Mmu.Pages.TypeOf(mfn), Is.EqualTo(PageType.SegDesc));
        Assert.That(Call(Hypercall.UpdateDescriptor, GdtMa(2), Tss), Is.EqualTo(-XenErrno.EINVAL));
        Mmu.PageTypeInvariants.Check(Hv, [D]);
    }

    [Test]
    public void ReplacingTheGdtReleasesTheOldFrames()
    {
        ulong a = D.P2m[StackPfn + 1], b = D.P2m[StackPfn + 2];
        ReadOnly(Page1, StackPfn + 1);
        ReadOnly(Page2, StackPfn + 2);
        int refsA = Hv.Mmu.Pages.RefCountOf(a);
        Put(Stack, a);
        Assert.That(Call(Hypercall.SetGdt, Stack, 8), Is.Zero);
        Assert.That(Hv.Mmu.Pages.RefCountOf(a), Is.EqualTo(refsA + 1));
        Put(Stack, b);
        Assert.That(Call(Hypercall.SetGdt, Stack, 8), Is.Zero);
        Assert.That(Hv.Mmu.Pages.TypeCountOf(a), Is.Zero);
        Assert.That(Hv.Mmu.Pages.RefCountOf(a), Is.EqualTo(refsA));
        Assert.That(Hv.Mmu.Pages.TypeOf(b), Is.EqualTo(PageType.SegDesc));
        Writable(Page1, StackPfn + 1);
        Assert.That(Call(Hypercall.UpdateVaMapping, Page2, (b << 12) | 0x23, 2), Is.EqualTo(-XenErrno.EBUSY));
        Mmu.PageTypeInvariants.Check(Hv, [D]);
    }

    // ---- the LDT ----

    private const ulong LdtDataSelector = 0x0F; // index 1, TI, RPL 3

    private long SetLdt(ulong va, uint entries)
    {
        Put(Page2 + 0x800, (ulong)MmuextOp.SetLdt);
        Put(Page2 + 0x808, va);
        Put(Page2 + 0x810, (ulong)entries);
        return Hv.Hypercalls.Call(V, Hypercall.MmuextOp, Page2 + 0x800, 1, 0, DomId.Self, 0);
    }

    [Test]
    public void AnLdtPageIsValidatedAndTypedOnFirstUseAndReleasedWithTheLdt()
    {
        ulong mfn = D.P2m[StackPfn + 1];
        Memory.WriteUInt64(MachineAddressOf(StackPfn + 1) + 8, 0x00CF_9200_4321_FFFFUL); // DPL 0 data, base 0x4321
        ReadOnly(Page1, StackPfn + 1);
        Assert.That(SetLdt(Page1, 16), Is.Zero);
        Assert.That(Hv.Mmu.Pages.TypeCountOf(mfn), Is.Zero, "nothing is mapped before a selector needs it");
        Assert.That(V.Descriptors.Lookup((ushort)LdtDataSelector, out ulong d), Is.True);
        Assert.That(DescriptorTables.BaseOf(d), Is.EqualTo(0x4321UL));
        Assert.That((d >> 45) & 3, Is.EqualTo(3UL), "DPL fixed up");
        Assert.That(Hv.Mmu.Pages.TypeOf(mfn), Is.EqualTo(PageType.SegDesc));
        Assert.That(Memory.ReadUInt64(MachineAddressOf(StackPfn + 1) + 8) >> 45 & 3, Is.EqualTo(3UL), "fixed up in place");
        Mmu.PageTypeInvariants.Check(Hv, [D]);
        Assert.That(V.Descriptors.Lookup(16 << 3 | 7, out _), Is.False, "past the 16 entries");
        Assert.That(SetLdt(0, 0), Is.Zero);
        Assert.That(Hv.Mmu.Pages.TypeCountOf(mfn), Is.Zero, "the shadow LDT went with the LDT");
        Assert.That(V.Descriptors.Lookup((ushort)LdtDataSelector, out _), Is.False);
    }

    [Test]
    public void AnLdtPageMappedWritableFaultsAsAPageFaultAtTheLdtAddress()
    {
        SetTrap(ExceptionVector.PageFault, 0xFFFF_FFFF_8000_0E00);
        Assert.That(SetLdt(Page1, 16), Is.Zero);
        Assert.That(V.Descriptors.Lookup((ushort)LdtDataSelector, out _), Is.False, "Page1 is mapped writable: no seg_desc type");
        KernelContext(Page2, Stack + 0x800);
        V.HandleGuestExit(new Paravirt.Cpu.VcpuExit(Paravirt.Cpu.VcpuExitReason.Exception, ExceptionVector.GeneralProtection,
            (uint)(LdtDataSelector & 0xFFFC), true));
        Assert.That(R.Rip, Is.EqualTo(0xFFFF_FFFF_8000_0E00UL), "a #PF, not the #GP");
        Assert.That(V.GuestCr2, Is.EqualTo(Page1 + 8));
        Assert.That(CrashMessage, Is.Null);
    }

    [Test]
    public void RemovingTheLastMappingOfAnLdtPageDropsTheShadowLdt()
    {
        ulong mfn = D.P2m[StackPfn + 1];
        ReadOnly(Page1, StackPfn + 1);
        Assert.That(SetLdt(Page1, 16), Is.Zero);
        Assert.That(V.Descriptors.Lookup((ushort)LdtDataSelector, out _), Is.True);
        Assert.That(Hv.Mmu.Pages.TypeOf(mfn), Is.EqualTo(PageType.SegDesc));
        // Remapping it writable is refused while the shadow holds it, but dropping the read-only mapping releases it.
        Assert.That(Call(Hypercall.UpdateVaMapping, Page1, (mfn << 12) | 0x23, 2), Is.EqualTo(-XenErrno.EBUSY));
        Assert.That(Call(Hypercall.UpdateVaMapping, Page1, 0, 2), Is.Zero);
        Assert.That(Hv.Mmu.Pages.TypeCountOf(mfn), Is.Zero);
        Writable(Page1, StackPfn + 1);
        Assert.That(V.Descriptors.Lookup((ushort)LdtDataSelector, out _), Is.False, "now writable: the LDT page faults again");
        Mmu.PageTypeInvariants.Check(Hv, [D]);
    }

    [Test]
    public void AnLdtPageWithABadDescriptorIsNotMapped()
    {
        Memory.WriteUInt64(MachineAddressOf(StackPfn + 1) + 8 * 9, Tss);
        ReadOnly(Page1, StackPfn + 1);
        Assert.That(SetLdt(Page1, 16), Is.Zero);
        Assert.That(V.Descriptors.Lookup((ushort)LdtDataSelector, out _), Is.False);
        Assert.That(Hv.Mmu.Pages.TypeCountOf(D.P2m[StackPfn + 1]), Is.Zero);
    }
}
