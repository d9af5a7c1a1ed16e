using System.Runtime.InteropServices;
using NUnit.Framework;
using Paravirt.Domains.Backends;
using Paravirt.Domains.Block;

namespace Paravirt.Domains.Tests.Block;

public class BlkBackHostileFrontendTests
{
    /// <summary>
    /// Random ring entries, each made invalid in at least one way a fuzzer would find (an ungranted or absurd grant
    /// reference, a sector range past the disk, a segment count out of range, an unknown operation), with every
    /// other byte random.
    /// </summary>
    private static byte[] HostileEntry(Random rng, long diskSectors)
    {
        var e = new byte[Blkif.RingEntrySize];
        rng.NextBytes(e);
        ref var req = ref MemoryMarshal.AsRef<BlkifRequest>(e.AsSpan());
        req.Operation = (byte)rng.Next(0, 10);
        switch (req.Operation)
        {
            case BlkifOp.Read or BlkifOp.Write or BlkifOp.WriteBarrier or BlkifOp.FlushDiskcache:
                if (req.NrSegments == 0) req.NrSegments = (byte)rng.Next(1, 12);
                // Either every grant reference is unusable or the range is past the end; sometimes both.
                for (int i = 0; i < Blkif.MaxSegmentsPerRequest; i++)
                    req.Segments[i].Gref = rng.Next(2) == 0 ? (uint)rng.Next(2048, int.MaxValue) : (uint)rng.Next(100, 2048);
                if (rng.Next(3) == 0) req.SectorNumber = (ulong)diskSectors + (ulong)rng.Next(0, 1000);
                break;
            case BlkifOp.Discard:
                ref var d = ref MemoryMarshal.AsRef<BlkifRequestDiscard>(e.AsSpan());
                d.Flag = 0;
                d.SectorNumber = (ulong)rng.NextInt64(0, long.MaxValue);
                if (d.SectorNumber < (ulong)diskSectors) d.NrSectors = (ulong)diskSectors; // always past the end
                break;
            case BlkifOp.Indirect:
                ref var ind = ref MemoryMarshal.AsRef<BlkifRequestIndirect>(e.AsSpan());
                for (int i = 0; i < Blkif.MaxIndirectPagesPerRequest; i++) ind.IndirectGrefs[i] = (uint)rng.Next(100, int.MaxValue);
                break;
        }
        return e;
    }

    [Test]
    public void TenThousandFuzzedRequestsGetOnlyErrorsWhileAnotherFrontendIsServed()
    {
        using var bed = new BlockTestBed();
        const long hostileSectors = 2048;
        var hostile = bed.Attach(bed.Image("hostile.img", hostileSectors * 512));
        hostile.Connect();
        string goodImg = bed.Image("good.img", 4 << 20);
        var good = bed.Attach(goodImg);
        good.Connect(persistent: true);

        var rng = new Random(424242);
        const int total = 10_240;
        var goodTask = Task.Run(() =>
        {
            var g = new Random(7);
            for (int round = 0; round < 40; round++)
            {
                var data = new byte[11 * 4096];
                g.NextBytes(data);
                ulong sector = (ulong)(round % 20) * 88;
                if (good.WriteBlocks(sector, data).Any(s => s != BlkifStatus.Okay)) return $"write failed in round {round}";
                if (!good.ReadBlocks(sector, 11, out var st).AsSpan().SequenceEqual(data) || st.Any(s => s != BlkifStatus.Okay))
                    return $"read back differs in round {round}";
            }
            return null;
        });

        var statuses = new Dictionary<short, int>();
        int sent = 0;
        while (sent < total)
        {
            int batch = Math.Min(hostile.FreeSlots, total - sent);
            var ids = new List<ulong>();
            for (int i = 0; i < batch; i++)
            {
                var e = HostileEntry(rng, hostileSectors);
                ref var req = ref MemoryMarshal.AsRef<BlkifRequest>(e.AsSpan());
                req.Id = (ulong)(sent + i);
                ids.Add(req.Id);
                hostile.PutRaw(e);
            }
            hostile.Push();
            var rsps = hostile.Collect(batch);
            Assert.That(rsps.Select(r => r.Id), Is.EqualTo(ids), "responses come back in order with the request's id");
            foreach (var r in rsps) statuses[r.Status] = statuses.GetValueOrDefault(r.Status) + 1;
            sent += batch;
        }

        Assert.That(goodTask.Result, Is.Null);
        Assert.That(statuses.Keys, Is.SubsetOf(new[] { BlkifStatus.Error, BlkifStatus.NotSupported }), "errors only");
        Assert.That(statuses.Values.Sum(), Is.EqualTo(total));
        var dev = bed.Device(hostile);
        Assert.That(dev.ErrorResponses + dev.NotSupportedResponses, Is.EqualTo(total));
        Assert.That(dev.State, Is.EqualTo(XenbusState.Connected), "bad requests are answered, not a reason to disconnect");
        Assert.That(File.ReadAllBytes(bed.Dir + "/hostile.img"), Is.All.EqualTo(0), "no fuzzed request wrote anything");
        Assert.That(bed.Log.Count(l => l.Contains("request from")), Is.LessThanOrEqualTo(8), "the log is bounded");
    }

    [TestCase(1000u)]
    [TestCase(33u)]
    [TestCase(0x8000_0000u)]
    public void AProducerIndexBeyondTheRingDisconnectsThatFrontendOnlyAndNeverSpins(uint reqProd)
    {
        using var bed = new BlockTestBed();
        var hostile = bed.Attach(bed.Image("hostile.img", 1 << 20));
        hostile.Connect();
        var good = bed.Attach(bed.Image("good.img", 1 << 20));
        good.Connect();
        hostile.SetReqProd(reqProd);
        hostile.WaitForBackendState(XenbusState.Closing);
        Assert.That(bed.Log, Has.Some.Contains("bogus ring requests"));
        Assert.That(bed.Device(hostile).OkResponses + bed.Device(hostile).ErrorResponses, Is.Zero, "nothing was consumed");
        var data = new byte[4096];
        new Random(1).NextBytes(data);
        Assert.That(good.WriteBlocks(0, data), Is.All.EqualTo(BlkifStatus.Okay));
        Assert.That(good.ReadBlocks(0, 1, out _), Is.EqualTo(data));
    }

    [Test]
    public void GarbageInXenstoreNodesIsRefusedAtConnect([Values("ring-ref", "event-channel", "ring-page-order")] string node,
        [Values("", "-1", "abc", "99999999999999999999999", "0x10")] string value)
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.WriteNode("ring-ref", "8");
        fe.WriteNode("event-channel", "1");
        fe.WriteNode(node, value);
        fe.SetState(XenbusState.Initialised);
        fe.WaitForBackendState(XenbusState.Closing);
        Assert.That(bed.Hv.Dom0.Grants.ActiveMappings, Is.Zero);
    }

    [Test]
    public void AFrontendStateThatIsNotANumberReadsAsUnknownAndClosesTheBackend()
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.Connect();
        fe.WriteNode("state", "connected please");
        fe.WaitForBackendState(XenbusState.Closed);
        Assert.That(bed.Hv.Dom0.Grants.ActiveMappings, Is.Zero);
    }
}
