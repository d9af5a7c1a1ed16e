using NUnit.Framework;

namespace Paravirt.EndToEnd.Tests;

/// <summary>The emulated CPU running ordinary -O2 C with SSE and x87 code (guest-sdk/tests/selfcheck): qsort,
/// float/double/long double formatting, 64-bit division, memcpy/memset/strlen. The guest hashes what it prints
/// and compares with the hash the same source produces natively.</summary>
[NonParallelizable]
public class SelfcheckTests
{
    private Xl _xl = null!;

    [OneTimeSetUp]
    public void Start() => _xl = new Xl();

    [OneTimeTearDown]
    public void Stop() => _xl.Dispose();

    [Test]
    public void TheSelfCheckingCompiledGuestPrintsTheNativeChecksum()
    {
        var r = _xl.Run("create", "-c", _xl.GuestConfig("selfcheck", Path.Combine(Xl.GuestBuild, "tests/selfcheck")));
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain("long double pi=3.141592653589793 e=2.718281828459045"), r.ToString());
        Assert.That(r.Stdout, Does.Contain("selfcheck: ok 02834478e7391462"), r.ToString());
    }
}
