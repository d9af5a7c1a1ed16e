using NUnit.Framework;

namespace Paravirt.EndToEnd.Tests;

/// <summary>Guests booted for real through `xl` and `paravirtd` on the emulated CPU.</summary>
[NonParallelizable]
public class BootTests
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
    public void HelloPrintsItsDomainIdAndXlExitsZeroAtPoweroff()
    {
        var r = _xl.Run("create", "-c", Path.Combine(Xl.RepoRoot, "xl-config", "examples", "hello.cfg"), "name=hello-c");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Match(@"Hello from Paravirt domain [1-9][0-9]*\n"), r.ToString());
        Assert.That(Xl.WaitUntil(() => !ListedNames().Contains("hello-c"), TimeSpan.FromSeconds(10)), Is.True, "destroyed after poweroff");
    }

    [Test]
    public void ConsoleAttachedToAPausedDomainShowsTheWholeOutputFromTheFirstCharacter()
    {
        var cfg = Path.Combine(Xl.RepoRoot, "xl-config", "examples", "hello.cfg");
        var create = _xl.Run("create", "-p", cfg, "name=hello-p");
        Assert.That(create.ExitCode, Is.Zero, create.ToString());
        using var console = _xl.Start("console", "hello-p");
        Thread.Sleep(500); // let the console attach before the guest runs
        var unpause = _xl.Run("unpause", "hello-p");
        Assert.That(unpause.ExitCode, Is.Zero, unpause.ToString());
        Assert.That(console.Process.WaitForExit(60_000), Is.True, "console exits when the domain dies: " + console.Output);
        Assert.That(console.Output, Does.StartWith("Hello from Paravirt domain "), console.Output);
    }

    [Test]
    public void DestroyStopsAGuestSpinningInAnEndlessLoop()
    {
        var cfg = _xl.GuestConfig("spinner", Guest("tests/spin"));
        Assert.That(_xl.Run("create", cfg).ExitCode, Is.Zero);
        Assert.That(ListedNames(), Does.Contain("spinner"));
        var d = _xl.Run("destroy", "spinner");
        Assert.That(d.ExitCode, Is.Zero, d.ToString());
        Assert.That(ListedNames(), Does.Not.Contain("spinner"));
    }

    [Test]
    public void AGuestThatFaultsIsCrashedAndCreateConsoleExitsNonZero()
    {
        var cfg = _xl.GuestConfig("crasher", Guest("tests/crash"));
        var r = _xl.Run("create", "-c", cfg);
        Assert.That(r.ExitCode, Is.Not.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain("about to fault"), r.ToString());
        var dmesg = _xl.Run("dmesg").Stdout;
        Assert.That(dmesg, Does.Contain("Unhandled page fault"));
        Assert.That(dmesg, Does.Contain("crashed"));
    }

    [Test]
    public void TheVersionGuestSeesXensVersionAndCapabilities()
    {
        var r = _xl.Run("create", "-c", _xl.GuestConfig("version", Guest("tests/version")));
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain("4.19"), r.ToString());
        Assert.That(r.Stdout, Does.Contain("xen-3.0-x86_64"), r.ToString());
    }

    [Test]
    public void ListShowsDomain0First()
    {
        var lines = _xl.Run("list").Stdout.Split('\n');
        Assert.That(lines[0], Does.StartWith("Name"));
        Assert.That(lines[1], Does.StartWith("Domain-0"));
    }
}
