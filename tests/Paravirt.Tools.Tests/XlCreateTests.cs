using NUnit.Framework;
using Paravirt.Domains.Toolstack;

namespace Paravirt.Tools.Tests;

/// <summary>xl create end to end against paravirtd's server with a fake toolstack: config parsed locally, then sent.</summary>
public class XlCreateTests
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

    private string Config(string name, string body)
    {
        string path = Path.Combine(_daemon.Directory, name + ".cfg");
        File.WriteAllText(path, body);
        return path;
    }

    private string GuestConfig(string name) => Config(name, $"name = \"{name}\"\nmemory = 64\nvcpus = 1\nkernel = \"{_kernel}\"\n");

    [Test]
    public async Task CreateBuildsTheDomainTheFileDescribes()
    {
        var run = await _daemon.RunXlAsync(["create", GuestConfig("guest")]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var domain = _daemon.Toolstack.List().Single();
        Assert.That((domain.Name, domain.MemoryMiB), Is.EqualTo(("guest", 64L)));
    }

    [Test]
    public async Task CreateAnnouncesTheConfigFileOnStderr()
    {
        string cfg = GuestConfig("guest");
        var run = await _daemon.RunXlAsync(["create", cfg]);
        Assert.That(run.Error, Is.EqualTo($"Parsing config from {cfg}{Environment.NewLine}"));
    }

    [Test]
    public async Task CommandLineSettingsOverrideTheFile()
    {
        var run = await _daemon.RunXlAsync(["create", GuestConfig("guest"), "memory=32", "name=other"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var domain = _daemon.Toolstack.List().Single();
        Assert.That((domain.Name, domain.MemoryMiB), Is.EqualTo(("other", 32L)));
    }

    [Test]
    public async Task ASyntaxErrorIsReportedWithFileLineAndColumnAndNothingIsCreated()
    {
        string cfg = Config("broken", "name = \"x\"\nthis is not a setting\n");
        var run = await _daemon.RunXlAsync(["create", cfg]);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Error, Does.Match(@"broken\.cfg:2:\d+: "));
        Assert.That(_daemon.Toolstack.List(), Is.Empty);
    }

    [Test]
    public async Task CreatePausedLeavesTheDomainPaused()
    {
        await _daemon.RunXlAsync(["create", "-p", GuestConfig("guest")]);
        Assert.That(_daemon.Toolstack.IsPaused(_daemon.Toolstack.List().Single().DomId), Is.True);
    }

    [Test]
    public async Task CreateRefusedByTheToolstackFailsWithItsLine()
    {
        _daemon.Toolstack.CreateFailure = "not enough memory for a 64 MiB domain";
        var run = await _daemon.RunXlAsync(["create", "-q", GuestConfig("guest")]);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Error, Is.EqualTo("not enough memory for a 64 MiB domain" + Environment.NewLine));
    }

    [TestCase(ShutdownReason.Poweroff, 0)]
    [TestCase(ShutdownReason.Crash, 1)]
    public async Task CreateWithConsolePrintsTheGuestAndExitsByHowItEnded(ShutdownReason reason, int exitCode)
    {
        var xl = _daemon.RunXlAsync(["create", "-c", GuestConfig("guest")]);
        for (int i = 0; i < 400 && _daemon.Toolstack.List().Count == 0; i++)
            await Task.Delay(25);
        uint id = _daemon.Toolstack.List().Single().DomId;
        await _daemon.WaitForListenerAsync(id);
        _daemon.Toolstack.Print(id, "Hello from Paravirt domain 1\n");
        _daemon.Toolstack.End(id, new DomainEnd(reason, false, reason == ShutdownReason.Crash ? "page fault" : null));

        var run = await xl;

        Assert.That(run.ExitCode, Is.EqualTo(exitCode), run.Error);
        Assert.That(run.Console, Is.EqualTo("Hello from Paravirt domain 1\n"));
    }

    [Test]
    public async Task ACrashSeenThroughCreateConsoleIsReportedOnStderr()
    {
        var xl = _daemon.RunXlAsync(["create", "-q", "-c", GuestConfig("guest")]);
        for (int i = 0; i < 400 && _daemon.Toolstack.List().Count == 0; i++)
            await Task.Delay(25);
        uint id = _daemon.Toolstack.List().Single().DomId;
        await _daemon.WaitForListenerAsync(id);
        _daemon.Toolstack.End(id, new DomainEnd(ShutdownReason.Crash, false, "page fault at 0x10"));

        var run = await xl;

        Assert.That(run.Error, Is.EqualTo($"Domain {id} (guest) crashed: page fault at 0x10{Environment.NewLine}"));
    }

    [Test]
    public async Task CreateForegroundWaitsForTheDomainToDie()
    {
        var xl = _daemon.RunXlAsync(["create", "-F", GuestConfig("guest")]);
        for (int i = 0; i < 400 && _daemon.Toolstack.List().Count == 0; i++)
            await Task.Delay(25);
        await Task.Delay(100);
        Assert.That(xl.IsCompleted, Is.False);
        _daemon.Toolstack.End(_daemon.Toolstack.List().Single().DomId, new DomainEnd(ShutdownReason.Poweroff, false, null));
        Assert.That((await xl).ExitCode, Is.EqualTo(0));
    }

    [Test]
    public async Task DryRunPrintsTheConfigAsLibxlJsonAndCreatesNothing()
    {
        var run = await _daemon.RunXlAsync(["create", "-n", GuestConfig("guest")]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var printed = Newtonsoft.Json.Linq.JObject.Parse(run.Out);
        Assert.That(printed["domid"]?.Type, Is.EqualTo(Newtonsoft.Json.Linq.JTokenType.Null), "no domain yet: xl prints domid null");
        var config = printed["config"]!;
        Assert.That((string?)config["c_info"]?["name"], Is.EqualTo("guest"));
        Assert.That((long?)config["b_info"]?["target_memkb"], Is.EqualTo(64 * 1024));
        Assert.That(_daemon.Toolstack.List(), Is.Empty);
    }
}
