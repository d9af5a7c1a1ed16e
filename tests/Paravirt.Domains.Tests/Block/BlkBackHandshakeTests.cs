using NUnit.Framework;
using Paravirt.Domains.Backends;
using Paravirt.Domains.Block;

namespace Paravirt.Domains.Tests.Block;

public class BlkBackHandshakeTests
{
    [Test]
    public void BackendPublishesItsFeaturesAndWaitsInInitWait()
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        Assert.Multiple(() =>
        {
            Assert.That(fe.BackendState, Is.EqualTo(XenbusState.InitWait));
            Assert.That(fe.BackendNode("feature-flush-cache"), Is.EqualTo("1"));
            Assert.That(fe.BackendNode("feature-barrier"), Is.EqualTo("1"));
            Assert.That(fe.BackendNode("feature-discard"), Is.EqualTo("1"));
            Assert.That(fe.BackendNode("feature-persistent"), Is.EqualTo("1"));
            Assert.That(fe.BackendNode("feature-max-indirect-segments"), Is.EqualTo("256"));
            Assert.That(fe.BackendNode("max-ring-page-order"), Is.EqualTo("4"));
            Assert.That(fe.BackendNode("sectors"), Is.Null, "size is published on connect");
        });
    }

    [Test]
    public void ConnectingPublishesSizeInfoAndSectorSizeThenConnected()
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 3 << 20));
        fe.Connect();
        Assert.Multiple(() =>
        {
            Assert.That(fe.BackendState, Is.EqualTo(XenbusState.Connected));
            Assert.That(fe.BackendNode("sectors"), Is.EqualTo((3 << 20) / 512 + ""));
            Assert.That(fe.BackendNode("sector-size"), Is.EqualTo("512"));
            Assert.That(fe.BackendNode("info"), Is.EqualTo("0"));
            Assert.That(fe.BackendNode("mode"), Is.EqualTo("w"));
            Assert.That(bed.Device(fe).RingSize, Is.EqualTo(32u), "(4096 - 64) / 112 rounded down to a power of two");
        });
    }

    [Test]
    public void FrontendClosingThenClosedIsFollowedAndMappingsAndPortGoBack()
    {
        using var bed = new BlockTestBed();
        int ports = bed.Hv.Dom0.EventChannels.OpenPorts;
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.Connect();
        Assert.That(bed.Hv.Dom0.Grants.ActiveMappings, Is.EqualTo(1));
        Assert.That(bed.Hv.Dom0.EventChannels.OpenPorts, Is.EqualTo(ports + 1));
        fe.SetState(XenbusState.Closing);
        fe.WaitForBackendState(XenbusState.Closing);
        fe.SetState(XenbusState.Closed);
        fe.WaitForBackendState(XenbusState.Closed);
        Assert.That(bed.Hv.Dom0.Grants.ActiveMappings, Is.Zero);
        Assert.That(bed.Hv.Dom0.EventChannels.OpenPorts, Is.EqualTo(ports));
    }

    [Test]
    public void AFrontendThatStartsOverCanReconnect()
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.Connect();
        fe.SetState(XenbusState.Closed);
        fe.WaitForBackendState(XenbusState.Closed);
        fe.SetState(XenbusState.Initialising);
        fe.WaitForBackendState(XenbusState.InitWait);
        fe.Connect();
        var data = new byte[4096];
        new Random(3).NextBytes(data);
        Assert.That(fe.WriteBlocks(8, data), Is.All.EqualTo(BlkifStatus.Okay));
    }

    [Test]
    public void AMultiPageRingIsSizedFromRingPageOrderAndServesEntriesThatStraddlePages()
    {
        using var bed = new BlockTestBed();
        string img = bed.Image("d.img", 1 << 20);
        var fe = bed.Attach(img);
        fe.Connect(order: 2);
        var dev = bed.Device(fe);
        Assert.That(dev.RingPages, Is.EqualTo(4));
        Assert.That(dev.RingSize, Is.EqualTo(128u), "(16384 - 64) / 112 = 145, rounded down to 128");
        var (pfn, gref) = fe.Data(0);
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < 128; i++)
                fe.Put(TestFrontend.Request(BlkifOp.Read, (ulong)(round * 1000 + i), (ulong)i, [TestFrontend.Segment(gref, 0, 0)]));
            fe.Push();
            var rsps = fe.Collect(128);
            Assert.That(rsps.Select(r => r.Status), Is.All.EqualTo(BlkifStatus.Okay));
            Assert.That(rsps.Select(r => r.Id), Is.EqualTo(Enumerable.Range(round * 1000, 128).Select(i => (ulong)i)));
        }
    }

    [Test]
    public void ARingPageOrderAboveTheOfferIsRefused()
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.WriteNode("ring-page-order", "5");
        fe.WriteNode("event-channel", "1");
        fe.SetState(XenbusState.Initialised);
        fe.WaitForBackendState(XenbusState.Closing);
        Assert.That(bed.Log, Has.Some.Contains("ring-page-order"));
        Assert.That(bed.Hv.Dom0.Grants.ActiveMappings, Is.Zero);
    }

    [Test]
    public void AnUngrantedRingRefIsRefusedWithoutLeavingAnything()
    {
        using var bed = new BlockTestBed();
        int ports = bed.Hv.Dom0.EventChannels.OpenPorts;
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.WriteNode("ring-ref", "77");
        fe.WriteNode("event-channel", "1");
        fe.SetState(XenbusState.Initialised);
        fe.WaitForBackendState(XenbusState.Closing);
        Assert.That(bed.Hv.Dom0.Grants.ActiveMappings, Is.Zero);
        Assert.That(bed.Hv.Dom0.EventChannels.OpenPorts, Is.EqualTo(ports));
    }

    [Test]
    public void AnUnknownProtocolIsRefused()
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.Connect(waitConnected: false, protocol: "x86_32-abi");
        fe.WaitForBackendState(XenbusState.Closing);
        Assert.That(bed.Log, Has.Some.Contains("protocol"));
    }

    [Test]
    public void TheBackendNotifiesTheFrontendWhenItAskedForResponses()
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.Connect();
        fe.TakeEvent();
        var (_, gref) = fe.Data(0);
        fe.Submit(TestFrontend.Request(BlkifOp.Read, 1, 0, [TestFrontend.Segment(gref)]));
        BlockTestBed.WaitUntil(() => fe.TakeEvent(), "the event for the response");
    }

    [Test]
    public void AnIdleBackendAsksForAnEventOnTheNextRequest()
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.Connect();
        var (_, gref) = fe.Data(0);
        for (int i = 0; i < 5; i++) fe.Submit(TestFrontend.Request(BlkifOp.Read, (ulong)i, 0, [TestFrontend.Segment(gref)]));
        // RING_FINAL_CHECK_FOR_REQUESTS left req_event = req_cons + 1.
        BlockTestBed.WaitUntil(() => fe.ReadIndex(4) == 6, "req_event = 6");
        Assert.That(fe.ReadIndex(4), Is.EqualTo(6u));
    }

    [Test]
    public void NoEventIsSentWhileTheFrontendDoesNotAskForOne()
    {
        using var bed = new BlockTestBed();
        var fe = bed.Attach(bed.Image("d.img", 1 << 20));
        fe.Connect();
        var (_, gref) = fe.Data(0);
        fe.Submit(TestFrontend.Request(BlkifOp.Read, 1, 0, [TestFrontend.Segment(gref)]));
        fe.TakeEvent();
        // rsp_event far ahead: the front-end polls and wants no event for the next responses.
        fe.Put(TestFrontend.Request(BlkifOp.Read, 2, 0, [TestFrontend.Segment(gref)]));
        fe.Push();
        BlockTestBed.WaitUntil(() => fe.ReadIndex(8) == 2, "the second response");
        // The back-end publishes rsp_prod before it notifies, so the event may trail the index a little.
        BlockTestBed.WaitUntil(() => fe.TakeEvent(), "the event Collect(1) asked for by setting rsp_event = 2");
        fe.SetRspEvent(1000);
        fe.Put(TestFrontend.Request(BlkifOp.Read, 3, 0, [TestFrontend.Segment(gref)]));
        fe.Push();
        BlockTestBed.WaitUntil(() => fe.ReadIndex(8) == 3, "the third response");
        // Give a wrongly sent event the time it would take to trail the index, as above.
        Thread.Sleep(200);
        Assert.That(fe.TakeEvent(), Is.False);
    }

    [Test]
    public void AMissingImageRefusesTheDeviceAtProbe()
    {
        using var bed = new BlockTestBed();
        var d = bed.Hv.CreateDomain("fe", Guid.NewGuid(), 64, 1);
        VbdNodes.Create(bed.XenStore, new VbdDevice(0, d.Id, 51712, "xvda", Path.Combine(bed.Dir, "missing.img"), true, false, true));
        var fe = new TestFrontend(bed, d, 51712);
        fe.WaitForBackendState(XenbusState.Closed);
        Assert.That(bed.Log, Has.Some.Contains("missing.img"));
    }
}
