using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor.Tests.Mmu;

/// <summary>
/// Recomputes every reference the PV MMU should hold from the page tables themselves and compares with page_info:
/// the accounting invariants, and the isolation invariants (validated tables reach only their owner's frames, no
/// writable mapping of a typed frame, the hypervisor's L4 slots intact).
/// </summary>
internal static class PageTypeInvariants
{
    public static void Check(Hypervisor hv, IEnumerable<Domain> domains, IReadOnlyCollection<ulong>? grantedFrames = null)
    {
        var mem = hv.Memory;
        var pages = hv.Frames.Pages;
        var count = new long[mem.FrameCount];
        var typeRefs = new long[mem.FrameCount];
        foreach (var d in domains)
        {
            foreach (var v in d.Vcpus)
            {
                foreach (var baseMfn in new[] { v.GuestTableMfn, v.GuestTableUserMfn })
                    if (baseMfn != 0) { count[baseMfn]++; typeRefs[baseMfn]++; }
                // Descriptor pages: each installed GDT frame and each mapped shadow-LDT page holds one of each.
                var descriptorPages = v.GdtFrames.Concat(v.ShadowLdt.Where(s => s != 0).Select(s => s - 1));
                foreach (var mfn in descriptorPages)
                {
                    Assert.That(pages.TypeOf(mfn), Is.EqualTo(PageType.SegDesc), $"descriptor page 0x{mfn:x} of d{d.Id}v{v.Id}");
                    Assert.That(hv.Frames.OwnerOf(mfn), Is.EqualTo(d.Id), $"descriptor page 0x{mfn:x} of d{d.Id}v{v.Id}");
                    count[mfn]++;
                    typeRefs[mfn]++;
                }
            }
        }
        for (ulong f = 0; f < mem.FrameCount; f++)
        {
            var type = pages.TypeOf(f);
            if (pages.IsPinned(f)) { count[f]++; typeRefs[f]++; }
            if (type is < PageType.L1 or > PageType.L4 || !pages.IsValidated(f)) continue;
            ushort owner = hv.Frames.OwnerOf(f);
            int level = (int)type;
            for (int i = 0; i < 512; i++)
            {
                ulong e = mem.ReadUInt64((f << 12) + (ulong)i * 8);
                if (level == 4 && i >= PvMmu.FirstXenSlot && i <= PvMmu.LastXenSlot)
                {
                    // Slot 256 holds the read-only M2P or nothing (fill_ro_mpt / zap_ro_mpt); the rest stay empty.
                    if (i == M2pTable.L4Slot) Assert.That(e, Is.EqualTo(hv.Mmu.M2p.L4Entry).Or.EqualTo(0UL), $"L4 0x{f:x} hypervisor slot {i}");
                    else Assert.That(e, Is.Zero, $"L4 0x{f:x} hypervisor slot {i}");
                    continue;
                }
                if ((e & PvMmu.Present) == 0) continue;
                ulong t = (e & PvMmu.AddressMask) >> 12;
                Assert.That(t, Is.LessThan(mem.FrameCount), $"L{level} 0x{f:x}[{i}] maps outside machine memory");
                if (level != 1 || grantedFrames == null || !grantedFrames.Contains(t))
                    Assert.That(hv.Frames.OwnerOf(t), Is.EqualTo(owner), $"L{level} 0x{f:x}[{i}] of d{owner} maps a frame of d{hv.Frames.OwnerOf(t)}");
                Assert.That(e & (level == 1 ? PvMmu.L1Disallow : PvMmu.UpperDisallow), Is.Zero, $"L{level} 0x{f:x}[{i}] has disallowed bits");
                if (level == 1)
                {
                    count[t]++;
                    if ((e & PvMmu.Rw) != 0)
                    {
                        typeRefs[t]++;
                        Assert.That(pages.TypeOf(t), Is.EqualTo(PageType.Writable), $"0x{t:x} is mapped writable by 0x{f:x}[{i}]");
                    }
                }
                else if (t != f)
                {
                    count[t]++;
                    typeRefs[t]++;
                    var tt = pages.TypeOf(t);
                    Assert.That(tt == (PageType)(level - 1) || (tt == type && (e & PvMmu.Rw) == 0), Is.True,
                        $"L{level} 0x{f:x}[{i}] references 0x{t:x} of type {tt}");
                    Assert.That(pages.IsValidated(t), Is.True, $"0x{t:x} referenced by 0x{f:x}[{i}] is not validated");
                }
                else Assert.That(e & PvMmu.Rw, Is.Zero, $"self-mapping 0x{f:x}[{i}] is writable");
            }
        }
        for (ulong f = 0; f < mem.FrameCount; f++)
        {
            if (hv.Frames.OwnerOf(f) is DomId.Xen or Memory.FrameTable.Free) continue;
            Assert.That(pages.RefCountOf(f), Is.EqualTo(count[f]), $"general references of 0x{f:x}");
            Assert.That(pages.TypeCountOf(f), Is.EqualTo(typeRefs[f]), $"type references of 0x{f:x} ({pages.TypeOf(f)})");
        }
    }
}
