using NUnit.Framework;

namespace Paravirt.EndToEnd.Tests;

/// <summary>xl shutdown/reboot/rename/mem-set/info/uptime against real guests through paravirtd.</summary>
[NonParallelizable]
public class LifecycleTests
{
    private Xl _xl = null!;

    [OneTimeSetUp]
    public void Start() => _xl = new Xl();

    [OneTimeTearDown]
    public void Stop() => _xl.Dispose();

    private static string Guest(string relative) => Path.Combine(Xl.GuestBuild, relative);

    private IEnumerable<string> ListedNames() =>
        _xl.Run("list").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(' ', 2)[0]);

    [Test]
    public void ShutdownWaitReturnsAfterACooperatingGuestPoweredOff()
    {
        var cfg = _xl.GuestConfig("polite", Guest("tests/shutdown"));
        Assert.That(_xl.Run("create", cfg).ExitCode, Is.Zero);
        var r = _xl.Run("shutdown", "-w", "polite");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stderr, Does.Contain("has been shut down, reason code 0"), r.ToString());
        Assert.That(ListedNames(), Does.Not.Contain("polite"));
    }

    [Test]
    public void RebootOfACooperatingGuestRestartsItUnderTheSameName()
    {
        var cfg = _xl.GuestConfig("phoenix", Guest("tests/shutdown"));
        Assert.That(_xl.Run("create", cfg).ExitCode, Is.Zero);
        string before = _xl.Run("domid", "phoenix").Stdout.Trim();
        var r = _xl.Run("reboot", "-w", "phoenix");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stderr, Does.Contain("reason code 1"), r.ToString());
        Assert.That(Xl.WaitUntil(() => _xl.Run("domid", "phoenix") is { ExitCode: 0 } d && d.Stdout.Trim() != before, TimeSpan.FromSeconds(20)),
            Is.True, "restarted with a new domid (on_reboot=restart)");
        Assert.That(_xl.Run("destroy", "phoenix").ExitCode, Is.Zero);
    }

    [Test]
    public void ForegroundCreateStaysAttachedThroughARebootAndExitsAfterThePoweroff()
    {
        var cfg = _xl.GuestConfig("stayer", Guest("tests/shutdown"));
        using var foreground = _xl.Start("create", "-F", cfg);
        Assert.That(Xl.WaitUntil(() => _xl.Run("domid", "stayer").ExitCode == 0, TimeSpan.FromSeconds(30)), Is.True, foreground.Output);
        string first = _xl.Run("domid", "stayer").Stdout.Trim();

        Assert.That(_xl.Run("reboot", "-w", "stayer").ExitCode, Is.Zero);
        Assert.That(Xl.WaitUntil(() => _xl.Run("domid", "stayer") is { ExitCode: 0 } d && d.Stdout.Trim() != first, TimeSpan.FromSeconds(30)),
            Is.True, "restarted: " + foreground.Output);
        Assert.That(foreground.Process.HasExited, Is.False, "xl create -F left at the restart: " + foreground.Output);

        Assert.That(_xl.Run("shutdown", "-w", "stayer").ExitCode, Is.Zero);
        Assert.That(foreground.Process.WaitForExit(30_000), Is.True, foreground.Output);
        foreground.Process.WaitForExit(); // flush the asynchronous output readers
        Assert.That(foreground.Process.ExitCode, Is.Zero, foreground.Output);
        Assert.That(foreground.Output, Does.Contain($"Domain {first} has shut down, reason code 1 0x1\nAction for shutdown reason code 1 is restart\n"));
        Assert.That(foreground.Output, Does.Contain("Done. Rebooting now\n"));
        Assert.That(foreground.Output, Does.EndWith("Action for shutdown reason code 0 is destroy\n"
            + $"Domain {LastShutDownDomid(foreground.Output)} needs to be cleaned up: destroying the domain\nDone. Exiting now\n"));
    }

    /// <summary>The domid in the last "has shut down" line of an xl create -F log.</summary>
    private static string LastShutDownDomid(string log) =>
        System.Text.RegularExpressions.Regex.Matches(log, @"Domain (\d+) has shut down").Last().Groups[1].Value;

    [Test]
    public void RenameMemSetAndDomnameWorkOnARunningGuest()
    {
        var cfg = _xl.GuestConfig("before", Guest("tests/spin"), extra: "maxmem = 48\n");
        Assert.That(_xl.Run("create", cfg).ExitCode, Is.Zero);
        Assert.That(_xl.Run("rename", "before", "after").ExitCode, Is.Zero);
        string id = _xl.Run("domid", "after").Stdout.Trim();
        Assert.That(_xl.Run("domname", id).Stdout.Trim(), Is.EqualTo("after"));
        Assert.That(_xl.Run("mem-set", "after", "24m").ExitCode, Is.Zero);
        var tooBig = _xl.Run("mem-set", "after", "64m");
        Assert.That(tooBig.ExitCode, Is.EqualTo(1), tooBig.ToString());
        var vcpus = _xl.Run("vcpu-list", "after");
        Assert.That(vcpus.Stdout.Split('\n')[1], Does.StartWith("after "), vcpus.ToString());
        var json = _xl.Run("list", "-l", "after");
        Assert.That(json.Stdout, Does.Contain("\"name\": \"after\""), json.ToString());
        Assert.That(_xl.Run("destroy", "after").ExitCode, Is.Zero);
    }

    [Test]
    public void InfoReportsXenCapsAndUptimeListsDomain0()
    {
        var info = _xl.Run("info");
        Assert.That(info.ExitCode, Is.Zero, info.ToString());
        Assert.That(info.Stdout, Does.Contain("xen_caps               : xen-3.0-x86_64"));
        var uptime = _xl.Run("uptime");
        Assert.That(uptime.Stdout, Does.StartWith("Name                                ID Uptime\nDomain-0 "), uptime.ToString());
    }

    [Test]
    public void OnCrashPreserveKeepsTheCrashedGuestForDmesg()
    {
        var cfg = _xl.GuestConfig("kept", Guest("tests/crash"), extra: "on_crash = \"preserve\"\n");
        Assert.That(_xl.Run("create", cfg).ExitCode, Is.Zero);
        Assert.That(Xl.WaitUntil(() => _xl.Run("list", "kept").Stdout.Split('\n')[1].Contains("sc-"), TimeSpan.FromSeconds(30)),
            Is.True, "listed as crashed: " + _xl.Run("list", "kept"));
        Assert.That(_xl.Run("dmesg").Stdout, Does.Contain("crashed"));
        Assert.That(_xl.Run("destroy", "kept").ExitCode, Is.Zero);
    }

    /// <summary>The domids the hypervisor log says were created under <paramref name="name"/>, in order.</summary>
    private List<string> CreatedDomids(string name) =>
        System.Text.RegularExpressions.Regex.Matches(_xl.Run("dmesg").Stdout, $@"\(XEN\) d(\d+): created ""{name}""")
            .Select(m => m.Groups[1].Value).ToList();

    [Test]
    public void OnCrashRestartBuildsTheGuestAgain()
    {
        // The crash guest faults within milliseconds of starting, so it is found through the log rather than `xl list`:
        // each incarnation is torn down, and after xl's 2 s pause ("Done. Rebooting now") built again under a new domid.
        var cfg = _xl.GuestConfig("again", Guest("tests/crash"), extra: "on_crash = \"restart\"\n");
        Assert.That(_xl.Run("create", cfg).ExitCode, Is.Zero);
        Assert.That(Xl.WaitUntil(() => CreatedDomids("again").Distinct().Count() >= 2, TimeSpan.FromSeconds(30)),
            Is.True, "restarted under a new domid: " + _xl.Run("dmesg").Stdout);
        Assert.That(_xl.Run("dmesg").Stdout, Does.Contain("done. Rebooting \"again\""));

        // `xl destroy again` succeeds whether it meets a live incarnation or the pause between two (then it cancels
        // the restart), and the crash loop stops.
        var destroy = _xl.Run("destroy", "again");
        Assert.That(destroy.ExitCode, Is.Zero, destroy.ToString());
        int created = CreatedDomids("again").Count;
        Thread.Sleep(3000); // past the 2 s restart pause: an ordering precondition, not a timing assertion
        Assert.That(CreatedDomids("again"), Has.Count.EqualTo(created), "no incarnation after the destroy: " + _xl.Run("dmesg").Stdout);
        Assert.That(_xl.Run("domid", "again").ExitCode, Is.Not.Zero);
    }
}
