using NUnit.Framework;
using Paravirt.Domains.XenStore;
using T = Paravirt.Domains.XenStore.XsMessageType;

namespace Paravirt.Domains.Tests.XenStore;

/// <summary>Owner + default + per-domain entries, Dom0 privilege, and what refusals reveal (docs/misc/xenstore.txt, xenstored's perm_for_conn).</summary>
public class XenStorePermissionTests
{
    private XenStoreDaemon _daemon = null!;
    private XenStoreLocalConnection _dom0 = null!;
    private XenStoreLocalConnection _dom1 = null!;
    private XenStoreLocalConnection _dom2 = null!;

    [SetUp]
    public void SetUp()
    {
        _daemon = new XenStoreDaemon();
        _dom0 = _daemon.Connect(0);
        _dom1 = _daemon.Connect(1);
        _dom2 = _daemon.Connect(2);
        foreach (ushort d in new ushort[] { 1, 2 })
        {
            _dom0.Mkdir($"/local/domain/{d}");
            _dom0.SetPerms($"/local/domain/{d}", [new XsPermission(d, XsPerm.None)]);
        }
    }

    [TearDown]
    public void NoInternalFaults() => Assert.That(_daemon.InternalFaults, Is.Zero);

    [Test]
    public void A_domain_cannot_read_another_domains_home() =>
        XsAssert.IsError(_dom1.Send(Msg.Of(T.Read, "/local/domain/2")), "EACCES");

    [Test]
    public void A_domain_cannot_write_below_another_domains_home() =>
        XsAssert.IsError(_dom1.Send(Msg.Write("/local/domain/2/evil", "1")), "EACCES");

    [Test]
    public void Missing_node_under_an_unreadable_parent_is_eacces_not_enoent() =>
        XsAssert.IsError(_dom1.Send(Msg.Of(T.Read, "/local/domain/2/missing")), "EACCES");

    [Test]
    public void Missing_node_under_a_readable_parent_is_enoent() =>
        XsAssert.IsError(_dom1.Send(Msg.Of(T.Read, "/local/domain/1/missing")), "ENOENT");

    [Test]
    public void Dom0_reads_everything() =>
        Assert.That(_dom0.Send(Msg.Of(T.Read, "/local/domain/2")).Type, Is.EqualTo(T.Read));

    [Test]
    public void Owner_gets_full_access_whatever_the_default()
    {
        _dom1.Write("/local/domain/1/x", "v");
        Assert.That(_dom1.ReadString("/local/domain/1/x"), Is.EqualTo("v"));
    }

    [Test]
    public void Nodes_an_unprivileged_domain_creates_are_owned_by_it_and_inherit_the_parents_default()
    {
        _dom0.SetPerms("/local/domain/1", [new XsPermission(1, XsPerm.Read), new XsPermission(2, XsPerm.Write)]);
        _dom1.Write("/local/domain/1/a/b", "v");
        Assert.That(_dom0.GetPerms("/local/domain/1/a/b"),
            Is.EqualTo(new[] { new XsPermission(1, XsPerm.Read), new XsPermission(2, XsPerm.Write) }));
    }

    [Test]
    public void Nodes_dom0_creates_keep_the_parents_owner()
    {
        _dom0.Write("/local/domain/1/made-by-dom0", "v");
        Assert.That(_dom0.GetPerms("/local/domain/1/made-by-dom0")[0].DomainId, Is.EqualTo(1));
    }

    [Test]
    public void Default_read_entry_lets_every_other_domain_read()
    {
        _dom0.Write("/pub", "v");
        _dom0.SetPerms("/pub", [new XsPermission(0, XsPerm.Read)]);
        Assert.That(_dom2.ReadString("/pub"), Is.EqualTo("v"));
        XsAssert.IsError(_dom2.Send(Msg.Write("/pub", "x")), "EACCES");
    }

    [Test]
    public void Specific_entry_overrides_the_default()
    {
        _dom0.Write("/shared", "v");
        _dom0.SetPerms("/shared", [new XsPermission(0, XsPerm.Read), new XsPermission(2, XsPerm.None)]);
        Assert.That(_dom1.ReadString("/shared"), Is.EqualTo("v"));
        XsAssert.IsError(_dom2.Send(Msg.Of(T.Read, "/shared")), "EACCES");
    }

    [Test]
    public void Write_only_entry_allows_writing_but_not_reading()
    {
        _dom0.Write("/drop", "v");
        _dom0.SetPerms("/drop", [new XsPermission(0, XsPerm.None), new XsPermission(2, XsPerm.Write)]);
        XsAssert.IsOk(_dom2.Send(Msg.Write("/drop", "new")), T.Write);
        XsAssert.IsError(_dom2.Send(Msg.Of(T.Read, "/drop")), "EACCES");
    }

    [Test]
    public void Only_the_owner_may_set_permissions()
    {
        _dom0.Write("/local/domain/1/shared", "v");
        _dom0.SetPerms("/local/domain/1/shared", [new XsPermission(1, XsPerm.None), new XsPermission(2, XsPerm.Both)]);
        XsAssert.IsError(_dom2.Send(Msg.Of(T.SetPerms, "/local/domain/1/shared", "n2")), "EACCES");
    }

    [Test]
    public void An_unprivileged_owner_cannot_give_a_node_away()
    {
        _dom1.Write("/local/domain/1/mine", "v");
        // xenstored refuses with EPERM, which xs_wire.h's table lacks, so it travels as EINVAL.
        XsAssert.IsError(_dom1.Send(Msg.Of(T.SetPerms, "/local/domain/1/mine", "n2")), "EINVAL");
    }

    [Test]
    public void An_unprivileged_owner_may_change_access_of_others()
    {
        _dom1.Write("/local/domain/1/mine", "v");
        XsAssert.IsOk(_dom1.Send(Msg.Of(T.SetPerms, "/local/domain/1/mine", "n1", "r2")), T.SetPerms);
        Assert.That(_dom2.ReadString("/local/domain/1/mine"), Is.EqualTo("v"));
    }

    [Test]
    public void Get_perms_needs_read_access() =>
        XsAssert.IsError(_dom1.Send(Msg.Of(T.GetPerms, "/local/domain/2")), "EACCES");

    [Test]
    public void Guests_cannot_touch_the_root()
    {
        XsAssert.IsError(_dom1.Send(Msg.Write("/newtop", "1")), "EACCES");
        XsAssert.IsError(_dom1.Send(Msg.Of(T.Rm, "/tool")), "EACCES");
    }

    [Test]
    public void Rm_needs_write_access_on_the_node() =>
        XsAssert.IsError(_dom1.Send(Msg.Of(T.Rm, "/local/domain/2")), "EACCES");

    [Test]
    public void Set_target_gives_a_domain_the_targets_rights()
    {
        var ring1 = new GuestRing(_daemon, 1);
        var ring2 = new GuestRing(_daemon, 2);
        XsAssert.IsOk(_dom0.Send(Msg.Of(T.SetTarget, "1", "2")), T.SetTarget);
        _dom0.Write("/local/domain/2/secret", "s");
        Assert.That(_dom1.ReadString("/local/domain/2/secret"), Is.EqualTo("s"));
        GC.KeepAlive((ring1, ring2));
    }

    [Test]
    public void Set_target_of_a_domain_not_introduced_is_enoent() =>
        XsAssert.IsError(_dom0.Send(Msg.Of(T.SetTarget, "1", "2")), "ENOENT");

    [Test]
    public void Guest_path_longer_than_the_relative_limit_is_einval() =>
        XsAssert.IsError(_dom1.Send(Msg.Of(T.Read, new string('a', XsWire.RelPathMax + 1))), "EINVAL");

    [Test]
    public void Guest_path_at_the_relative_limit_is_accepted() =>
        XsAssert.IsError(_dom1.Send(Msg.Of(T.Read, new string('a', XsWire.RelPathMax))), "ENOENT");

    [Test]
    public void Path_longer_than_the_absolute_limit_is_einval_even_for_dom0() =>
        XsAssert.IsError(_dom0.Send(Msg.Of(T.Read, "/" + new string('a', XsWire.AbsPathMax))), "EINVAL");
}
