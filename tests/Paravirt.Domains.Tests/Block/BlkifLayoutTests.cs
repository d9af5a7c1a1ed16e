using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NUnit.Framework;
using Paravirt.Domains.Backends;
using Paravirt.Domains.Block;

namespace Paravirt.Domains.Tests.Block;

/// <summary>Pins every field of the blkif.h structs on x86-64 and the io/ring.h sizes.</summary>
public class BlkifLayoutTests
{
    private static int Off<T>(string field) => (int)Marshal.OffsetOf<T>(field);

    [Test]
    public void BlkifRequestIs112BytesWithXensOffsets()
    {
        Assert.That(Unsafe.SizeOf<BlkifRequest>(), Is.EqualTo(112));
        Assert.That(new[] { Off<BlkifRequest>("Operation"), Off<BlkifRequest>("NrSegments"), Off<BlkifRequest>("Handle"), Off<BlkifRequest>("Id"), Off<BlkifRequest>("SectorNumber"), Off<BlkifRequest>("Segments") },
            Is.EqualTo(new[] { 0, 1, 2, 8, 16, 24 }));
        Assert.That(Unsafe.SizeOf<BlkifRequestSegment>(), Is.EqualTo(8));
        Assert.That(new[] { Off<BlkifRequestSegment>("Gref"), Off<BlkifRequestSegment>("FirstSect"), Off<BlkifRequestSegment>("LastSect") }, Is.EqualTo(new[] { 0, 4, 5 }));
    }

    [Test]
    public void DiscardIndirectAndResponseLayouts()
    {
        Assert.That(new[] { Off<BlkifRequestDiscard>("Flag"), Off<BlkifRequestDiscard>("Id"), Off<BlkifRequestDiscard>("SectorNumber"), Off<BlkifRequestDiscard>("NrSectors") },
            Is.EqualTo(new[] { 1, 8, 16, 24 }));
        Assert.That(new[] { Off<BlkifRequestIndirect>("IndirectOp"), Off<BlkifRequestIndirect>("NrSegments"), Off<BlkifRequestIndirect>("Id"), Off<BlkifRequestIndirect>("SectorNumber"), Off<BlkifRequestIndirect>("Handle"), Off<BlkifRequestIndirect>("IndirectGrefs") },
            Is.EqualTo(new[] { 1, 2, 8, 16, 24, 28 }));
        Assert.That(Unsafe.SizeOf<BlkifRequestIndirect>(), Is.EqualTo(64));
        Assert.That(Unsafe.SizeOf<BlkifResponse>(), Is.EqualTo(16));
        Assert.That(new[] { Off<BlkifResponse>("Id"), Off<BlkifResponse>("Operation"), Off<BlkifResponse>("Status") }, Is.EqualTo(new[] { 0, 8, 10 }));
    }

    [TestCase(1, 32u)]
    [TestCase(2, 64u)]
    [TestCase(4, 128u)]
    [TestCase(16, 512u)]
    public void RingSizeIsTheLargestPowerOfTwoOfEntriesAfterTheHeader(int pages, uint entries) =>
        Assert.That(BackRing<BlkifRequest, BlkifResponse>.SizeFor(pages * 4096, Blkif.RingEntrySize), Is.EqualTo(entries));

    [TestCase("xvda", 51712u)]
    [TestCase("xvdb", 51728u)]
    [TestCase("xvda1", 51713u)]
    [TestCase("xvdp15", 51967u)]
    [TestCase("xvdq", (1u << 28) | (16u << 8))]
    [TestCase("xvdtq37", (1u << 28) | (536u << 8) | 37u)]
    [TestCase("d0", 51712u)]
    [TestCase("d0p0", 51712u)]
    [TestCase("d1p2", 51730u)]
    [TestCase("d536p37", (1u << 28) | (536u << 8) | 37u)]
    [TestCase("sdb3", (8u << 8) | (1u << 4) | 3u)]
    [TestCase("hda", 768u)]
    [TestCase("hdc2", (22u << 8) | 2u)]
    [TestCase("hdd63", (22u << 8) | (1u << 6) | 63u)]
    public void DevIdFollowsXenVbdInterface(string vdev, uint devid) => Assert.That(VbdNodes.DevIdOf(vdev), Is.EqualTo(devid));

    [TestCase("hde")]
    [TestCase("hda64")]
    [TestCase("sdq")]
    [TestCase("xvda256")]
    [TestCase("xvd")]
    [TestCase("vda")]
    [TestCase("d01")]
    [TestCase("")]
    public void InvalidVdevsHaveNoDevId(string vdev) => Assert.That(VbdNodes.DevIdOf(vdev), Is.Null);

    [Test]
    public void XenbusStatesAreTheAbiNumbers() =>
        Assert.That(Enum.GetValues<XenbusState>().Select(s => (int)s), Is.EqualTo(Enumerable.Range(0, 9)));
}
