using NUnit.Framework;
using Paravirt.Daemon;

namespace Paravirt.Tools.Tests;

public class DaemonOptionsTests
{
    private static (DaemonOptions? Options, string? Error) Parse(string[] args, Dictionary<string, string>? environment = null) =>
        DaemonOptions.From(DaemonOptions.CreateCommand().Parse(args), name => environment?.GetValueOrDefault(name));

    [Test]
    public void HostMemoryDefaultsTo2048MiB()
    {
        Assert.That(Parse([]).Options!.HostMemoryMiB, Is.EqualTo(2048));
    }

    [Test]
    public void TheEnvironmentSetsHostMemory()
    {
        var env = new Dictionary<string, string> { ["PARAVIRT_HOST_MEMORY_MB"] = "512" };
        Assert.That(Parse([], env).Options!.HostMemoryMiB, Is.EqualTo(512));
    }

    [Test]
    public void TheOptionOverridesTheEnvironment()
    {
        var env = new Dictionary<string, string> { ["PARAVIRT_HOST_MEMORY_MB"] = "512" };
        Assert.That(Parse(["--host-memory", "4096"], env).Options!.HostMemoryMiB, Is.EqualTo(4096));
    }

    [TestCase("0")]
    [TestCase("15")]
    [TestCase("-5")]
    [TestCase("lots")]
    [TestCase("99999999999")]
    public void ANonsenseHostMemoryIsRefusedWithTheValue(string value)
    {
        var (options, error) = Parse(["--host-memory", value]);
        Assert.That(options, Is.Null);
        Assert.That(error, Does.Contain($"'{value}'"));
    }

    [Test]
    public void RundirOptionWinsOverTheEnvironment()
    {
        var env = new Dictionary<string, string> { ["PARAVIRT_RUNDIR"] = "/tmp/from-env" };
        Assert.That(Parse(["--rundir", "/tmp/from-option"], env).Options!.RunDirectory.Path, Is.EqualTo("/tmp/from-option"));
        Assert.That(Parse([], env).Options!.RunDirectory.Path, Is.EqualTo("/tmp/from-env"));
    }

    [Test]
    public void ForegroundIsOffUnlessAsked()
    {
        Assert.That(Parse([]).Options!.Foreground, Is.False);
        Assert.That(Parse(["--foreground"]).Options!.Foreground, Is.True);
    }
}
