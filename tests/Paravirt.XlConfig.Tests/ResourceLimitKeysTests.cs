using NUnit.Framework;

namespace Paravirt.XlConfig.Tests;

/// <summary>xl.cfg(5) max_event_channels, max_grant_frames and max_maptrack_frames (libxl uint32 fields).</summary>
public class ResourceLimitKeysTests
{
    private string _dir = null!;
    private string _kernel = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "xlcfg-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_dir);
        _kernel = Path.Combine(_dir, "vmlinuz");
        File.WriteAllText(_kernel, "k");
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, true);

    private DomainConfig Read(string more) =>
        XlDomainConfigReader.Read(XlConfigParser.Parse($"name = 'web'\nkernel = '{_kernel}'\n{more}", "t.cfg"), _dir);

    [Test]
    public void AbsentLimitsAreLeftToTheDefaults()
    {
        var c = Read("");
        Assert.That((c.MaxEventChannels, c.MaxGrantFrames, c.MaxMaptrackFrames), Is.EqualTo(((uint?)null, (uint?)null, (uint?)null)));
    }

    [Test]
    public void TheThreeLimitsAreReadAsNumbers()
    {
        var c = Read("max_event_channels = 127\nmax_grant_frames = \"32\"\nmax_maptrack_frames = 0x10\n");
        Assert.That((c.MaxEventChannels, c.MaxGrantFrames, c.MaxMaptrackFrames), Is.EqualTo(((uint?)127, (uint?)32, (uint?)16)));
        Assert.That(c.Warnings, Is.Empty, "known keys, no 'not supported' warning");
    }

    [TestCase("max_event_channels = -1")]
    [TestCase("max_grant_frames = 4294967296")]
    [TestCase("max_maptrack_frames = \"lots\"")]
    public void ALimitOutsideAUint32IsAnErrorAtItsValue(string line)
    {
        var e = Assert.Throws<XlConfigException>(() => Read(line + "\n"))!;
        Assert.That(e.Message, Does.StartWith("t.cfg:3:"));
    }
}
