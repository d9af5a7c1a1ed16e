using NUnit.Framework;
using Paravirt.Domains.XenStore;
using T = Paravirt.Domains.XenStore.XsMessageType;

namespace Paravirt.Domains.Tests.XenStore;

/// <summary>Per-domain quotas with xenstored's defaults; Dom0 is exempt.</summary>
public class XenStoreQuotaTests
{
    private static (XenStoreDaemon, XenStoreLocalConnection) Guest(XenStoreQuotas? quotas = null)
    {
        var daemon = new XenStoreDaemon(quotas);
        daemon.Mkdir(0, "/local/domain/4");
        daemon.SetPerms(0, "/local/domain/4", [new XsPermission(4, XsPerm.None)]);
        return (daemon, daemon.Connect(4));
    }

    [Test]
    public void Defaults_are_xenstoreds()
    {
        var q = XenStoreQuotas.Default;
        Assert.That((q.NodesPerDomain, q.WatchesPerDomain, q.TransactionsPerDomain, q.NodesPerTransaction, q.PermissionsPerNode, q.NodeSize, q.OutstandingRequests),
            Is.EqualTo((1000, 128, 10, 1024, 5, 2048, 20)));
    }

    [Test]
    public void Guest_may_not_own_more_nodes_than_its_quota()
    {
        var (daemon, guest) = Guest(new XenStoreQuotas { NodesPerDomain = 5 });
        for (int i = 0; i < 4; i++) guest.Write($"n{i}", "1"); // plus /local/domain/4 itself = 5
        XsAssert.IsError(guest.Send(Msg.Write("n4", "1")), "ENOSPC");
        Assert.That(daemon.InternalFaults, Is.Zero);
    }

    [Test]
    public void Implicitly_created_parents_count_against_the_node_quota()
    {
        var (_, guest) = Guest(new XenStoreQuotas { NodesPerDomain = 3 });
        XsAssert.IsError(guest.Send(Msg.Write("a/b/c", "1")), "ENOSPC");
        XsAssert.IsError(guest.Send(Msg.Of(T.Read, "a")), "ENOENT");
    }

    [Test]
    public void Dom0_is_not_limited_by_the_node_quota()
    {
        var daemon = new XenStoreDaemon(new XenStoreQuotas { NodesPerDomain = 2 });
        for (int i = 0; i < 10; i++) daemon.Write(0, $"/many/{i}", "1");
        Assert.That(daemon.Directory(0, "/many"), Has.Length.EqualTo(10));
    }

    [Test]
    public void Value_making_the_node_larger_than_the_node_size_quota_is_enospc()
    {
        var (_, guest) = Guest();
        // Accounted size: 16-byte header + 8 per permission + value + children names.
        XsAssert.IsOk(guest.Send(Msg.Write("fits", new string('v', 2048 - 16 - 8))), T.Write);
        XsAssert.IsError(guest.Send(Msg.Write("big", new string('v', 2048 - 16 - 8 + 1))), "ENOSPC");
    }

    [Test]
    public void Too_many_permission_entries_is_enospc()
    {
        var (_, guest) = Guest();
        guest.Write("p", "1");
        XsAssert.IsError(guest.Send(Msg.Of(T.SetPerms, "p", "n4", "r1", "r2", "r3", "r5", "r6")), "ENOSPC");
    }

    [Test]
    public void Transaction_touching_too_many_nodes_is_enospc_and_cannot_commit()
    {
        var (_, guest) = Guest(new XenStoreQuotas { NodesPerTransaction = 5 });
        var tx = guest.TransactionStart();
        XsMessage? last = null;
        for (int i = 0; i < 10; i++) last = guest.Send(Msg.Write($"t{i}", "1", tx));
        XsAssert.IsError(last!, "ENOSPC");
        XsAssert.IsError(guest.Send(Msg.InTx(tx, T.TransactionEnd, "T")), "ENOMEM");
    }

    [Test]
    public void Transaction_commit_respects_the_node_quota()
    {
        var (_, guest) = Guest(new XenStoreQuotas { NodesPerDomain = 4 });
        guest.Mkdir("sub"); // home + sub = 2 nodes
        var tx = guest.TransactionStart();
        guest.Write("a", "1", tx);
        guest.Write("b", "1", tx);
        var other = guest.Daemon.Connect(4);
        other.Write("sub/c", "1"); // 3 now; the commit would make 5
        XsAssert.IsError(guest.Send(Msg.InTx(tx, T.TransactionEnd, "T")), "ENOSPC");
    }
}
