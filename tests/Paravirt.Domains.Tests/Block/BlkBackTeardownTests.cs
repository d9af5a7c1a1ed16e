using NUnit.Framework;
using Paravirt.Domains.Block;

namespace Paravirt.Domains.Tests.Block;

public class BlkBackTeardownTests
{
    [Test]
    public void DestroyingAFrontendMidIoLeavesNoMappingPortFrameOrNode([Values] bool persistent)
    {
        using var bed = new BlockTestBed();
        ulong free = bed.Hv.Frames.FreeFrames;
        int ports = bed.Hv.Dom0.EventChannels.OpenPorts;
        int nodes = bed.XenStore.NodeCount;
        var other = bed.Attach(bed.Image("other.img", 1 << 20), pages: 64);
        other.Connect();
        ulong freeWithOther = bed.Hv.Frames.FreeFrames;
        int nodesWithOther = bed.XenStore.NodeCount;

        var fe = bed.Attach(bed.Image("d.img", 8 << 20));
        fe.Connect(persistent: persistent);
        // Fill the ring with large writes and destroy the domain while blkback works on them.
        for (int i = 0; i < (int)fe.RingSize; i++)
        {
            var segs = Enumerable.Range(0, 11).Select(s => TestFrontend.Segment(fe.Data(s).Gref)).ToArray();
            fe.Put(TestFrontend.Request(BlkifOp.Write, (ulong)i, (ulong)i * 88, segs));
        }
        fe.Push();
        bed.Hv.DestroyDomain(fe.Domain);
        // What the toolstack does next (libxl__devices_destroy): stop the back-end, remove the nodes.
        bed.Driver.RemoveFrontend(fe.Id);
        VbdNodes.Remove(bed.XenStore, 0, fe.Id, fe.DevId);
        bed.XenStore.Rm(0, $"/local/domain/{fe.Id}");
        bed.Driver.ForgetFrontend(fe.Id);

        Assert.That(bed.Driver.Find(fe.Id, fe.DevId), Is.Null);
        Assert.That(bed.Hv.Dom0.Grants.ActiveMappings, Is.EqualTo(1), "only the other front-end's ring stays mapped");
        Assert.That(bed.Hv.Dom0.EventChannels.OpenPorts, Is.EqualTo(ports + 1));
        Assert.That(bed.Hv.Frames.FreeFrames, Is.EqualTo(freeWithOther));
        Assert.That(bed.XenStore.NodeCount, Is.EqualTo(nodesWithOther));

        var data = new byte[4096];
        new Random(2).NextBytes(data);
        Assert.That(other.WriteBlocks(0, data), Is.All.EqualTo(BlkifStatus.Okay), "the other guest is still served");

        bed.Hv.DestroyDomain(other.Domain);
        bed.Driver.RemoveFrontend(other.Id);
        VbdNodes.Remove(bed.XenStore, 0, other.Id, other.DevId);
        bed.XenStore.Rm(0, $"/local/domain/{other.Id}");
        Assert.That(bed.Hv.Dom0.Grants.ActiveMappings, Is.Zero);
        Assert.That(bed.Hv.Dom0.EventChannels.OpenPorts, Is.EqualTo(ports));
        Assert.That(bed.Hv.Frames.FreeFrames, Is.EqualTo(free));
        Assert.That(bed.XenStore.NodeCount, Is.EqualTo(nodes));
    }

    [Test]
    public void KillingTheGuestMidWriteLeavesWhatItFlushedIntact()
    {
        using var bed = new BlockTestBed();
        string img = bed.Image("d.img", 4 << 20);
        var fe = bed.Attach(img);
        fe.Connect();
        var flushed = new byte[1 << 20];
        new Random(8).NextBytes(flushed);
        Assert.That(fe.WriteBlocks(0, flushed), Is.All.EqualTo(BlkifStatus.Okay));
        Assert.That(fe.Submit(TestFrontend.Request(BlkifOp.FlushDiskcache, 1, 0, [])).Status, Is.EqualTo(BlkifStatus.Okay));
        // A ring full of writes to the second MiB, then death.
        for (int i = 0; i < (int)fe.RingSize; i++)
        {
            var (pfn, gref) = fe.Data(i % 11);
            fe.Page(pfn).Fill(0xAB);
            fe.Put(TestFrontend.Request(BlkifOp.Write, (ulong)i, 2048 + (ulong)i * 8, [TestFrontend.Segment(gref)]));
        }
        fe.Push();
        bed.Hv.DestroyDomain(fe.Domain);
        bed.Driver.RemoveFrontend(fe.Id);
        Assert.That(File.ReadAllBytes(img).AsSpan(0, flushed.Length).ToArray(), Is.EqualTo(flushed));
    }

    [Test]
    public void RemovingTheBackendNodesStopsTheDevice()
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.Connect();
        var dev = bed.Device(fe);
        VbdNodes.Remove(bed.XenStore, 0, fe.Id, fe.DevId);
        BlockTestBed.WaitUntil(() => dev.IsStopped, "the device to stop after its nodes went");
        Assert.That(bed.Driver.Find(fe.Id, fe.DevId), Is.Null);
        Assert.That(bed.Hv.Dom0.Grants.ActiveMappings, Is.Zero);
        Assert.That(bed.XenStore.Directory(0, "/local/domain/0/backend/vbd"), Is.Empty, "a stopping device never re-creates its nodes");
    }

    [Test]
    public void AFrontendDyingUnderAConnectedDeviceIsNoticedOnItsNextEvent()
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.Connect(persistent: true);
        fe.WriteBlocks(0, new byte[4096]);
        bed.Hv.DestroyDomain(fe.Domain);
        // The domain is gone but the toolstack has not acted yet: the mappings hold its frames until blkback lets go.
        bed.Driver.RemoveFrontend(fe.Id);
        Assert.That(bed.Hv.Dom0.Grants.ActiveMappings, Is.Zero);
        Assert.That(bed.Log, Has.None.Contains("internal error"));
    }
}
