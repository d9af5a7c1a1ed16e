using NUnit.Framework;
using Paravirt.Control;

namespace Paravirt.Tools.Tests;

public class RunDirectoryTests
{
    [Test]
    public void TheEnvironmentVariableChoosesTheDirectory()
    {
        Assert.That(RunDirectory.Resolve("/srv/pv"), Is.EqualTo("/srv/pv"));
    }

    [TestCase(null)]
    [TestCase("")]
    [TestCase("   ")]
    public void WithoutTheVariableTheDefaultIsPerUserUnderTmp(string? value)
    {
        Assert.That(RunDirectory.Resolve(value), Does.Match(@"^/tmp/paravirt-\d+$"));
    }

    [Test]
    public void TheDaemonsFilesLiveInTheDirectory()
    {
        var dir = new RunDirectory("/run/x");
        Assert.That(new[] { dir.SocketPath, dir.PidFilePath, dir.LogPath, dir.LockFilePath },
            Is.EqualTo(new[] { "/run/x/paravirtd.sock", "/run/x/paravirtd.pid", "/run/x/paravirtd.log", "/run/x/paravirtd.lock" }));
    }

    [Test]
    public void ASocketPathThatFitsSockaddrUnIsAccepted()
    {
        Assert.That(new RunDirectory("/tmp/p").CheckSocketPath(), Is.Null);
    }

    [Test]
    public void ASocketPathLongerThanSockaddrUnAllowsIsReported()
    {
        var dir = new RunDirectory("/tmp/" + new string('d', 100));
        Assert.That(dir.CheckSocketPath(), Does.Contain("longer than the 107"));
    }
}
