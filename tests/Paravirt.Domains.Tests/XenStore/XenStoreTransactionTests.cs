using NUnit.Framework;
using Paravirt.Domains.XenStore;
using T = Paravirt.Domains.XenStore.XsMessageType;

namespace Paravirt.Domains.Tests.XenStore;

/// <summary>TRANSACTION_START / TRANSACTION_END: isolation, commit, abort, and EAGAIN on conflict.</summary>
public class XenStoreTransactionTests
{
    private XenStoreDaemon _daemon = null!;
    private XenStoreLocalConnection _a = null!;
    private XenStoreLocalConnection _b = null!;

    [SetUp]
    public void SetUp()
    {
        _daemon = new XenStoreDaemon();
        _a = _daemon.Connect(0);
        _b = _daemon.Connect(0);
    }

    [TearDown]
    public void NoInternalFaults() => Assert.That(_daemon.InternalFaults, Is.Zero);

    [Test]
    public void Start_answers_a_nonzero_decimal_id()
    {
        var reply = _a.Send(Msg.Of(T.TransactionStart, ""));
        Assert.That(uint.Parse(reply.PayloadText()), Is.Not.Zero);
    }

    [Test]
    public void Writes_in_a_transaction_are_invisible_outside_until_commit()
    {
        var tx = _a.TransactionStart();
        _a.Write("/t/x", "1", tx);
        Assert.That(_b.TryReadString("/t/x"), Is.Null);
        Assert.That(_a.ReadString("/t/x", tx), Is.EqualTo("1"));
        Assert.That(_a.TransactionEnd(tx, commit: true), Is.True);
        Assert.That(_b.ReadString("/t/x"), Is.EqualTo("1"));
    }

    [Test]
    public void Abort_discards_the_changes()
    {
        var tx = _a.TransactionStart();
        _a.Write("/t/x", "1", tx);
        XsAssert.IsOk(_a.Send(Msg.InTx(tx, T.TransactionEnd, "F")), T.TransactionEnd);
        Assert.That(_b.TryReadString("/t/x"), Is.Null);
    }

    [Test]
    public void Conflicting_write_makes_the_commit_eagain()
    {
        _a.Write("/c", "0");
        var tx = _a.TransactionStart();
        _a.ReadString("/c", tx);
        _a.Write("/c", "from-tx", tx);
        _b.Write("/c", "outside");
        XsAssert.IsError(_a.Send(Msg.InTx(tx, T.TransactionEnd, "T")), "EAGAIN");
        Assert.That(_b.ReadString("/c"), Is.EqualTo("outside"));
    }

    [Test]
    public void Node_created_outside_after_the_transaction_looked_for_it_conflicts()
    {
        var tx = _a.TransactionStart();
        Assert.That(_a.TryReadString("/n", tx), Is.Null);
        _a.Write("/n", "tx", tx);
        _b.Write("/n", "outside");
        Assert.That(_a.TransactionEnd(tx, commit: true), Is.False);
    }

    [Test]
    public void Unrelated_write_does_not_conflict()
    {
        _a.Write("/c", "0");
        var tx = _a.TransactionStart();
        _a.Write("/c", "1", tx);
        _b.Write("/elsewhere", "x");
        Assert.That(_a.TransactionEnd(tx, commit: true), Is.True);
    }

    [Test]
    public void Transaction_is_gone_after_end_even_when_it_conflicted()
    {
        _a.Write("/c", "0");
        var tx = _a.TransactionStart();
        _a.Write("/c", "1", tx);
        _b.Write("/c", "2");
        _a.TransactionEnd(tx, commit: true);
        XsAssert.IsError(_a.Send(Msg.InTx(tx, T.Read, "/c")), "ENOENT");
    }

    [Test]
    public void Watches_fire_only_when_the_transaction_commits()
    {
        _b.Watch("/t", "tok");
        XsAssert.Drain(_b);
        var tx = _a.TransactionStart();
        _a.Write("/t/x", "1", tx);
        Assert.That(XsAssert.Drain(_b), Is.Empty);
        _a.TransactionEnd(tx, commit: true);
        Assert.That(XsAssert.Drain(_b), Is.EqualTo(new[] { new XsWatchEvent("/t/x", "tok") }));
    }

    [Test]
    public void Aborted_transaction_fires_no_watches()
    {
        _b.Watch("/t", "tok");
        XsAssert.Drain(_b);
        var tx = _a.TransactionStart();
        _a.Write("/t/x", "1", tx);
        _a.TransactionEnd(tx, commit: false);
        Assert.That(XsAssert.Drain(_b), Is.Empty);
    }

    [Test]
    public void Rm_inside_a_transaction_applies_on_commit()
    {
        _a.Write("/r/x/y", "1");
        var tx = _a.TransactionStart();
        _a.Rm("/r/x", tx);
        Assert.That(_b.ReadString("/r/x/y"), Is.EqualTo("1"));
        _a.TransactionEnd(tx, commit: true);
        Assert.That(_b.TryReadString("/r/x/y"), Is.Null);
        Assert.That(_b.Directory("/r"), Is.Empty);
    }

    [Test]
    public void Start_inside_a_transaction_is_ebusy()
    {
        var tx = _a.TransactionStart();
        XsAssert.IsError(_a.Send(Msg.InTx(tx, T.TransactionStart, "")), "EBUSY");
    }

    [Test]
    public void End_without_a_transaction_is_enoent() =>
        XsAssert.IsError(_a.Send(Msg.Of(T.TransactionEnd, "T")), "ENOENT");

    [TestCase("X")]
    [TestCase("TT")]
    [TestCase("")]
    public void End_with_anything_but_T_or_F_is_einval(string arg)
    {
        var tx = _a.TransactionStart();
        XsAssert.IsError(_a.Send(Msg.InTx(tx, T.TransactionEnd, arg)), "EINVAL");
    }

    [Test]
    public void Transaction_ids_belong_to_their_connection()
    {
        var tx = _a.TransactionStart();
        XsAssert.IsError(_b.Send(Msg.InTx(tx, T.Read, "/tool")), "ENOENT");
    }

    [Test]
    public void Guest_may_not_exceed_its_transaction_quota()
    {
        var daemon = new XenStoreDaemon(new XenStoreQuotas { TransactionsPerDomain = 2 });
        var guest = daemon.Connect(4);
        guest.TransactionStart();
        guest.TransactionStart();
        XsAssert.IsError(guest.Send(Msg.Of(T.TransactionStart, "")), "ENOSPC");
    }

    [Test]
    public void Concurrent_increments_with_retry_lose_no_update()
    {
        _a.Write("/counter", "0");
        var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            var c = _daemon.Connect(0);
            for (int i = 0; i < 100; i++)
            {
                while (true)
                {
                    var tx = c.TransactionStart();
                    int v = int.Parse(c.ReadString("/counter", tx));
                    c.Write("/counter", (v + 1).ToString(), tx);
                    if (c.TransactionEnd(tx, commit: true)) break;
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.That(_a.ReadString("/counter"), Is.EqualTo("400"));
    }
}
