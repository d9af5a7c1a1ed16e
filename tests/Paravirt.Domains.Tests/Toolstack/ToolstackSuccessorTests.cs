using NUnit.Framework;
using Paravirt.Domains.Toolstack;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Tests.Toolstack;

/// <summary>WaitForSuccessor: the domain an on_* restart builds (what `xl create -F` follows), or null when none will be.</summary>
public class ToolstackSuccessorTests
{
    private static DomainInfo Guest(ToolstackFixture f, string name, DomainAction onCrash)
    {
        var config = f.Config(name);
        config.OnCrash = onCrash;
        return f.Toolstack.Create(config, paused: true);
    }

    private static void Crash(ToolstackFixture f, DomainInfo d) => f.Hv.CrashDomain(f.Hv.GetDomain((ushort)d.DomId)!, "test crash");

    [Test]
    public void TheSuccessorOfARestartedDomainIsTheNewDomain()
    {
        using var f = new ToolstackFixture();
        var d = Guest(f, "phoenix", DomainAction.Restart);
        var next = f.Toolstack.WaitForSuccessor(d.DomId);
        Crash(f, d);
        Assert.That(next.Wait(TimeSpan.FromSeconds(10)), Is.True, f.Toolstack.Dmesg(false));
        Assert.That(next.Result, Is.Not.Null);
        Assert.That((next.Result!.Name, next.Result.DomId), Is.EqualTo(("phoenix", f.Toolstack.Find("phoenix").DomId)));
        Assert.That(next.Result.DomId, Is.Not.EqualTo(d.DomId));
    }

    [TestCase(DomainAction.Destroy)]
    [TestCase(DomainAction.Preserve)]
    [TestCase(DomainAction.CoredumpDestroy)]
    public void ADomainWhoseActionIsNotARestartHasNoSuccessor(DomainAction action)
    {
        using var f = new ToolstackFixture();
        f.Toolstack.CoreDumpDirectory = f.Dir;
        var d = Guest(f, "mortal", action);
        var next = f.Toolstack.WaitForSuccessor(d.DomId);
        Crash(f, d);
        Assert.That(next.Wait(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(next.Result, Is.Null);
    }

    [Test]
    public void ACancelledRestartLeavesNoSuccessor()
    {
        using var f = new ToolstackFixture();
        f.Toolstack.RestartDelay = TimeSpan.FromMinutes(10);
        var d = Guest(f, "loop", DomainAction.Restart);
        var next = f.Toolstack.WaitForSuccessor(d.DomId);
        var end = f.Toolstack.WaitForEnd(d.DomId);
        Crash(f, d);
        Assert.That(end.Wait(TimeSpan.FromSeconds(10)), Is.True);
        for (int i = 0; i < 500 && !f.Toolstack.CancelPendingRestart("loop"); i++) Thread.Sleep(10);
        Assert.That(next.Wait(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(next.Result, Is.Null);
    }

    [Test]
    public void AnExplicitDestroyLeavesNoSuccessor()
    {
        using var f = new ToolstackFixture();
        var d = Guest(f, "victim", DomainAction.Restart);
        var next = f.Toolstack.WaitForSuccessor(d.DomId);
        f.Toolstack.Destroy(d.DomId);
        Assert.That(next.Wait(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(next.Result, Is.Null);
    }
}

/// <summary>A waiter that asks just after a domain went still learns how it ended (what libxl's late watchers get).</summary>
public class ToolstackRecentlyEndedTests
{
    [Test]
    public void WaitingForADomainThatHasJustGoneGivesItsEnd()
    {
        using var f = new ToolstackFixture();
        var d = f.Toolstack.Create(f.Config("brief"), paused: true);
        var first = f.Toolstack.WaitForEnd(d.DomId);
        f.Hv.CrashDomain(f.Hv.GetDomain((ushort)d.DomId)!, "test crash");
        Assert.That(first.Wait(TimeSpan.FromSeconds(10)), Is.True);

        var late = f.Toolstack.WaitForEnd(d.DomId);
        Assert.That(late.IsCompleted, Is.True);
        Assert.That(late.Result.Reason, Is.EqualTo(ShutdownReason.Crash));
        Assert.That(f.Toolstack.WaitForSuccessor(d.DomId).Wait(TimeSpan.FromSeconds(10)), Is.True);
    }

    [Test]
    public void ADomainThatNeverExistedIsStillAnInvalidIdentifier()
    {
        using var f = new ToolstackFixture();
        Assert.That(() => f.Toolstack.WaitForEnd(4000), Throws.TypeOf<ToolstackException>());
    }
}
