using NUnit.Framework;

namespace Paravirt.XlConfig.Tests;

/// <summary><c>vif = [...]</c> and the CPU keys (cpus, cpu_weight, cap) read from a whole xl.cfg.</summary>
public class VifConfigTests
{
    private string _dir = null!;
    private string _kernel = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "xlvif-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_dir);
        _kernel = Path.Combine(_dir, "vmlinuz");
        File.WriteAllText(_kernel, "k");
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, true);

    private DomainConfig Read(string text) => XlDomainConfigReader.Read(XlConfigParser.Parse(text, "t.cfg"), _dir);

    /// <summary>Two lines (name, kernel); <paramref name="more"/> starts on line 3.</summary>
    private string Minimal(string more = "") => $"name = 'web'\nkernel = '{_kernel}'\n{more}";

    private string Error(string text) => Assert.Throws<XlConfigException>(() => Read(text))!.Message;

    [Test]
    public void TheManualsVifListIsTwoNics()
    {
        var c = Read(Minimal("vif = [ 'mac=00:16:3E:74:34:32', 'mac=00:16:3e:5f:48:e4,bridge=xenbr1' ]"));
        Assert.That(c.Vifs, Is.EqualTo(new[]
        {
            new VifSpec { Mac = "00:16:3e:74:34:32", Devid = 0 },
            new VifSpec { Mac = "00:16:3e:5f:48:e4", Bridge = "xenbr1", Devid = 1 },
        }));
    }

    [Test]
    public void EachVifsDevidIsItsIndexUnlessItSaysOtherwise()
    {
        var c = Read(Minimal("vif = [ '', 'devid=7', '' ]"));
        Assert.That(c.Vifs.Select(v => v.Devid), Is.EqualTo(new int?[] { 0, 7, 2 }));
    }

    [Test]
    public void NoVifKeyMeansNoNicsAndNoWarning()
    {
        var c = Read(Minimal());
        Assert.That(c.Vifs, Is.Empty);
        Assert.That(c.Warnings, Is.Empty);
    }

    [Test]
    public void VifsAreParsedButAWarningSaysTheyAreNotAttached()
    {
        var c = Read(Minimal("vif = [ '', 'bridge=xenbr0' ]"));
        Assert.That(c.Vifs, Has.Count.EqualTo(2));
        Assert.That(c.Warnings, Is.EqualTo(new[] { "t.cfg:3:1: warning: 2 vif(s) parsed but not attached: network devices are not supported yet" }));
    }

    [Test]
    public void AnEmptyVifListIsNoNicsAndNoWarning()
    {
        var c = Read(Minimal("vif = [ ]"));
        Assert.That((c.Vifs.Count, c.Warnings.Count), Is.EqualTo((0, 0)));
    }

    [Test]
    public void AccelIsIgnoredWithAWarningAsXlDoes()
    {
        var c = Read(Minimal("vif = [ 'accel=x' ]"));
        Assert.That(c.Warnings, Has.Some.EqualTo("t.cfg:3:9: warning: the accel parameter for vifs is currently not supported"));
    }

    [Test]
    public void ABadRateIsAnErrorAtItsListItem() =>
        Assert.That(Error(Minimal("vif = [ 'bridge=xenbr0',\n  'rate=10Mb' ]")),
            Does.StartWith("t.cfg:4:3: config parsing error in vif specification: invalid rate `10Mb'"));

    [Test]
    public void AnUnknownVifKeyIsAWarningAtItsListItemAsInXl()
    {
        var c = Read(Minimal("vif = [ 'bridge=xenbr0,colour=blue' ]"));
        Assert.That(c.Vifs.Single().Bridge, Is.EqualTo("xenbr0"));
        Assert.That(c.Warnings, Has.Some.EqualTo("t.cfg:3:9: warning: unrecognized argument `colour=blue'"));
    }

    [TestCase("vif = 'bridge=xenbr0'", "t.cfg:3:7: vif must be a list of VIFSPEC strings")]
    [TestCase("vif = [ 1 ]", "t.cfg:3:9: vif entries must be strings, got number 1")]
    [TestCase("vif = [ [ 'a' ] ]", "t.cfg:3:9: vif entries must be strings")]
    [TestCase("vif = [ 'devid=1', 'devid=1' ]", "t.cfg:3:20: vif devid 1 is used twice")]
    public void MalformedVifListsAreErrors(string line, string error) => Assert.That(Error(Minimal(line)), Does.StartWith(error));

    [Test]
    public void AVifOverrideFromTheCommandLineIsParsed()
    {
        var file = XlConfigParser.Parse(Minimal(), "t.cfg");
        var overridden = XlConfigParser.Parse(Minimal() + "vif=['bridge=xenbr0']\n", "t.cfg");
        Assert.That(XlDomainConfigReader.Read(file, _dir).Vifs, Is.Empty);
        Assert.That(XlDomainConfigReader.Read(overridden, _dir).Vifs.Single().Bridge, Is.EqualTo("xenbr0"));
    }

    [Test]
    public void TheVifsSurviveJsonRoundTrip()
    {
        var c = Read(Minimal("vif = [ 'mac=00:16:3e:00:00:01,rate=1MB/s@20ms,devid=4,mtu=9000' ]"));
        var back = Newtonsoft.Json.JsonConvert.DeserializeObject<DomainConfig>(Newtonsoft.Json.JsonConvert.SerializeObject(c))!;
        Assert.That(back.Vifs, Is.EqualTo(c.Vifs));
    }

    // ---- cpus, cpu_weight, cap ----

    [Test]
    public void ACpusStringAppliesToEveryVcpu()
    {
        var c = Read(Minimal("vcpus = 2\ncpus = '0-3,^2'"));
        Assert.That((c.Cpus, c.CpusPerVcpu), Is.EqualTo((new List<string> { "0-3,^2" }, false)));
        Assert.That(c.Warnings, Is.Empty, "cpus is enforced: no warning");
    }

    [Test]
    public void ACpusListGivesOneRangePerVcpu()
    {
        var c = Read(Minimal("vcpus = 2\ncpus = [ '2', 'nodes:0' ]"));
        Assert.That((c.Cpus, c.CpusPerVcpu), Is.EqualTo((new List<string> { "2", "nodes:0" }, true)));
    }

    [Test]
    public void WeightAndCapAreKeptWithoutWarnings()
    {
        var c = Read(Minimal("vcpus = 2\ncpu_weight = 512\ncap = 150"));
        Assert.That((c.CpuWeight, c.Cap), Is.EqualTo(((int?)512, (int?)150)));
        Assert.That(c.Warnings, Is.Empty);
    }

    [Test]
    public void WithoutCpuKeysNothingIsSet()
    {
        var c = Read(Minimal());
        Assert.That((c.Cpus, c.CpuWeight, c.Cap), Is.EqualTo(((List<string>?)null, (int?)null, (int?)null)));
    }

    [TestCase("cpus = '0-'", "t.cfg:3:8: Invalid pcpu range `0-'")]
    [TestCase("cpus = '3-1'", "t.cfg:3:8: Invalid pcpu range `3-1'")]
    [TestCase("cpus = '^all'", "t.cfg:3:8: Can't combine \"^\" and \"all\"")]
    [TestCase("cpus = 'x'", "t.cfg:3:8: Invalid pcpu range `x'")]
    [TestCase("cpus = '4096'", "t.cfg:3:8: Invalid pcpu range `4096'")]
    [TestCase("cpus = ','", "t.cfg:3:8: empty cpu list")]
    [TestCase("cpus = [ '0', '1' ]", "t.cfg:3:8: cpus lists 2 vcpus but maxvcpus is 1")]
    [TestCase("cpus = [ [ '0' ] ]", "t.cfg:3:10: cpus entries must be strings")]
    [TestCase("cpu_weight = 0", "t.cfg:3:14: cpu_weight must be between 1 and 65535, got 0")]
    [TestCase("cpu_weight = 65536", "t.cfg:3:14: cpu_weight must be between 1 and 65535")]
    [TestCase("cap = '-1'", "t.cfg:3:7: cap must be between 0 and 100, got -1")]
    [TestCase("cap = 101", "t.cfg:3:7: cap must be between 0 and 100, got 101")]
    [TestCase("cap = 'lots'", "t.cfg:3:7: cap must be a number")]
    public void BadCpuKeysAreErrorsAtTheValue(string line, string error) => Assert.That(Error(Minimal(line)), Does.StartWith(error));

    [TestCase("all", 4, new[] { 0, 1, 2, 3 })]
    [TestCase("0-3,^2", 8, new[] { 0, 1, 3 })]
    [TestCase("^1,0-2", 4, new[] { 0, 1, 2 })]
    [TestCase("all,^nodes:1", 4, new[] { 0, 1 })]
    [TestCase("nodes:0-1,^3", 4, new[] { 0, 1, 2 })]
    [TestCase("node:1", 4, new[] { 2, 3 })]
    [TestCase("2,6-9", 4, new[] { 2 })]
    [TestCase("1,,3", 4, new[] { 1, 3 })]
    public void CpuRangesApplyLeftToRight(string text, int nrCpus, int[] expected)
    {
        // Two nodes of two cpus each.
        IEnumerable<int> Node(int n) => n is 0 or 1 ? [2 * n, 2 * n + 1] : [];
        Assert.That(CpuRange.Parse(text).Resolve(nrCpus, Node), Is.EqualTo(expected));
    }

    [Test]
    public void RandomCpuRangesOnlyFailWithCpuRangeException()
    {
        var rng = new Random(5);
        string[] parts = ["0", "1", "-", "^", ",", "all", "nodes:", "node:", "4095", "99999", " ", "x"];
        for (int i = 0; i < 20000; i++)
        {
            string text = string.Concat(Enumerable.Range(0, rng.Next(1, 7)).Select(_ => parts[rng.Next(parts.Length)]));
            try { _ = CpuRange.Parse(text).Resolve(8, n => [n]); }
            catch (CpuRangeException e) { Assert.That(e.Message, Does.Not.Contain("\n"), text); }
        }
    }
}
