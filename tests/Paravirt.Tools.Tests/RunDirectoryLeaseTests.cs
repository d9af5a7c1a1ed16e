using NUnit.Framework;
using Paravirt.Control;
using Paravirt.Daemon;

namespace Paravirt.Tools.Tests;

public class RunDirectoryLeaseTests
{
    private string _path = null!;

    [SetUp]
    public void ChooseDirectory() => _path = Path.Combine("/tmp", "pvl-" + Guid.NewGuid().ToString("N")[..12]);

    [TearDown]
    public void RemoveDirectory()
    {
        if (Directory.Exists(_path))
            Directory.Delete(_path, recursive: true);
    }

    [Test]
    public void TheDirectoryIsCreatedOwnerOnly()
    {
        using var lease = RunDirectoryLease.Acquire(new RunDirectory(_path));
        Assert.That(File.GetUnixFileMode(_path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
    }

    [Test]
    public void AnExistingDirectoryOpenToOthersIsTightened()
    {
        Directory.CreateDirectory(_path);
        File.SetUnixFileMode(_path, (UnixFileMode)0x1FF);
        using var lease = RunDirectoryLease.Acquire(new RunDirectory(_path));
        Assert.That((int)File.GetUnixFileMode(_path) & 0x3F, Is.Zero);
    }

    [Test]
    public void ThePidFileNamesThisProcess()
    {
        var dir = new RunDirectory(_path);
        using var lease = RunDirectoryLease.Acquire(dir);
        Assert.That(File.ReadAllText(dir.PidFilePath).Trim(), Is.EqualTo(Environment.ProcessId.ToString()));
    }

    [Test]
    public void ASecondLeaseOnTheSameDirectoryIsRefused()
    {
        var dir = new RunDirectory(_path);
        using var lease = RunDirectoryLease.Acquire(dir);
        var e = Assert.Throws<DaemonStartException>(() => RunDirectoryLease.Acquire(dir));
        Assert.That(e!.Message, Does.Contain("already running"));
    }

    [Test]
    public void ReleasingRemovesThePidFileAndTheSocket()
    {
        var dir = new RunDirectory(_path);
        var lease = RunDirectoryLease.Acquire(dir);
        File.WriteAllText(dir.SocketPath, "");
        lease.Dispose();
        Assert.That(File.Exists(dir.PidFilePath) || File.Exists(dir.SocketPath), Is.False);
    }

    [Test]
    public void AfterReleaseTheDirectoryCanBeTakenAgain()
    {
        var dir = new RunDirectory(_path);
        RunDirectoryLease.Acquire(dir).Dispose();
        Assert.DoesNotThrow(() => RunDirectoryLease.Acquire(dir).Dispose());
    }

    [TestCase("999999999")]
    [TestCase("garbage")]
    [TestCase("")]
    public void AStalePidFileIsTakenOver(string content)
    {
        var dir = new RunDirectory(_path);
        Directory.CreateDirectory(_path);
        File.WriteAllText(dir.PidFilePath, content);
        File.WriteAllText(dir.SocketPath, "left over");
        using var lease = RunDirectoryLease.Acquire(dir);
        Assert.That(File.ReadAllText(dir.PidFilePath).Trim(), Is.EqualTo(Environment.ProcessId.ToString()));
        Assert.That(File.Exists(dir.SocketPath), Is.False);
    }

    [Test]
    public void APidFileNamingALiveProcessThatIsNotParavirtdIsStale()
    {
        // pid 1 is alive but is init, not a daemon: a reused pid must not block start-up.
        Directory.CreateDirectory(_path);
        File.WriteAllText(new RunDirectory(_path).PidFilePath, "1\n");
        Assert.That(RunDirectoryLease.ReadLivePid(new RunDirectory(_path).PidFilePath), Is.Null);
    }

    [Test]
    public void ASymbolicLinkAsRunDirectoryIsRefused()
    {
        string target = _path + "-target";
        Directory.CreateDirectory(target);
        Directory.CreateSymbolicLink(_path, target);
        try
        {
            var e = Assert.Throws<DaemonStartException>(() => RunDirectoryLease.Acquire(new RunDirectory(_path)));
            Assert.That(e!.Message, Does.Contain("symbolic link"));
        }
        finally
        {
            File.Delete(_path);
            Directory.Delete(target, recursive: true);
        }
    }
}
