using Newtonsoft.Json.Linq;
using NUnit.Framework;
using Paravirt.Xl;
using Paravirt.XlConfig;

namespace Paravirt.Tools.Tests;

/// <summary>vif=[…] and the CPU keys in `xl create -n` and `xl list -l` (libxl's nics and b_info shape).</summary>
public class XlCreateVifTests
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

    private string Config(string more)
    {
        string path = Path.Combine(_daemon.Directory, "guest.cfg");
        File.WriteAllText(path, $"name = \"guest\"\nmemory = 64\nvcpus = 2\nkernel = \"{_kernel}\"\n{more}");
        return path;
    }

    [Test]
    public async Task DryRunPrintsTheVifsAsLibxlNicsAndWarnsTheyAreNotAttached()
    {
        var run = await _daemon.RunXlAsync(["create", "-n", Config("vif = [ 'mac=00:16:3e:74:3d:76,bridge=xenbr0', 'rate=1MB/s@20ms' ]\n")]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var nics = (JArray)JObject.Parse(run.Out)["config"]!["nics"]!;
        Assert.That(nics, Has.Count.EqualTo(2));
        Assert.That(((string?)nics[0]["mac"], (string?)nics[0]["bridge"]), Is.EqualTo(("00:16:3e:74:3d:76", "xenbr0")));
        Assert.That(((ulong)nics[1]["rate_bytes_per_interval"]!, (uint)nics[1]["rate_interval_usecs"]!), Is.EqualTo((20_000UL, 20_000U)));
        Assert.That(run.Error, Does.Contain("guest.cfg:5:1: warning: 2 vif(s) parsed but not attached"));
        Assert.That(_daemon.Toolstack.List(), Is.Empty);
    }

    [Test]
    public async Task ABadVifRateStopsCreateWithItsPosition()
    {
        var run = await _daemon.RunXlAsync(["create", Config("vif = [ 'bridge=xenbr0,rate=fast' ]\n")]);
        Assert.That(run.ExitCode, Is.Not.EqualTo(0));
        Assert.That(run.Error, Does.Contain("guest.cfg:5:9: config parsing error in vif specification: invalid rate `fast'"));
        Assert.That(_daemon.Toolstack.List(), Is.Empty);
    }

    [Test]
    public async Task AnUnknownVifKeyIsReportedAndCreateGoesOnAsXlDoes()
    {
        var run = await _daemon.RunXlAsync(["create", Config("vif = [ 'bridge=xenbr0,trusted' ]\n")]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Error, Does.Contain("guest.cfg:5:9: warning: unrecognized argument `trusted'"));
        Assert.That(_daemon.Toolstack.List(), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task DryRunReportsSchedParamsAndHardAffinity()
    {
        var run = await _daemon.RunXlAsync(["create", "-n", Config("cpus = '0'\ncpu_weight = 512\ncap = 50\n")]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var bInfo = JObject.Parse(run.Out)["config"]!["b_info"]!;
        Assert.That(((int)bInfo["sched_params"]!["weight"]!, (int)bInfo["sched_params"]!["cap"]!), Is.EqualTo((512, 50)));
        Assert.That(bInfo["vcpu_hard_affinity"]!.ToString(Newtonsoft.Json.Formatting.None), Is.EqualTo("[[0],[0]]"));
        Assert.That(run.Error, Does.Not.Contain("warning"), "the scheduler enforces them: nothing to warn about");
    }

    [Test]
    public void AffinityIsResolvedAgainstTheHostsCpus()
    {
        var config = new DomainConfig { Name = "a", Vcpus = 1, MaxVcpus = 1, Kernel = "/k", Cpus = ["all,^0"] };
        var map = (JArray)LibxlJson.DomainConfig(config)["b_info"]!["vcpu_hard_affinity"]![0]!;
        Assert.That(map.Select(t => (int)t), Is.EqualTo(Enumerable.Range(1, Environment.ProcessorCount - 1)));
        var none = LibxlJson.DomainConfig(new DomainConfig { Name = "a", Kernel = "/k" })["b_info"]!;
        Assert.That((none["vcpu_hard_affinity"], ((JObject)none["sched_params"]!).Count), Is.EqualTo(((JToken?)null, 0)));
    }

    [Test]
    public async Task ListLongCarriesTheNics()
    {
        var create = await _daemon.RunXlAsync(["create", Config("vif = [ 'bridge=xenbr1' ]\n")]);
        Assert.That(create.ExitCode, Is.EqualTo(0), create.Error);
        var run = await _daemon.RunXlAsync(["list", "-l", "guest"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var nic = JArray.Parse(run.Out).Single()["config"]!["nics"]!.Single();
        Assert.That((string?)nic["bridge"], Is.EqualTo("xenbr1"));
    }
}
