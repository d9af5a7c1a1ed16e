using NUnit.Framework;
using Paravirt.Hypervisor.Boot;

namespace Paravirt.Hypervisor.Tests;

public class PvLayoutTests
{
    private const ulong Base = 0xffffffff80000000;

    [Test]
    public void ElementsArePackedInXensOrder()
    {
        // 5-page kernel, 32 MiB: p2m needs 8192*8 bytes = 16 pages.
        var l = PvLayout.Compute(Base, Base, Base + 0x5000, 0, 8192);
        Assert.Multiple(() =>
        {
            Assert.That(l.KernelPfn, Is.EqualTo(0));
            Assert.That(l.P2mPfn, Is.EqualTo(5));
            Assert.That(l.P2mPages, Is.EqualTo(16));
            Assert.That(l.StartInfoPfn, Is.EqualTo(21));
            Assert.That(l.XenstorePfn, Is.EqualTo(22));
            Assert.That(l.ConsolePfn, Is.EqualTo(23));
            Assert.That(l.PageTablePfn, Is.EqualTo(24));
            Assert.That(l.BootStackPfn, Is.EqualTo(29));
        });
    }

    [Test]
    public void BootstrapTablesCoverTheMappingToA4MiBBoundary()
    {
        var l = PvLayout.Compute(Base, Base, Base + 0x5000, 0, 8192);
        Assert.Multiple(() =>
        {
            // One L4, one L3, one L2 and two L1s map 0xffffffff80000000..0xffffffff803fffff.
            Assert.That(l.PageTableCount, Is.EqualTo(5));
            Assert.That(l.LevelCount, Is.EqualTo(new ulong[] { 2, 1, 1, 1 }));
            Assert.That(l.VirtMapEnd, Is.EqualTo(Base + 0x400000));
        });
    }

    [Test]
    public void TheMappingExtendsAtLeast512KiBPastTheBootStack()
    {
        // A kernel ending just below a 4 MiB boundary pushes the mapping to the next one.
        var l = PvLayout.Compute(Base, Base, Base + 0x3C0000, 0, 16384);
        ulong stackEnd = l.VirtOf(l.BootStackPfn + 1);
        Assert.That(l.VirtMapEnd - stackEnd, Is.GreaterThanOrEqualTo(512UL * 1024));
        Assert.That(l.VirtMapEnd % (4UL << 20), Is.Zero);
    }

    [Test]
    public void AKernelLargerThanMemoryIsRefused()
    {
        var e = Assert.Throws<DomainBuildException>(() => PvLayout.Compute(Base, Base, Base + (64UL << 20), 0, 8192))!;
        Assert.That(e.Message, Does.Contain("kernel does not fit in memory"));
    }

    [Test]
    public void MemoryTooSmallForTheInitialMappingIsRefused()
    {
        var e = Assert.Throws<DomainBuildException>(() => PvLayout.Compute(Base, Base, Base + 0x5000, 0, 512))!;
        Assert.That(e.Message, Does.Contain("not enough memory for the initial mapping"));
    }

    [Test]
    public void AMappingInXensReservedRangeIsRefused()
    {
        const ulong inHole = 0xffff800000000000;
        Assert.Throws<DomainBuildException>(() => PvLayout.Compute(inHole, inHole, inHole + 0x5000, 0, 8192));
    }
}
