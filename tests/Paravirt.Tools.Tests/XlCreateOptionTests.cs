using NUnit.Framework;

namespace Paravirt.Tools.Tests;

/// <summary>xl create's options of xl(1): -q, -f, key=value overrides, and the parse warnings on stderr.</summary>
public class XlCreateOptionTests
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

    private string Config(string name, string more = "")
    {
        string path = Path.Combine(_daemon.Directory, name + ".cfg");
        File.WriteAllText(path, $"name = \"{name}\"\nmemory = 64\nkernel = \"{_kernel}\"\n{more}");
        return path;
    }

    [Test]
    public async Task QuietLeavesOutTheParsingLine()
    {
        var run = await _daemon.RunXlAsync(["create", "-q", Config("guest")]);
        Assert.That(run.ExitCode, Is.Zero, run.Error);
        Assert.That(run.Error, Is.Empty);
    }

    [Test]
    public async Task DashFNamesTheConfigFileAndEveryOperandIsAnOverride()
    {
        string cfg = Config("guest");
        var run = await _daemon.RunXlAsync(["create", "-f", cfg, "name=renamed"]);
        Assert.That(run.ExitCode, Is.Zero, run.Error);
        Assert.That(_daemon.Toolstack.List().Single().Name, Is.EqualTo("renamed"));
    }

    [Test]
    public async Task AQuotedStringOverrideReplacesTheFilesCommandLine()
    {
        var run = await _daemon.RunXlAsync(["create", "-n", Config("guest", "extra = \"from-file\"\n"), "extra=\"from the command line\""]);
        Assert.That(run.ExitCode, Is.Zero, run.Error);
        Assert.That(run.Out, Does.Contain("\"cmdline\": \"from the command line\""));
    }

    [Test]
    public async Task CmdlineOverridingRootAndExtraIsWarnedAboutOnStderr()
    {
        var run = await _daemon.RunXlAsync(["create", Config("guest", "cmdline = \"a\"\nextra = \"b\"\n")]);
        Assert.That(run.ExitCode, Is.Zero, run.Error);
        Assert.That(run.Error, Does.Contain("warning: ignoring root= and extra= in favour of cmdline="));
    }

    [Test]
    public async Task AnUnknownKeyIsWarnedAboutAndIgnored()
    {
        var run = await _daemon.RunXlAsync(["create", Config("guest", "no_such_key = 1\n")]);
        Assert.That(run.ExitCode, Is.Zero, run.Error);
        Assert.That(run.Error, Does.Contain("`no_such_key' is not supported yet and is ignored"));
    }

    [Test]
    public async Task ResourceLimitsAppearInTheDryRunConfigurationAsLibxlNamesThem()
    {
        var run = await _daemon.RunXlAsync(["create", "-n", Config("guest", "max_event_channels = 127\nmax_grant_frames = 8\nmax_maptrack_frames = 0\n")]);
        Assert.That(run.ExitCode, Is.Zero, run.Error);
        Assert.That(run.Out, Does.Contain("\"event_channels\": 127"));
        Assert.That(run.Out, Does.Contain("\"max_grant_frames\": 8"));
        Assert.That(run.Out, Does.Contain("\"max_maptrack_frames\": 0"));
    }
}
