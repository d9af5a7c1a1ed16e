using NUnit.Framework;
using Paravirt.Hypervisor.Boot;

namespace Paravirt.Hypervisor.Tests;

/// <summary>Where the builder puts a ramdisk (mapped or MOD_START_PFN) and an INIT_P2M list, as xc_dom_build_image does.</summary>
public class BootLayoutTests
{
    private const ulong Base = 0xffffffff80000000;
    private const ulong LinuxP2mBase = 0x8000000000; // PUD_SIZE * PTRS_PER_PUD in arch/x86/xen/xen-head.S

    [Test]
    public void AMappedRamdiskFollowsTheKernelAndPrecedesTheP2mList()
    {
        var l = PvLayout.Compute(Base, Base, Base + 0x5000, 10000, 8192);
        Assert.Multiple(() =>
        {
            Assert.That(l.RamdiskPfn, Is.EqualTo(5));
            Assert.That(l.RamdiskPages, Is.EqualTo(3));
            Assert.That(l.RamdiskUnmapped, Is.False);
            Assert.That(l.P2mPfn, Is.EqualTo(8));
            Assert.That(l.StartInfoPfn, Is.EqualTo(24));
        });
    }

    [Test]
    public void AnUnmappedRamdiskComesAfterTheInitialMapping()
    {
        var l = PvLayout.Compute(Base, Base, Base + 0x5000, 10000, 8192, unmappedRamdisk: true);
        Assert.Multiple(() =>
        {
            Assert.That(l.P2mPfn, Is.EqualTo(5), "the p2m list takes the ramdisk's place after the kernel");
            Assert.That(l.VirtMapEnd, Is.EqualTo(Base + 0x400000));
            Assert.That(l.RamdiskPfn, Is.EqualTo(1024), "first pfn past the 4 MiB initial mapping");
            Assert.That(l.RamdiskUnmapped, Is.True);
            Assert.That(l.PfnAllocEnd, Is.EqualTo(1027));
        });
    }

    [Test]
    public void InitP2mPutsTheListAfterTheInitialMappingWithItsOwnTables()
    {
        var l = PvLayout.Compute(Base, Base, Base + 0x5000, 0, 8192, p2mBase: LinuxP2mBase);
        Assert.Multiple(() =>
        {
            Assert.That(l.StartInfoPfn, Is.EqualTo(5), "no p2m list inside the initial mapping");
            Assert.That(l.PageTablePfn, Is.EqualTo(8));
            Assert.That(l.PageTableCount, Is.EqualTo(5));
            Assert.That(l.P2mOutsideInitialMapping, Is.True);
            Assert.That(l.P2mVirt, Is.EqualTo(LinuxP2mBase));
            Assert.That(l.P2mPfn, Is.EqualTo(1024));
            Assert.That(l.P2mListPages, Is.EqualTo(16));
            // An L3, an L2 and an L1 of its own; the L4 is the initial mapping's.
            Assert.That(l.P2mPages, Is.EqualTo(19));
            Assert.That(l.Mappings, Has.Count.EqualTo(2));
            Assert.That(l.Mappings[1].Levels.Select(x => x.Tables), Is.EqualTo(new ulong[] { 1, 1, 1, 0 }));
            Assert.That(l.Mappings[1].Levels.Select(x => x.Pfn).Take(3), Is.EqualTo(new ulong[] { 1042, 1041, 1040 }));
        });
    }

    [Test]
    public void AP2mMappingCloseToTheKernelSharesItsUpperTables()
    {
        // 1 GiB below virt_base: same L4 slot and L3 table as the initial mapping, its own L2 and L1.
        var l = PvLayout.Compute(Base, Base, Base + 0x5000, 0, 8192, p2mBase: Base - 0x40000000);
        Assert.That(l.Mappings[1].Levels.Select(x => x.Tables), Is.EqualTo(new ulong[] { 1, 1, 0, 0 }));
        Assert.That(l.P2mPages, Is.EqualTo(16 + 2));
    }

    [TestCase(Base + 0x1000000, TestName = "InitP2mAboveVirtBaseIsIgnored")]
    [TestCase(LinuxP2mBase + 0x10, TestName = "AnUnalignedInitP2mIsIgnored")]
    public void InitP2mIsIgnoredWhereXenIgnoresIt(ulong p2mBase)
    {
        var l = PvLayout.Compute(Base, Base, Base + 0x5000, 0, 8192, p2mBase: p2mBase);
        Assert.That(l.P2mOutsideInitialMapping, Is.False);
        Assert.That(l.P2mVirt, Is.EqualTo(l.VirtOf(5)));
    }

    [Test]
    public void AnInitP2mInXensReservedRangeIsRefused()
    {
        var e = Assert.Throws<DomainBuildException>(() => PvLayout.Compute(Base, Base, Base + 0x5000, 0, 8192, p2mBase: 0xffff800000000000))!;
        Assert.That(e.Message, Does.Contain("p2m list mapping"));
    }

    [Test]
    public void ARamdiskLargerThanMemoryIsRefusedNamingIt()
    {
        var e = Assert.Throws<DomainBuildException>(() => PvLayout.Compute(Base, Base, Base + 0x5000, 64UL << 20, 8192))!;
        Assert.That(e.Message, Does.StartWith("ramdisk does not fit in memory"));
    }

    [Test]
    public void EveryPageTableOfBothMappingsIsListed()
    {
        var l = PvLayout.Compute(Base, Base, Base + 0x5000, 0, 8192, p2mBase: LinuxP2mBase);
        var tables = l.PageTables().ToList();
        Assert.That(tables, Has.Count.EqualTo(8));
        Assert.That(tables[0], Is.EqualTo((8UL, 4)), "the L4 first");
        Assert.That(tables.Where(t => t.Pfn >= 1040).Select(t => t.Level), Is.EquivalentTo(new[] { 3, 2, 1 }));
        Assert.That(tables.All(t => l.IsPageTable(t.Pfn)), Is.True);
        Assert.That(l.IsPageTable(l.BootStackPfn), Is.False);
    }
}
