using System.Runtime.InteropServices;
using System.Security.Cryptography;
using NUnit.Framework;
using Paravirt.Domains.Block;
using Paravirt.Hypervisor.Grants;

namespace Paravirt.Domains.Tests.Block;

public class BlkBackIoTests
{
    private static byte[] Pattern(int seed, int bytes)
    {
        var b = new byte[bytes];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Test]
    public void ASeededPatternWrittenThroughTheRingIsOnTheImageFileAndReadsBack()
    {
        using var bed = new BlockTestBed();
        const int size = 8 << 20;
        string img = bed.Image("d.img", size);
        var fe = bed.Attach(img);
        fe.Connect();
        var pattern = Pattern(20261125, size);
        Assert.That(fe.WriteBlocks(0, pattern), Is.All.EqualTo(BlkifStatus.Okay));
        var flush = fe.Submit(TestFrontend.Request(BlkifOp.FlushDiskcache, 99, 0, []));
        Assert.That(flush.Status, Is.EqualTo(BlkifStatus.Okay));
        Assert.That(flush.Id, Is.EqualTo(99UL));
        byte[] onDisk;
        using (var f = new FileStream(img, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)) { onDisk = new byte[size]; f.ReadExactly(onDisk); }
        Assert.That(SHA256.HashData(onDisk), Is.EqualTo(SHA256.HashData(pattern)));
        var back = fe.ReadBlocks(0, size / 4096, out var st);
        Assert.That(st, Is.All.EqualTo(BlkifStatus.Okay));
        Assert.That(SHA256.HashData(back), Is.EqualTo(SHA256.HashData(pattern)));
    }

    [Test]
    public void StatisticsCountRequestsAndTheSectorsOfValidOnesAsLinuxBlkbackDoes()
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.Connect();
        var (_, gref) = fe.Data(0);
        Assert.That(bed.Device(fe).Statistics, Is.EqualTo(new BlkStatistics(0, 0, 0, 0, 0)));
        Assert.That(fe.Submit(TestFrontend.Request(BlkifOp.Write, 1, 0, [TestFrontend.Segment(gref, 0, 7)])).Status, Is.EqualTo(BlkifStatus.Okay));
        Assert.That(fe.Submit(TestFrontend.Request(BlkifOp.Read, 2, 8, [TestFrontend.Segment(gref, 2, 4)])).Status, Is.EqualTo(BlkifStatus.Okay));
        Assert.That(fe.Submit(TestFrontend.Request(BlkifOp.Read, 3, 16, [TestFrontend.Segment(gref, 0, 0)])).Status, Is.EqualTo(BlkifStatus.Okay));
        // Past the end of the 2048-sector disk: counted as a request, its sectors are not.
        Assert.That(fe.Submit(TestFrontend.Request(BlkifOp.Read, 4, 4096, [TestFrontend.Segment(gref)])).Status, Is.EqualTo(BlkifStatus.Error));
        Assert.That(fe.Submit(TestFrontend.Request(BlkifOp.FlushDiskcache, 5, 0, [])).Status, Is.EqualTo(BlkifStatus.Okay));
        Assert.That(bed.Device(fe).Statistics, Is.EqualTo(new BlkStatistics(OoReq: 0, RdReq: 3, WrReq: 1, RdSect: 4, WrSect: 8)));
    }

    [Test]
    public void PartialPageSegmentsMoveOnlyTheirSectors()
    {
        using var bed = new BlockTestBed();
        string img = bed.Image("d.img", 1 << 20);
        var fe = bed.Attach(img);
        fe.Connect();
        var (pfn, gref) = fe.Data(0);
        var page = Pattern(5, 4096);
        page.CopyTo(fe.Page(pfn));
        // Sectors 2..4 of the page go to disk sectors 100..102.
        var rsp = fe.Submit(TestFrontend.Request(BlkifOp.Write, 1, 100, [TestFrontend.Segment(gref, 2, 4)]));
        Assert.That(rsp.Status, Is.EqualTo(BlkifStatus.Okay));
        var file = File.ReadAllBytes(img);
        Assert.That(file.AsSpan(100 * 512, 3 * 512).ToArray(), Is.EqualTo(page.AsSpan(2 * 512, 3 * 512).ToArray()));
        Assert.That(file.AsSpan(99 * 512, 512).ToArray(), Is.All.EqualTo(0));
        Assert.That(file.AsSpan(103 * 512, 512).ToArray(), Is.All.EqualTo(0));
        // Reading them back into sectors 5..7 of a clean page leaves the rest of the page alone.
        fe.Page(pfn).Fill(0xEE);
        rsp = fe.Submit(TestFrontend.Request(BlkifOp.Read, 2, 100, [TestFrontend.Segment(gref, 5, 7)]));
        Assert.That(rsp.Status, Is.EqualTo(BlkifStatus.Okay));
        Assert.That(fe.Page(pfn)[(5 * 512)..].ToArray(), Is.EqualTo(page.AsSpan(2 * 512, 3 * 512).ToArray()));
        Assert.That(fe.Page(pfn)[..(5 * 512)].ToArray(), Is.All.EqualTo(0xEE));
    }

    [Test]
    public void WriteBarrierAndFlushWithDataLandOnTheImage()
    {
        using var bed = new BlockTestBed();
        string img = bed.Image("d.img", 1 << 20);
        var fe = bed.Attach(img);
        fe.Connect();
        var a = Pattern(1, 4096);
        var b = Pattern(2, 4096);
        Assert.That(fe.WriteBlocks(0, a, BlkifOp.WriteBarrier), Is.All.EqualTo(BlkifStatus.Okay));
        Assert.That(fe.WriteBlocks(8, b, BlkifOp.FlushDiskcache), Is.All.EqualTo(BlkifStatus.Okay));
        var file = File.ReadAllBytes(img);
        Assert.That(file.AsSpan(0, 4096).ToArray(), Is.EqualTo(a));
        Assert.That(file.AsSpan(4096, 4096).ToArray(), Is.EqualTo(b));
    }

    [Test]
    public void DiscardZeroesTheRangeAndKeepsTheFileSize()
    {
        using var bed = new BlockTestBed();
        string img = bed.Image("d.img", 1 << 20);
        var fe = bed.Attach(img);
        fe.Connect();
        var data = Pattern(7, 16 * 4096);
        fe.WriteBlocks(0, data);
        var discard = new BlkifRequestDiscard { Operation = BlkifOp.Discard, Id = 5, SectorNumber = 16, NrSectors = 64 };
        var req = default(BlkifRequest);
        MemoryMarshal.Write(MemoryMarshal.AsBytes(new Span<BlkifRequest>(ref req)), in discard);
        Assert.That(fe.Submit(req).Status, Is.EqualTo(BlkifStatus.Okay));
        var file = File.ReadAllBytes(img);
        Assert.That(file.Length, Is.EqualTo(1 << 20));
        Assert.That(file.AsSpan(16 * 512, 64 * 512).ToArray(), Is.All.EqualTo(0));
        Assert.That(file.AsSpan(0, 16 * 512).ToArray(), Is.EqualTo(data.AsSpan(0, 16 * 512).ToArray()));
        Assert.That(file.AsSpan(80 * 512, 16 * 4096 - 80 * 512).ToArray(), Is.EqualTo(data.AsSpan(80 * 512).ToArray()));
    }

    [Test]
    public void SecureDiscardAndDiscardOnADiskWithoutItAreNotSupported()
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20), discard: false);
        fe.Connect();
        Assert.That(fe.BackendNode("feature-discard"), Is.Null);
        var req = default(BlkifRequest);
        var d = new BlkifRequestDiscard { Operation = BlkifOp.Discard, Id = 1, SectorNumber = 0, NrSectors = 8 };
        MemoryMarshal.Write(MemoryMarshal.AsBytes(new Span<BlkifRequest>(ref req)), in d);
        Assert.That(fe.Submit(req).Status, Is.EqualTo(BlkifStatus.NotSupported));

        var fe2 = bed.Attach(bed.Image("e.img", 1 << 20), vdev: "xvdb");
        fe2.Connect();
        d.Flag = Blkif.DiscardSecure;
        MemoryMarshal.Write(MemoryMarshal.AsBytes(new Span<BlkifRequest>(ref req)), in d);
        Assert.That(fe2.Submit(req).Status, Is.EqualTo(BlkifStatus.NotSupported));
    }

    [Test]
    public void IndirectRequestsCarryUpTo256SegmentsFromIndirectPages()
    {
        using var bed = new BlockTestBed();
        string img = bed.Image("d.img", 4 << 20);
        var fe = bed.Attach(img);
        fe.Connect();
        const int n = 256;
        var data = Pattern(11, n * 4096);
        ulong indirectPfn = fe.AllocPage();
        uint indirectGref = fe.Grant(indirectPfn, readOnly: true);
        var segs = MemoryMarshal.Cast<byte, BlkifRequestSegment>(fe.Page(indirectPfn));
        for (int i = 0; i < n; i++)
        {
            var (pfn, gref) = fe.Data(i);
            data.AsSpan(i * 4096, 4096).CopyTo(fe.Page(pfn));
            segs[i] = TestFrontend.Segment(gref);
        }
        var ind = new BlkifRequestIndirect { Operation = BlkifOp.Indirect, IndirectOp = BlkifOp.Write, NrSegments = n, Id = 42, SectorNumber = 64 };
        ind.IndirectGrefs[0] = indirectGref;
        var req = default(BlkifRequest);
        MemoryMarshal.Write(MemoryMarshal.AsBytes(new Span<BlkifRequest>(ref req)), in ind);
        var rsp = fe.Submit(req);
        Assert.That(rsp.Status, Is.EqualTo(BlkifStatus.Okay));
        Assert.That(rsp.Id, Is.EqualTo(42UL));
        Assert.That(rsp.Operation, Is.EqualTo(BlkifOp.Write), "the response names the indirect operation");
        Assert.That(File.ReadAllBytes(img).AsSpan(64 * 512, n * 4096).ToArray(), Is.EqualTo(data));

        for (int i = 0; i < n; i++) fe.Page(fe.Data(i).Pfn).Clear();
        ind.IndirectOp = BlkifOp.Read;
        MemoryMarshal.Write(MemoryMarshal.AsBytes(new Span<BlkifRequest>(ref req)), in ind);
        Assert.That(fe.Submit(req).Status, Is.EqualTo(BlkifStatus.Okay));
        for (int i = 0; i < n; i++)
            Assert.That(fe.Page(fe.Data(i).Pfn).ToArray(), Is.EqualTo(data.AsSpan(i * 4096, 4096).ToArray()), $"segment {i}");
    }

    [TestCase(0, BlkifOp.Write, TestName = "IndirectWithNoSegmentsIsAnError")]
    [TestCase(257, BlkifOp.Write, TestName = "IndirectWithMoreSegmentsThanOfferedIsAnError")]
    [TestCase(8, BlkifOp.FlushDiskcache, TestName = "IndirectFlushIsAnError")]
    public void BadIndirectRequestsAreErrors(int n, byte op)
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.Connect();
        var ind = new BlkifRequestIndirect { Operation = BlkifOp.Indirect, IndirectOp = op, NrSegments = (ushort)n, Id = 1 };
        ind.IndirectGrefs[0] = fe.Grant(fe.AllocPage());
        var req = default(BlkifRequest);
        MemoryMarshal.Write(MemoryMarshal.AsBytes(new Span<BlkifRequest>(ref req)), in ind);
        Assert.That(fe.Submit(req).Status, Is.EqualTo(BlkifStatus.Error));
    }

    [Test]
    public void PersistentGrantsStayMappedAcrossRequestsAndAreReleasedOnDisconnect()
    {
        using var bed = new BlockTestBed();
        string img = bed.Image("d.img", 1 << 20);
        var fe = bed.Attach(img);
        fe.Connect(persistent: true);
        var dev = bed.Device(fe);
        Assert.That(dev.IsPersistent, Is.True);
        var data = Pattern(3, 11 * 4096);
        for (int round = 0; round < 4; round++)
            Assert.That(fe.WriteBlocks((ulong)round * 88, data), Is.All.EqualTo(BlkifStatus.Okay));
        Assert.That(dev.PersistentGrantCount, Is.EqualTo(11), "the same 11 grants are reused, mapped once");
        Assert.That(fe.GrantFlagsOf(fe.Data(0).Gref) & (GrantFlags.Reading | GrantFlags.Writing), Is.Not.Zero, "kept mapped");
        var back = fe.ReadBlocks(88 * 3, 11, out var st);
        Assert.That(st, Is.All.EqualTo(BlkifStatus.Okay));
        Assert.That(back, Is.EqualTo(data));
        Assert.That(File.ReadAllBytes(img).AsSpan(0, data.Length).ToArray(), Is.EqualTo(data));
        fe.SetState(Backends.XenbusState.Closed);
        fe.WaitForBackendState(Backends.XenbusState.Closed);
        Assert.That(bed.Hv.Dom0.Grants.ActiveMappings, Is.Zero);
        Assert.That(fe.GrantFlagsOf(fe.Data(0).Gref) & (GrantFlags.Reading | GrantFlags.Writing), Is.Zero);
    }

    [Test]
    public void AReadOnlyDiskServesReadsAndRefusesWrites()
    {
        using var bed = new BlockTestBed();
        string img = bed.Image("d.img", 1 << 20);
        var content = Pattern(9, 1 << 20);
        File.WriteAllBytes(img, content);
        var fe = bed.Attach(img, readWrite: false);
        fe.Connect();
        Assert.That(fe.BackendNode("info"), Is.EqualTo("4"), "VDISK_READONLY");
        Assert.That(fe.BackendNode("mode"), Is.EqualTo("r"));
        Assert.That(fe.BackendNode("feature-discard"), Is.Null);
        Assert.That(fe.WriteBlocks(0, new byte[4096]), Is.All.EqualTo(BlkifStatus.Error));
        Assert.That(fe.ReadBlocks(0, 2, out var st), Is.EqualTo(content.AsSpan(0, 8192).ToArray()));
        Assert.That(st, Is.All.EqualTo(BlkifStatus.Okay));
        Assert.That(File.ReadAllBytes(img), Is.EqualTo(content));
    }

    [TestCase(BlkifOp.Reserved1)]
    [TestCase((byte)7)]
    [TestCase((byte)200)]
    public void UnknownOperationsGetNotSupported(byte op)
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.Connect();
        var rsp = fe.Submit(new BlkifRequest { Operation = op, Id = 77 });
        Assert.That(rsp.Status, Is.EqualTo(BlkifStatus.NotSupported));
        Assert.That(rsp.Id, Is.EqualTo(77UL));
        Assert.That(rsp.Operation, Is.EqualTo(op));
    }

    public enum Bad { NoSegments, TwelveSegments, FirstAfterLast, LastPastPage, SectorPastEnd, RangePastEnd, HugeSector, UngrantedRef, RefGrantedToAnotherDomain, RefPastTable, ReadIntoReadOnlyGrant }

    [Test]
    public void InvalidRequestsGetErrorAndTouchNeitherImageNorMemory([Values] Bad bad)
    {
        using var bed = new BlockTestBed();
        string img = bed.Image("d.img", 64 * 512);
        var before = Pattern(1, 64 * 512);
        File.WriteAllBytes(img, before);
        var fe = bed.Attach(img);
        fe.Connect();
        var (pfn, gref) = fe.Data(0);
        fe.Page(pfn).Fill(0x5A);
        byte op = BlkifOp.Write;
        ulong sector = 0;
        var segs = new List<BlkifRequestSegment> { TestFrontend.Segment(gref) };
        switch (bad)
        {
            case Bad.NoSegments: segs.Clear(); break;
            case Bad.TwelveSegments: segs = Enumerable.Repeat(TestFrontend.Segment(gref, 0, 0), 12).ToList(); break;
            case Bad.FirstAfterLast: segs[0] = TestFrontend.Segment(gref, 5, 4); break;
            case Bad.LastPastPage: segs[0] = TestFrontend.Segment(gref, 0, 8); break;
            case Bad.SectorPastEnd: sector = 64; break;
            case Bad.RangePastEnd: sector = 60; break;
            case Bad.HugeSector: sector = ulong.MaxValue - 3; break;
            case Bad.UngrantedRef: segs[0] = TestFrontend.Segment(500); break;
            case Bad.RefGrantedToAnotherDomain: segs[0] = TestFrontend.Segment(fe.Grant(fe.AllocPage(), to: 7)); break;
            case Bad.RefPastTable: segs[0] = TestFrontend.Segment(1u << 30); break;
            case Bad.ReadIntoReadOnlyGrant: op = BlkifOp.Read; segs[0] = TestFrontend.Segment(fe.Grant(pfn, readOnly: true)); break;
        }
        var req = TestFrontend.Request(op, 3, sector, CollectionsMarshal.AsSpan(segs.Count > 11 ? segs[..11] : segs));
        if (bad == Bad.TwelveSegments) req.NrSegments = 12;
        var rsp = fe.Submit(req);
        Assert.That(rsp.Status, Is.EqualTo(BlkifStatus.Error));
        Assert.That(rsp.Id, Is.EqualTo(3UL));
        Assert.That(File.ReadAllBytes(img), Is.EqualTo(before));
        Assert.That(fe.Page(pfn).ToArray(), Is.All.EqualTo(0x5A));
        Assert.That(bed.Device(fe).ErrorResponses, Is.EqualTo(1));
    }
}
