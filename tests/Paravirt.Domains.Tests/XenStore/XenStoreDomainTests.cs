using NUnit.Framework;
using Paravirt.Domains.XenStore;
using T = Paravirt.Domains.XenStore.XsMessageType;

namespace Paravirt.Domains.Tests.XenStore;

/// <summary>INTRODUCE / RELEASE / RESUME / IS_DOMAIN_INTRODUCED and the special watches @introduceDomain, @releaseDomain.</summary>
public class XenStoreDomainTests
{
    private XenStoreDaemon _daemon = null!;
    private XenStoreLocalConnection _dom0 = null!;

    [SetUp]
    public void SetUp()
    {
        _daemon = new XenStoreDaemon();
        _dom0 = _daemon.Connect(0);
    }

    [TearDown]
    public void NoInternalFaults() => Assert.That(_daemon.InternalFaults, Is.Zero);

    [Test]
    public void Introduce_fires_introduce_domain_watch()
    {
        _dom0.Watch("@introduceDomain", "intro");
        XsAssert.Drain(_dom0);
        _ = new GuestRing(_daemon, 3);
        Assert.That(XsAssert.Drain(_dom0), Is.EqualTo(new[] { new XsWatchEvent("@introduceDomain", "intro") }));
    }

    [Test]
    public void Release_fires_release_domain_watch()
    {
        _ = new GuestRing(_daemon, 3);
        _dom0.Watch("@releaseDomain", "rel");
        XsAssert.Drain(_dom0);
        Assert.That(_daemon.ReleaseDomain(3), Is.True);
        Assert.That(XsAssert.Drain(_dom0), Is.EqualTo(new[] { new XsWatchEvent("@releaseDomain", "rel") }));
    }

    [Test]
    public void Guest_without_read_access_to_the_special_node_gets_no_special_event()
    {
        var guest = _daemon.Connect(5);
        guest.Watch("@introduceDomain", "intro");
        XsAssert.Drain(guest);
        _ = new GuestRing(_daemon, 3);
        Assert.That(XsAssert.Drain(guest), Is.Empty);
    }

    [Test]
    public void Is_domain_introduced_follows_introduce_and_release()
    {
        Assert.That(_dom0.Send(Msg.Of(T.IsDomainIntroduced, "3")).PayloadText(), Is.EqualTo("F"));
        _ = new GuestRing(_daemon, 3);
        Assert.That(_dom0.Send(Msg.Of(T.IsDomainIntroduced, "3")).PayloadText(), Is.EqualTo("T"));
        XsAssert.IsOk(_dom0.Send(Msg.Of(T.Release, "3")), T.Release);
        Assert.That(_dom0.Send(Msg.Of(T.IsDomainIntroduced, "3")).PayloadText(), Is.EqualTo("F"));
    }

    [Test]
    public void Release_of_unknown_domain_is_enoent() => XsAssert.IsError(_dom0.Send(Msg.Of(T.Release, "9")), "ENOENT");

    [Test]
    public void Release_of_dom0_is_einval() => XsAssert.IsError(_dom0.Send(Msg.Of(T.Release, "0")), "EINVAL");

    [Test]
    public void Resume_of_introduced_domain_is_ok()
    {
        _ = new GuestRing(_daemon, 3);
        XsAssert.IsOk(_dom0.Send(Msg.Of(T.Resume, "3")), T.Resume);
    }

    [Test]
    public void Resume_of_unknown_domain_is_enoent() => XsAssert.IsError(_dom0.Send(Msg.Of(T.Resume, "9")), "ENOENT");

    [Test]
    public void Introduce_message_without_a_ring_mapper_is_enosys() =>
        XsAssert.IsError(_dom0.Send(Msg.Of(T.Introduce, "3", "1234", "5")), "ENOSYS");

    [TestCase("3", "1", "0")]
    [TestCase("0", "1", "5")]
    [TestCase("32752", "1", "5")]
    public void Introduce_message_with_bad_arguments_is_einval(string domid, string gfn, string port) =>
        XsAssert.IsError(_dom0.Send(Msg.Of(T.Introduce, domid, gfn, port)), "EINVAL");

    [Test]
    public void Introduce_message_with_too_few_arguments_is_einval() =>
        XsAssert.IsError(_dom0.Send(Msg.Of(T.Introduce, "3", "1")), "EINVAL");

    private sealed class Mapper : IXenStoreRingMapper
    {
        public ByteArrayPage Page { get; } = new();
        public Action? Bound { get; private set; }
        public (ushort, ulong, uint) Asked { get; private set; }

        public XenStoreRingEndpoint? MapRing(ushort domid, ulong gfn, uint eventChannel)
        {
            Asked = (domid, gfn, eventChannel);
            return eventChannel == 99 ? null : new XenStoreRingEndpoint(Page, () => { }, a => Bound = a);
        }
    }

    [Test]
    public void Introduce_message_maps_the_ring_and_binds_its_event()
    {
        var mapper = new Mapper();
        var daemon = new XenStoreDaemon(ringMapper: mapper);
        XsAssert.IsOk(daemon.Connect(0).Send(Msg.Of(T.Introduce, "3", "4660", "7")), T.Introduce);
        Assert.That(mapper.Asked, Is.EqualTo(((ushort)3, 4660ul, 7u)));
        Assert.That(mapper.Bound is not null, Is.True);
        Assert.That(mapper.Page[XsRingLayout.ServerFeatures], Is.EqualTo(3u));
        Assert.That(daemon.IsDomainIntroduced(3), Is.True);
    }

    [Test]
    public void Introduce_message_the_mapper_refuses_is_einval()
    {
        var daemon = new XenStoreDaemon(ringMapper: new Mapper());
        XsAssert.IsError(daemon.Connect(0).Send(Msg.Of(T.Introduce, "3", "1", "99")), "EINVAL");
    }

    [Test]
    public void Release_removes_the_nodes_the_domain_owned_and_its_watches()
    {
        _dom0.Mkdir("/local/domain/3");
        _dom0.SetPerms("/local/domain/3", [new XsPermission(3, XsPerm.None)]);
        var guest = new GuestRing(_daemon, 3);
        guest.Request(Msg.Of(T.Watch, "/local/domain/3", "mine"));
        _daemon.ReleaseDomain(3);
        Assert.That(_dom0.TryReadString("/local/domain/3"), Is.Null);
        Assert.That(guest.Connection.IsDropped, Is.True);
    }

    [Test]
    public void Release_forgets_permission_entries_naming_the_domain()
    {
        _dom0.Write("/shared", "v");
        _dom0.SetPerms("/shared", [new XsPermission(0, XsPerm.None), new XsPermission(3, XsPerm.Read)]);
        _ = new GuestRing(_daemon, 3);
        _daemon.ReleaseDomain(3);
        Assert.That(_dom0.GetPerms("/shared"), Is.EqualTo(new[] { new XsPermission(0, XsPerm.None) }));
    }

    [Test]
    public void In_process_introduce_of_dom0_throws_the_documented_error()
    {
        var e = Assert.Throws<XenStoreException>(() => _daemon.IntroduceDomain(0, new ByteArrayPage(), () => { }));
        Assert.That(e!.Errno, Is.EqualTo(XsErrno.EINVAL));
    }

    [Test]
    public void Managed_api_refusal_throws_xenstore_exception_with_errno()
    {
        var e = Assert.Throws<XenStoreException>(() => _daemon.Read(5, "/tool"));
        Assert.That(e!.Errno, Is.EqualTo(XsErrno.EACCES));
    }
}
