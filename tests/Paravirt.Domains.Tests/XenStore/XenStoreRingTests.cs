using NUnit.Framework;
using Paravirt.Domains.XenStore;
using T = Paravirt.Domains.XenStore.XsMessageType;

namespace Paravirt.Domains.Tests.XenStore;

/// <summary>The shared-page transport of docs/misc/xenstore-ring.txt, driven by a byte-array page acting as the guest.</summary>
public class XenStoreRingTests
{
    private XenStoreDaemon _daemon = null!;

    [SetUp]
    public void SetUp()
    {
        _daemon = new XenStoreDaemon();
        _daemon.Mkdir(0, "/local/domain/7");
        _daemon.SetPerms(0, "/local/domain/7", [new XsPermission(7, XsPerm.None)]);
    }

    [TearDown]
    public void NoInternalFaults() => Assert.That(_daemon.InternalFaults, Is.Zero);

    [Test]
    public void Server_advertises_reconnection_and_error_features_on_introduction()
    {
        var g = new GuestRing(_daemon, 7);
        Assert.That(g.Page[XsRingLayout.ServerFeatures], Is.EqualTo(XsRingLayout.FeatureReconnection | XsRingLayout.FeatureError));
    }

    [Test]
    public void Request_on_the_ring_gets_its_reply_on_the_ring()
    {
        var g = new GuestRing(_daemon, 7);
        XsAssert.IsOk(g.Request(Msg.Write("name", "guest")), T.Write);
        var reply = g.Request(Msg.Of(T.Read, "name"));
        Assert.That(reply.PayloadText(), Is.EqualTo("guest"));
        Assert.That(g.Notifications, Is.GreaterThan(0));
    }

    [Test]
    public void Guest_ring_connection_is_unprivileged()
    {
        var g = new GuestRing(_daemon, 7);
        XsAssert.IsError(g.Request(Msg.Of(T.Read, "/tool/xenstored")), "EACCES");
    }

    [Test]
    public void Guest_cannot_read_another_domains_home_over_the_ring()
    {
        _daemon.Mkdir(0, "/local/domain/8");
        _daemon.SetPerms(0, "/local/domain/8", [new XsPermission(8, XsPerm.None)]);
        var g = new GuestRing(_daemon, 7);
        XsAssert.IsError(g.Request(Msg.Of(T.Read, "/local/domain/8")), "EACCES");
    }

    [Test]
    public void Message_split_in_single_bytes_is_assembled()
    {
        var g = new GuestRing(_daemon, 7);
        var bytes = Msg.Write("x", "1").Encode();
        foreach (var b in bytes)
        {
            g.Produce([b]);
            g.Connection.OnEvent();
        }
        XsAssert.IsOk(g.Receive()!, T.Write);
    }

    [TestCase(0u)]
    [TestCase(1000u)]
    [TestCase(0xFFFF_FFF0u)]
    public void Messages_cross_the_ring_wrap_and_index_overflow(uint start)
    {
        var g = new GuestRing(_daemon, 7);
        // Guests must not assume indices start at zero: move both rings to the chosen start.
        g.Page[XsRingLayout.ReqCons] = g.Page[XsRingLayout.ReqProd] = start;
        g.Page[XsRingLayout.RspCons] = g.Page[XsRingLayout.RspProd] = start;
        for (int i = 0; i < 40; i++)
        {
            var value = new string((char)('a' + i % 26), 100 + i * 7);
            XsAssert.IsOk(g.Request(Msg.Write($"k{i}", value)), T.Write);
            Assert.That(g.Request(Msg.Of(T.Read, $"k{i}")).PayloadText(), Is.EqualTo(value));
        }
    }

    [Test]
    public void Request_larger_than_the_ring_streams_through()
    {
        var g = new GuestRing(_daemon, 7);
        var value = new string('v', 1900);
        XsAssert.IsOk(g.Request(Msg.Write("big", value)), T.Write);
        Assert.That(g.Request(Msg.Of(T.Read, "big")).PayloadText(), Is.EqualTo(value));
    }

    [Test]
    public void Producer_claiming_more_than_the_ring_sets_the_ringidx_error()
    {
        var g = new GuestRing(_daemon, 7);
        g.Page[XsRingLayout.ReqProd] = g.Page[XsRingLayout.ReqCons] + XsWire.RingSize + 1;
        g.Connection.OnEvent();
        Assert.That(g.Page[XsRingLayout.Error], Is.EqualTo((uint)XsRingError.RingIdx));
        Assert.That(g.Connection.IsIgnored, Is.True);
    }

    [Test]
    public void Consumer_ahead_of_the_producer_sets_the_ringidx_error()
    {
        var g = new GuestRing(_daemon, 7);
        g.Page[XsRingLayout.ReqCons] = 10;
        g.Page[XsRingLayout.ReqProd] = 5;
        g.Connection.OnEvent();
        Assert.That(g.Page[XsRingLayout.Error], Is.EqualTo((uint)XsRingError.RingIdx));
    }

    [Test]
    public void Hostile_response_indices_set_the_ringidx_error()
    {
        var g = new GuestRing(_daemon, 7);
        g.Page[XsRingLayout.RspCons] = 0x8000_0000;
        g.Produce(Msg.Of(T.Read, "x").Encode());
        g.Connection.OnEvent();
        Assert.That(g.Page[XsRingLayout.Error], Is.EqualTo((uint)XsRingError.RingIdx));
    }

    [Test]
    public void Oversized_payload_length_sets_the_proto_error()
    {
        var g = new GuestRing(_daemon, 7);
        var header = new byte[16];
        new XsSockMsgHeader { Type = (uint)T.Write, Len = XsWire.PayloadMax + 1 }.Write(header);
        g.Produce(header);
        g.Connection.OnEvent();
        Assert.That(g.Page[XsRingLayout.Error], Is.EqualTo((uint)XsRingError.Proto));
    }

    [Test]
    public void Ignored_connection_answers_nothing_more()
    {
        var g = new GuestRing(_daemon, 7);
        g.Page[XsRingLayout.ReqProd] = 5000;
        g.Connection.OnEvent();
        g.Page[XsRingLayout.ReqProd] = g.Page[XsRingLayout.ReqCons];
        g.Produce(Msg.Of(T.Read, "x").Encode());
        g.Connection.OnEvent();
        Assert.That(g.Receive(), Is.Null);
    }

    [Test]
    public void Reconnect_request_resets_the_ring_and_clears_the_error()
    {
        var g = new GuestRing(_daemon, 7);
        g.Page[XsRingLayout.ReqProd] = 5000;
        g.Connection.OnEvent();
        g.Page[XsRingLayout.Connection] = XsRingLayout.Reconnect;
        g.Connection.OnEvent();
        Assert.That(g.Page[XsRingLayout.Connection], Is.EqualTo(XsRingLayout.Connected));
        Assert.That(g.Page[XsRingLayout.Error], Is.EqualTo((uint)XsRingError.None));
        Assert.That((g.Page[XsRingLayout.ReqCons], g.Page[XsRingLayout.ReqProd]), Is.EqualTo((0u, 0u)));
        XsAssert.IsOk(g.Request(Msg.Write("after", "1")), T.Write);
    }

    [Test]
    public void Reconnect_discards_the_connections_watches()
    {
        var g = new GuestRing(_daemon, 7);
        g.Request(Msg.Of(T.Watch, "w", "tok"));
        g.Reconnect();
        _daemon.Write(0, "/local/domain/7/w", "1");
        Assert.That(g.Receive(), Is.Null);
    }

    [Test]
    public void Partial_request_is_dropped_by_reconnect()
    {
        var g = new GuestRing(_daemon, 7);
        g.Produce(Msg.Write("half", "1").Encode().AsSpan(0, 10));
        g.Connection.OnEvent();
        g.Reconnect();
        XsAssert.IsOk(g.Request(Msg.Write("whole", "1")), T.Write);
    }

    [Test]
    public void Vanishing_page_drops_the_connection_without_throwing()
    {
        var g = new GuestRing(_daemon, 7);
        g.Request(Msg.Of(T.Watch, "w", "tok"));
        g.Page.Vanish();
        Assert.DoesNotThrow(() => g.Connection.OnEvent());
        Assert.That(g.Connection.IsDropped, Is.True);
        Assert.DoesNotThrow(() => _daemon.Write(0, "/local/domain/7/w", "1"));
    }

    [Test]
    public void Page_vanishing_before_an_event_arrives_from_a_watch_is_handled()
    {
        var g = new GuestRing(_daemon, 7);
        g.Request(Msg.Of(T.Watch, "w", "tok"));
        g.Page.Vanish();
        Assert.DoesNotThrow(() => _daemon.Write(0, "/local/domain/7/w", "1"));
        Assert.That(g.Connection.IsDropped, Is.True);
    }

    [Test]
    public void Watch_event_from_another_connection_is_written_into_the_ring()
    {
        var g = new GuestRing(_daemon, 7);
        g.Request(Msg.Of(T.Watch, "device", "dev"));
        Assert.That(g.Receive()!.PayloadStrings(), Is.EqualTo(new[] { "device", "dev" }));
        _daemon.Write(0, "/local/domain/7/device/vif/0/state", "4");
        var ev = g.Receive()!;
        Assert.That(ev.Type, Is.EqualTo(T.WatchEvent));
        Assert.That(ev.PayloadStrings(), Is.EqualTo(new[] { "device/vif/0/state", "dev" }));
    }

    [Test]
    public void Output_beyond_the_ring_waits_until_the_guest_consumes()
    {
        var g = new GuestRing(_daemon, 7);
        g.Request(Msg.Of(T.Watch, "w", "tok"));
        g.Receive();
        for (int i = 0; i < 50; i++) _daemon.Write(0, $"/local/domain/7/w/{i:D3}-{new string('x', 40)}", "1");
        uint used = g.Page[XsRingLayout.RspProd] - g.Page[XsRingLayout.RspCons];
        Assert.That(used, Is.LessThanOrEqualTo((uint)XsWire.RingSize));
        int events = 0;
        for (int i = 0; i < 200 && events < 50; i++)
            if (g.Receive() is { Type: T.WatchEvent }) events++;
        Assert.That(events, Is.EqualTo(50));
    }

    [Test]
    public void Guest_that_never_consumes_stops_being_read_after_the_outstanding_quota()
    {
        var daemon = new XenStoreDaemon(new XenStoreQuotas { OutstandingRequests = 3 });
        var page = new ByteArrayPage();
        var conn = daemon.IntroduceDomain(9, page, () => { });
        var g = new GuestRing(daemon, 10); // a second guest keeps working meanwhile
        var bytes = Msg.Of(T.GetDomainPath, "1").Encode();
        var big = Enumerable.Range(0, 40).SelectMany(_ => bytes).ToArray();
        int produced = 0;
        for (int round = 0; round < 10; round++)
        {
            uint cons = page[XsRingLayout.ReqCons], prod = page[XsRingLayout.ReqProd];
            int n = Math.Min(XsWire.RingSize - (int)(prod - cons), big.Length - produced);
            for (int i = 0; i < n; i++) page.Bytes[(int)((prod + (uint)i) & 1023)] = big[produced + i];
            page[XsRingLayout.ReqProd] = prod + (uint)n;
            produced += n;
            conn.OnEvent();
        }
        Assert.That(conn.OutstandingReplies, Is.LessThanOrEqualTo(3));
        Assert.That(page[XsRingLayout.ReqCons], Is.LessThan((uint)big.Length));
        Assert.That(g.Request(Msg.Of(T.GetDomainPath, "1")).Type, Is.EqualTo(T.GetDomainPath));
    }

    [Test]
    public void Events_from_many_threads_are_served_without_loss()
    {
        var g = new GuestRing(_daemon, 7);
        var bytes = Msg.Write("t", "1").Encode();
        g.Produce(bytes);
        var threads = Enumerable.Range(0, 8).Select(_ => new Thread(() => { for (int i = 0; i < 200; i++) g.Connection.OnEvent(); })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        XsAssert.IsOk(g.Receive()!, T.Write);
        Assert.That(g.Receive(), Is.Null);
    }

    [Test]
    public void Watch_reply_precedes_its_initial_event_on_the_ring()
    {
        var g = new GuestRing(_daemon, 7);
        g.Send(Msg.Of(T.Watch, "w", "tok"));
        Assert.That(g.Receive()!.Type, Is.EqualTo(T.Watch));
        Assert.That(g.Receive()!.Type, Is.EqualTo(T.WatchEvent));
    }

    [Test]
    public void Guest_write_fires_a_dom0_watch()
    {
        var seen = new List<XsWatchEvent>();
        _daemon.Watch(0, "/local/domain/7/device", "be", seen.Add);
        var g = new GuestRing(_daemon, 7);
        g.Request(Msg.Write("device/vbd/1/state", "3"));
        Assert.That(seen.Select(e => e.Path), Is.EqualTo(new[] { "/local/domain/7/device", "/local/domain/7/device/vbd/1/state" }));
    }

    [Test]
    public void Reintroduction_resets_the_ring_and_keeps_the_domain()
    {
        var g = new GuestRing(_daemon, 7);
        g.Request(Msg.Of(T.Watch, "w", "tok"));
        var conn = g.Connection;
        _daemon.IntroduceDomain(7, g.Page, () => { });
        Assert.That(conn.IsDropped, Is.True);
        Assert.That(_daemon.IsDomainIntroduced(7), Is.True);
        Assert.That((g.Page[XsRingLayout.RspCons], g.Page[XsRingLayout.RspProd]), Is.EqualTo((0u, 0u)));
    }
}
