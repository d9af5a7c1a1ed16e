using NUnit.Framework;
using Paravirt.Domains.XenStore;
using T = Paravirt.Domains.XenStore.XsMessageType;

namespace Paravirt.Domains.Tests.XenStore;

/// <summary>WATCH / UNWATCH / WATCH_EVENT semantics of docs/misc/xenstore.txt.</summary>
public class XenStoreWatchTests
{
    private XenStoreDaemon _daemon = null!;
    private XenStoreLocalConnection _dom0 = null!;
    private XenStoreLocalConnection _watcher = null!;
    private XenStoreLocalConnection _dom1 = null!;

    [SetUp]
    public void SetUp()
    {
        _daemon = new XenStoreDaemon();
        _dom0 = _daemon.Connect(0);
        _watcher = _daemon.Connect(0);
        _dom1 = _daemon.Connect(1);
        _dom0.Mkdir("/local/domain/1");
        _dom0.SetPerms("/local/domain/1", [new XsPermission(1, XsPerm.None)]);
    }

    [TearDown]
    public void NoInternalFaults() => Assert.That(_daemon.InternalFaults, Is.Zero);

    private List<XsWatchEvent> Events(XenStoreLocalConnection c) => XsAssert.Drain(c);

    [Test]
    public void Watch_fires_once_straight_away_with_the_watched_path()
    {
        XsAssert.IsOk(_watcher.Send(Msg.Of(T.Watch, "/w", "tok")), T.Watch);
        Assert.That(Events(_watcher), Is.EqualTo(new[] { new XsWatchEvent("/w", "tok") }));
    }

    [Test]
    public void Watch_fires_on_a_write_by_another_connection()
    {
        _watcher.Watch("/w", "tok");
        Events(_watcher);
        _dom0.Write("/w/a/b", "1");
        Assert.That(Events(_watcher), Is.EqualTo(new[] { new XsWatchEvent("/w/a/b", "tok") }));
    }

    [Test]
    public void Watch_does_not_fire_for_a_sibling_with_a_common_prefix()
    {
        _watcher.Watch("/w", "tok");
        Events(_watcher);
        _dom0.Write("/wx", "1");
        Assert.That(Events(_watcher), Is.Empty);
    }

    [Test]
    public void Watch_on_root_sees_every_change()
    {
        _watcher.Watch("/", "all");
        Events(_watcher);
        _dom0.Write("/anything/deep", "1");
        Assert.That(Events(_watcher).Select(e => e.Path), Is.EqualTo(new[] { "/anything/deep" }));
    }

    [Test]
    public void Watch_fires_on_mkdir_rm_and_set_perms()
    {
        _watcher.Watch("/w", "tok");
        _dom0.Mkdir("/w/d");
        _dom0.SetPerms("/w/d", [new XsPermission(0, XsPerm.Read)]);
        _dom0.Rm("/w/d");
        Assert.That(Events(_watcher).Select(e => e.Path), Is.EqualTo(new[] { "/w", "/w/d", "/w/d", "/w/d" }));
    }

    [Test]
    public void Mkdir_of_an_existing_node_fires_nothing()
    {
        _dom0.Mkdir("/w");
        _watcher.Watch("/w", "tok");
        Events(_watcher);
        _dom0.Mkdir("/w");
        Assert.That(Events(_watcher), Is.Empty);
    }

    [Test]
    public void Removing_a_parent_fires_a_watch_on_a_deleted_child_with_the_childs_path()
    {
        _dom0.Write("/p/c/leaf", "1");
        _watcher.Watch("/p/c/leaf", "tok");
        Events(_watcher);
        _dom0.Rm("/p");
        Assert.That(Events(_watcher), Is.EqualTo(new[] { new XsWatchEvent("/p/c/leaf", "tok") }));
    }

    [Test]
    public void Relative_watch_gets_relative_event_paths()
    {
        _dom1.Watch("device", "dev");
        Assert.That(Events(_dom1), Is.EqualTo(new[] { new XsWatchEvent("device", "dev") }));
        _dom0.Write("/local/domain/1/device/vbd/51712/state", "1");
        Assert.That(Events(_dom1), Is.EqualTo(new[] { new XsWatchEvent("device/vbd/51712/state", "dev") }));
    }

    [Test]
    public void Watch_event_is_not_sent_to_a_domain_that_cannot_read_the_node_or_its_parent()
    {
        _dom1.Watch("/secret", "s");
        Events(_dom1);
        _dom0.Write("/secret", "1");
        Assert.That(Events(_dom1), Is.Empty);
    }

    [Test]
    public void Watch_event_is_sent_when_the_parent_is_readable()
    {
        _dom1.Watch("/local/domain/1/x", "s");
        Events(_dom1);
        _dom0.Write("/local/domain/1/x", "1");
        _dom0.SetPerms("/local/domain/1/x", [new XsPermission(0, XsPerm.None)]);
        Assert.That(Events(_dom1).Count, Is.EqualTo(2));
    }

    [Test]
    public void Duplicate_watch_is_eexist()
    {
        _watcher.Watch("/w", "tok");
        XsAssert.IsError(_watcher.Send(Msg.Of(T.Watch, "/w", "tok")), "EEXIST");
    }

    [Test]
    public void Same_path_with_another_token_is_a_second_watch()
    {
        _watcher.Watch("/w", "a");
        _watcher.Watch("/w", "b");
        Events(_watcher);
        _dom0.Write("/w", "1");
        Assert.That(Events(_watcher).Select(e => e.Token), Is.EquivalentTo(new[] { "a", "b" }));
    }

    [TestCase(1)]
    [TestCase(3)]
    public void Watch_needs_exactly_path_and_token(int strings) =>
        XsAssert.IsError(_watcher.Send(Msg.Of(T.Watch, Enumerable.Repeat("/w", strings).ToArray())), "EINVAL");

    [Test]
    public void Watch_on_an_invalid_path_is_einval() =>
        XsAssert.IsError(_watcher.Send(Msg.Of(T.Watch, "/a//b", "t")), "EINVAL");

    [Test]
    public void Unwatch_stops_events()
    {
        _watcher.Watch("/w", "tok");
        XsAssert.IsOk(_watcher.Send(Msg.Of(T.Unwatch, "/w", "tok")), T.Unwatch);
        Events(_watcher);
        _dom0.Write("/w", "1");
        Assert.That(Events(_watcher), Is.Empty);
    }

    [Test]
    public void Unwatch_of_unknown_watch_is_enoent() =>
        XsAssert.IsError(_watcher.Send(Msg.Of(T.Unwatch, "/w", "tok")), "ENOENT");

    [Test]
    public void Watch_ignores_the_transaction_id() =>
        XsAssert.IsOk(_watcher.Send(Msg.InTx(12345, T.Watch, "/w", "tok")), T.Watch);

    [Test]
    public void Guest_may_not_exceed_its_watch_quota()
    {
        var daemon = new XenStoreDaemon(new XenStoreQuotas { WatchesPerDomain = 3 });
        var guest = daemon.Connect(5);
        for (int i = 0; i < 3; i++) guest.Watch("/w", "t" + i);
        XsAssert.IsError(guest.Send(Msg.Of(T.Watch, "/w", "t3")), "E2BIG");
    }

    [Test]
    public void Managed_watch_handler_receives_events()
    {
        var seen = new List<XsWatchEvent>();
        _daemon.Watch(0, "/m", "h", seen.Add);
        _daemon.Write(0, "/m/x", "1");
        Assert.That(seen, Is.EqualTo(new[] { new XsWatchEvent("/m", "h"), new XsWatchEvent("/m/x", "h") }));
    }

    [Test]
    public void Managed_watch_handler_exceptions_do_not_reach_the_writer()
    {
        _daemon.Watch(0, "/m", "h", _ => throw new InvalidOperationException("handler bug"));
        Assert.DoesNotThrow(() => _daemon.Write(0, "/m/x", "1"));
    }

    [Test]
    public void Managed_unwatch_stops_the_handler()
    {
        var seen = new List<XsWatchEvent>();
        _daemon.Watch(0, "/m", "h", seen.Add);
        _daemon.Unwatch(0, "/m", "h");
        _daemon.Write(0, "/m/x", "1");
        Assert.That(seen, Has.Count.EqualTo(1));
    }

    [Test]
    public void Disposing_a_local_connection_drops_its_watches()
    {
        var c = _daemon.Connect(0);
        c.Watch("/w", "tok");
        c.Dispose();
        _dom0.Write("/w", "1");
        Assert.That(c.TryReceiveEvent(out _), Is.False);
        Assert.That(c.IsClosed, Is.True);
    }
}
