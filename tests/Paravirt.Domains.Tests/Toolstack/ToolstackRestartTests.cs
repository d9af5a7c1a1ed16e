using NUnit.Framework;
using Paravirt.Domains.Toolstack;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Tests.Toolstack;

/// <summary>on_*=restart: the pause before re-creation (xl's sleep(2)) and `xl destroy` cancelling a pending restart.</summary>
public class ToolstackRestartTests
{
    private static bool WaitFor(Func<bool> condition)
    {
        for (int i = 0; i < 1000; i++)
        {
            if (condition()) return true;
            Thread.Sleep(10);
        }
        return condition();
    }

    private static DomainInfo CrashingGuest(ToolstackFixture f, string name, DomainAction onCrash = DomainAction.Restart)
    {
        var config = f.Config(name);
        config.OnCrash = onCrash;
        return f.Toolstack.Create(config, paused: true);
    }

    private static void Crash(ToolstackFixture f, DomainInfo d) =>
        f.Hv.CrashDomain(f.Hv.GetDomain((ushort)d.DomId)!, "test crash");

    private static bool Found(ToolstackFixture f, string name)
    {
        try { f.Toolstack.Find(name); return true; }
        catch (ToolstackException) { return false; }
    }

    [Test]
    public void TheDefaultRestartDelayIsXlsTwoSeconds()
    {
        using var f = new ToolstackFixture();
        using var ts = new Domains.Toolstack.Toolstack(f.Hv, f.XenStore, f.Consoled);
        Assert.That(ts.RestartDelay, Is.EqualTo(TimeSpan.FromSeconds(2)));
    }

    [Test]
    public void ANegativeRestartDelayIsRefused()
    {
        using var f = new ToolstackFixture();
        Assert.That(() => f.Toolstack.RestartDelay = TimeSpan.FromSeconds(-1), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void ACrashedGuestIsRebuiltUnderANewDomidAfterTheDelay()
    {
        using var f = new ToolstackFixture();
        var d = CrashingGuest(f, "again");
        var end = f.Toolstack.WaitForEnd(d.DomId);
        Crash(f, d);
        Assert.That(end.Wait(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(WaitFor(() => Found(f, "again")), Is.True, f.Toolstack.Dmesg(false));
        Assert.That(f.Toolstack.Find("again").DomId, Is.Not.EqualTo(d.DomId));
        Assert.That(f.Toolstack.Dmesg(false), Does.Contain("done. Rebooting \"again\""));
    }

    [Test]
    public void CancellingThePendingRestartByNameStopsTheCrashLoop()
    {
        using var f = new ToolstackFixture();
        f.Toolstack.RestartDelay = TimeSpan.FromMinutes(10); // the restart stays pending for the whole test
        var d = CrashingGuest(f, "loop");
        var end = f.Toolstack.WaitForEnd(d.DomId);
        Crash(f, d);
        Assert.That(end.Wait(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(WaitFor(() => f.Toolstack.Dmesg(false).Contains("done. Rebooting \"loop\"")), Is.True);
        Assert.That(Found(f, "loop"), Is.False, "no domain exists while the restart waits");

        Assert.That(f.Toolstack.CancelPendingRestart("loop"), Is.True);
        Assert.That(f.Toolstack.CancelPendingRestart("loop"), Is.False, "a restart is cancelled once");
        Assert.That(f.Toolstack.Dmesg(false), Does.Contain("restart of \"loop\" cancelled by destroy"));
        Assert.That(f.Toolstack.List().Select(x => x.Name), Is.EquivalentTo(new[] { "Domain-0" }));
    }

    [Test]
    public void CancellingARestartOfAnotherNameDoesNothing()
    {
        using var f = new ToolstackFixture();
        f.Toolstack.RestartDelay = TimeSpan.FromMinutes(10);
        var d = CrashingGuest(f, "loop");
        Crash(f, d);
        Assert.That(WaitFor(() => f.Toolstack.Dmesg(false).Contains("done. Rebooting")), Is.True);
        Assert.That(f.Toolstack.CancelPendingRestart("other"), Is.False);
        Assert.That(f.Toolstack.CancelPendingRestart("loop"), Is.True);
    }

    [Test]
    public void ARestartCancelledDuringTheDelayNeverBuildsTheDomain()
    {
        using var f = new ToolstackFixture();
        f.Toolstack.RestartDelay = TimeSpan.FromMilliseconds(300);
        var d = CrashingGuest(f, "stopped");
        Crash(f, d);
        Assert.That(WaitFor(() => f.Toolstack.Dmesg(false).Contains("done. Rebooting")), Is.True);
        Assert.That(f.Toolstack.CancelPendingRestart("stopped"), Is.True);
        // The cancelled timer must not fire a build later: a second crash-restart of another guest goes through the
        // same machinery and completes, after which "stopped" must still be absent.
        f.Toolstack.RestartDelay = TimeSpan.Zero;
        var other = CrashingGuest(f, "witness");
        Crash(f, other);
        Assert.That(WaitFor(() => Found(f, "witness")), Is.True);
        Thread.Sleep(400); // past the cancelled restart's 300 ms: an ordering precondition, not a timing assertion
        Assert.That(Found(f, "stopped"), Is.False);
    }

    [Test]
    public void ADestroyRacingTheCrashHandlerNeverLetsTheDomainComeBack()
    {
        using var f = new ToolstackFixture();
        f.Toolstack.RestartDelay = TimeSpan.FromMilliseconds(100);
        for (int round = 0; round < 20; round++)
        {
            var d = CrashingGuest(f, "racer");
            Crash(f, d);
            // What paravirtd does for `xl destroy racer`: the domain if it still has a domid, else its pending restart.
            try { f.Toolstack.Destroy(d.DomId); }
            catch (ToolstackException) { f.Toolstack.CancelPendingRestart("racer"); }
            Thread.Sleep(150); // past the restart delay: an ordering precondition, not a timing assertion
            Assert.That(Found(f, "racer"), Is.False, $"round {round}: " + f.Toolstack.Dmesg(false));
        }
    }

    [Test]
    public void DisposingTheToolstackCancelsPendingRestarts()
    {
        var f = new ToolstackFixture();
        f.Toolstack.RestartDelay = TimeSpan.FromMilliseconds(200);
        var d = CrashingGuest(f, "late");
        Crash(f, d);
        Assert.That(WaitFor(() => f.Toolstack.Dmesg(false).Contains("done. Rebooting")), Is.True);
        Assert.DoesNotThrow(f.Dispose);
        Thread.Sleep(300); // the cancelled restart must not touch the disposed hypervisor
        Assert.That(f.Toolstack.CancelPendingRestart("late"), Is.False);
    }

    [Test]
    public void ThePreserveSuffixIsXlsUtcMinute() =>
        Assert.That(Domains.Toolstack.Toolstack.PreserveSuffix(new DateTime(2026, 12, 6, 7, 5, 59, DateTimeKind.Utc)), Is.EqualTo("-20261206T0705Z"));

    [Test]
    public void RenameRestartAlsoWaitsAndCanBeCancelled()
    {
        using var f = new ToolstackFixture();
        f.Toolstack.RestartDelay = TimeSpan.FromMinutes(10);
        var d = CrashingGuest(f, "phoenix", DomainAction.RenameRestart);
        Crash(f, d);
        Assert.That(WaitFor(() => f.Toolstack.Dmesg(false).Contains("done. Rebooting \"phoenix\"")), Is.True);
        Assert.That(f.Toolstack.List().Select(x => x.Name).Where(n => n != "Domain-0").Single(), Does.Match(@"^phoenix-\d{8}T\d{4}Z$"));
        Assert.That(f.Toolstack.CancelPendingRestart("phoenix"), Is.True);
    }
}
