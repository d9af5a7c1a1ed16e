using NUnit.Framework;
using Paravirt.Domains.Toolstack;

namespace Paravirt.Tools.Tests;

/// <summary>xl create -F: it stays with the domain through on_* restarts and logs each death as xl does.</summary>
public class XlCreateForegroundTests
{
    private DaemonHarness _daemon = null!;
    private string _kernel = null!;

    [SetUp]
    public void Start()
    {
        _daemon = DaemonHarness.Start();
        _kernel = Path.Combine(_daemon.Directory, "kernel.elf");
        File.WriteAllBytes(_kernel, [0x7F, (byte)'E', (byte)'L', (byte)'F']);
    }

    [TearDown]
    public async Task Stop() => await _daemon.DisposeAsync();

    private string GuestConfig(string extra = "")
    {
        string path = Path.Combine(_daemon.Directory, "guest.cfg");
        File.WriteAllText(path, $"name = \"guest\"\nmemory = 64\nkernel = \"{_kernel}\"\n{extra}");
        return path;
    }

    /// <summary>The id of the domain called guest once it exists (and a Wait request is parked on it).</summary>
    private async Task<uint> DomainAsync(uint notId = 0)
    {
        for (int i = 0; i < 400; i++)
        {
            var found = _daemon.Toolstack.List().FirstOrDefault(d => d.Name == "guest" && d.DomId != notId);
            if (found is not null)
            {
                await Task.Delay(150); // let xl's wait request reach the daemon
                return found.DomId;
            }
            await Task.Delay(25);
        }
        throw new AssertionException("the domain never appeared");
    }

    [Test]
    public async Task ForegroundCreateStaysAttachedAcrossARebootRestart()
    {
        var xl = _daemon.RunXlAsync(["create", "-q", "-F", GuestConfig()]);
        uint first = await DomainAsync();
        var second = _daemon.Toolstack.EndAndRestart(first, new DomainEnd(ShutdownReason.Reboot, false, null));
        await Task.Delay(300);
        Assert.That(xl.IsCompleted, Is.False, "xl create -F left after the first incarnation");

        _daemon.Toolstack.End(second.DomId, new DomainEnd(ShutdownReason.Poweroff, false, null));
        var run = await xl;

        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Error.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[]
        {
            $"Domain {first} has shut down, reason code 1 0x1",
            "Action for shutdown reason code 1 is restart",
            $"Domain {first} needs to be cleaned up: destroying the domain",
            "Done. Rebooting now",
            $"Domain {second.DomId} has shut down, reason code 0 0x0",
            "Action for shutdown reason code 0 is destroy",
            $"Domain {second.DomId} needs to be cleaned up: destroying the domain",
            "Done. Exiting now",
        }));
    }

    [Test]
    public async Task ForegroundCreateFollowsACrashRestartThenExitsWhenTheDomainIsDestroyed()
    {
        var xl = _daemon.RunXlAsync(["create", "-q", "-F", GuestConfig("on_crash = \"restart\"\n")]);
        uint first = await DomainAsync();
        var second = _daemon.Toolstack.EndAndRestart(first, new DomainEnd(ShutdownReason.Crash, false, "page fault"));
        await DomainAsync(notId: first);
        _daemon.Toolstack.Destroy(second.DomId);
        var run = await xl;

        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Error, Does.Contain("Action for shutdown reason code 3 is restart"));
        Assert.That(run.Error, Does.Contain($"Domain {first} (guest) crashed: page fault"));
        Assert.That(run.Error, Does.EndWith($"Domain {second.DomId} has been destroyed.{Environment.NewLine}"));
    }

    [Test]
    public async Task ForegroundCreateOfAPreservedDomainExitsWithoutCleaningUp()
    {
        var xl = _daemon.RunXlAsync(["create", "-q", "-F", GuestConfig("on_poweroff = \"preserve\"\n")]);
        uint id = await DomainAsync();
        _daemon.Toolstack.End(id, new DomainEnd(ShutdownReason.Poweroff, false, null));
        var run = await xl;

        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Error, Does.Contain("Action for shutdown reason code 0 is preserve"));
        Assert.That(run.Error, Does.Not.Contain("cleaned up"));
        Assert.That(run.Error, Does.EndWith($"Done. Exiting now{Environment.NewLine}"));
    }
}
