using System.Globalization;
using System.IO.Compression;
using NUnit.Framework;

namespace Paravirt.EndToEnd.Tests;

/// <summary>
/// The startinfo test kernel checks its own start_info from inside (magic, nr_pages, shared_info, store/console,
/// pt_base and nr_pt_frames by walking its page tables, mfn_list, the ramdisk's placement and contents, cmd_line),
/// booted through `xl create` with ramdisk=, extra= and the other command-line keys of xl.cfg(5).
/// </summary>
[NonParallelizable]
public class BootLayoutTests
{
    private Xl _xl = null!;

    [OneTimeSetUp]
    public void Start() => _xl = new Xl();

    [OneTimeTearDown]
    public void Stop() => _xl.Dispose();

    private static string StartInfoGuest => Path.Combine(Xl.GuestBuild, "tests", "startinfo");

    /// <summary>FNV-1a 32, as the guest computes it over the ramdisk.</summary>
    private static uint Fnv1a(byte[] data)
    {
        uint h = 2166136261;
        foreach (byte b in data) { h ^= b; h *= 16777619; }
        return h;
    }

    private static byte[] RandomBytes(int n, int seed)
    {
        var bytes = new byte[n];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private string WriteFile(string name, byte[] bytes)
    {
        var path = Path.Combine(_xl.RunDir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static string Expect(byte[] ramdisk) =>
        $"pages=8192 rdlen={ramdisk.Length} rdsum=0x{Fnv1a(ramdisk).ToString("x8", CultureInfo.InvariantCulture)}";

    private XlResult Boot(string name, string keys)
    {
        var cfg = _xl.GuestConfig(name, StartInfoGuest, memory: 32, extra: keys);
        return _xl.Run("create", "-c", cfg);
    }

    private static void AssertAllChecksPassed(XlResult r)
    {
        Assert.That(r.Stdout, Does.Not.Contain("FAIL "), r.ToString());
        Assert.That(r.Stdout, Does.Match(@"startinfo: [1-9][0-9]* checks, 0 failed"), r.ToString());
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
    }

    [Test]
    public void TheGuestFindsXensStartOfDayLayoutWithARamdiskAndExtra()
    {
        var ramdisk = RandomBytes(10000, 1);
        WriteFile("layout-rd.img", ramdisk);
        // ramdisk= relative to the config file's directory; extra= becomes the whole command line.
        var r = Boot("layout", $"ramdisk = \"layout-rd.img\"\nextra = \"{Expect(ramdisk)} console=hvc0\"\n");
        AssertAllChecksPassed(r);
        Assert.That(r.Stdout, Does.Contain($"cmd_line: {Expect(ramdisk)} console=hvc0\n"), r.ToString());
        Assert.That(r.Stdout, Does.Contain("mod_len=12288\n"), "10000 bytes, page rounded as Xen's builder gives them");
        Assert.That(r.Stdout, Does.Contain("store_evtchn=1 console_evtchn=2\n"), r.ToString());
    }

    [Test]
    public void AGzipRamdiskReachesTheGuestInflated()
    {
        var ramdisk = RandomBytes(6000, 2);
        var packed = new MemoryStream();
        using (var gz = new GZipStream(packed, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(ramdisk);
        var path = WriteFile("layout-rd.img.gz", packed.ToArray());
        var r = Boot("layout-gz", $"ramdisk = \"{path}\"\nextra = \"{Expect(ramdisk)}\"\n");
        AssertAllChecksPassed(r);
        Assert.That(r.Stdout, Does.Contain("mod_len=8192\n"), "6000 + 16 bytes inflated, page rounded");
    }

    [Test]
    public void RootAndExtraAreComposedIntoTheCommandLine()
    {
        var r = Boot("layout-root", "root = \"/dev/xvda1 ro\"\nextra = \"pages=8192 quiet\"\n");
        AssertAllChecksPassed(r);
        Assert.That(r.Stdout, Does.Contain("cmd_line: root=/dev/xvda1 ro pages=8192 quiet\n"), r.ToString());
    }

    [Test]
    public void CmdlineWinsOverRootAndExtra()
    {
        var r = Boot("layout-cmd", "cmdline = \"pages=8192 from-cmdline\"\nroot = \"/dev/ignored\"\nextra = \"ignored\"\n");
        AssertAllChecksPassed(r);
        Assert.That(r.Stdout, Does.Contain("cmd_line: pages=8192 from-cmdline\n"), r.ToString());
        Assert.That(r.Stderr, Does.Contain("ignoring root= and extra= in favour of cmdline="), r.ToString());
    }

    [Test]
    public void AnExtraOverrideOnTheCommandLineReachesTheGuest()
    {
        var cfg = _xl.GuestConfig("layout-kv", StartInfoGuest, extra: "extra = \"pages=1\"\n");
        var r = _xl.Run("create", "-c", cfg, "extra=\"pages=8192 overridden\"");
        AssertAllChecksPassed(r);
        Assert.That(r.Stdout, Does.Contain("cmd_line: pages=8192 overridden\n"), r.ToString());
    }

    [Test]
    public void AMissingRamdiskIsRefusedBeforeAnythingIsBuilt()
    {
        var cfg = _xl.GuestConfig("layout-nord", StartInfoGuest, extra: "ramdisk = \"no-such-ramdisk.img\"\n");
        var r = _xl.Run("create", cfg);
        Assert.That(r.ExitCode, Is.Not.Zero, r.ToString());
        Assert.That(r.Stderr, Does.Contain("no-such-ramdisk.img"), r.ToString());
        Assert.That(_xl.Run("list").Stdout, Does.Not.Contain("layout-nord"));
    }

    [Test]
    public void AKernelAskingForInitP2mAndModStartPfnGetsXensLayoutForThem()
    {
        var ramdisk = RandomBytes(5000, 3);
        var path = WriteFile("layout-p2m-rd.img", ramdisk);
        var cfg = _xl.GuestConfig("layout-p2m", Path.Combine(Xl.GuestBuild, "tests", "startinfo-p2m"),
            extra: $"ramdisk = \"{path}\"\nextra = \"{Expect(ramdisk)}\"\n");
        var r = _xl.Run("create", "-c", cfg);
        AssertAllChecksPassed(r);
        Assert.That(r.Stdout, Does.Contain("ok mfn_list at INIT_P2M\n"), r.ToString());
        Assert.That(r.Stdout, Does.Contain("ok mod_start is a pfn\n"), r.ToString());
        Assert.That(r.Stdout, Does.Contain("mod_len=8192\n"), r.ToString());
    }
}
