using NUnit.Framework;

namespace Paravirt.EndToEnd.Tests;

/// <summary>Every bad request gets one clear line and leaves no trace: `xl list` shows only Domain-0 after.</summary>
[NonParallelizable]
public class BadInputTests
{
    private Xl _xl = null!;

    [OneTimeSetUp]
    public void Start() => _xl = new Xl(hostMemoryMiB: 256);

    [OneTimeTearDown]
    public void Stop() => _xl.Dispose();

    private void AssertRefused(XlResult r, string expected)
    {
        Assert.That(r.ExitCode, Is.Not.Zero, r.ToString());
        // xl prints "Parsing config from <file>" on stderr before anything else, as Xen's does.
        var lines = r.Stderr.Trim().Split('\n').Where(l => !l.StartsWith("Parsing config from ")).ToArray();
        Assert.That(lines, Has.Length.EqualTo(1), r.ToString());
        Assert.That(lines[0], Does.Contain(expected), r.ToString());
        var list = _xl.Run("list").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(list.Skip(1).Select(l => l.Split(' ')[0]), Is.EqualTo(new[] { "Domain-0" }), "no half-made domain left");
    }

    private string Kernel(string name, byte[] bytes)
    {
        var path = Path.Combine(_xl.RunDir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Test]
    public void AConfigSyntaxErrorNamesFileLineAndColumn()
    {
        var cfg = _xl.Config("broken", "name = \"x\"\nmemory = 32\nkernel = \"unterminated\n");
        AssertRefused(_xl.Run("create", cfg), "broken.cfg:3:");
    }

    [Test]
    public void AKernelThatIsNotElfIsRefused()
    {
        var cfg = _xl.GuestConfig("notelf", Kernel("notelf.bin", "#!/bin/sh\necho this is not a kernel, but long enough to look at\n"u8.ToArray()));
        AssertRefused(_xl.Run("create", cfg), "not an ELF image");
    }

    [Test]
    public void AKernelForAnotherArchitectureIsRefused()
    {
        var elf = File.ReadAllBytes(Path.Combine(Xl.GuestBuild, "examples", "hello"));
        elf[18] = 183; // e_machine = EM_AARCH64
        AssertRefused(_xl.Run("create", _xl.GuestConfig("arm", Kernel("arm.elf", elf))), "not an x86-64 kernel");
    }

    [Test]
    public void AnElfWithoutXenNotesIsRefused()
    {
        // /bin/true is a perfectly good x86-64 ELF with no Xen notes.
        var cfg = _xl.GuestConfig("plain", "/bin/true");
        AssertRefused(_xl.Run("create", cfg), "no Xen ELF notes");
    }

    [Test]
    public void AKernelThatDoesNotFitInMemoryIsRefused()
    {
        var cfg = _xl.GuestConfig("tiny", Path.Combine(Xl.GuestBuild, "examples", "hello"), memory: 1);
        AssertRefused(_xl.Run("create", cfg), "memory");
    }

    [Test]
    public void MemoryLargerThanTheHostPoolIsRefused()
    {
        var cfg = _xl.GuestConfig("huge", Path.Combine(Xl.GuestBuild, "examples", "hello"), memory: 100000);
        AssertRefused(_xl.Run("create", cfg), "memory");
    }

    [TestCase("destroy")]
    [TestCase("console")]
    [TestCase("unpause")]
    public void AnUnknownDomainNameIsRefused(string command) =>
        AssertRefused(_xl.Run(command, "no-such-domain"), "no-such-domain");
}
