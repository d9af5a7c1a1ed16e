using NUnit.Framework;
using Paravirt.XlConfig;

namespace Paravirt.XlConfig.Tests;

public class XlDomainConfigReaderTests
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

    private DomainConfig Read(string text) => XlDomainConfigReader.Read(XlConfigParser.Parse(text, "t.cfg"), _dir);

    private string Minimal(string more = "") => $"name = 'web'\nkernel = '{_kernel}'\n{more}";

    [Test]
    public void DefaultsAreXls()
    {
        var c = Read(Minimal());
        Assert.Multiple(() =>
        {
            Assert.That(c.Type, Is.EqualTo("pv"));
            Assert.That(c.MemoryMiB, Is.EqualTo(128));
            Assert.That(c.MaxMemMiB, Is.EqualTo(128));
            Assert.That(c.Vcpus, Is.EqualTo(1));
            Assert.That(c.OnPoweroff, Is.EqualTo(DomainAction.Destroy));
            Assert.That(c.OnReboot, Is.EqualTo(DomainAction.Restart));
            Assert.That(c.OnCrash, Is.EqualTo(DomainAction.Destroy));
            Assert.That(c.Cmdline, Is.Empty);
        });
    }

    [Test]
    public void MaxmemDefaultsToMemory() => Assert.That(Read(Minimal("memory = 64")).MaxMemMiB, Is.EqualTo(64));

    [TestCase("root = '/dev/xvda1'", "root=/dev/xvda1")]
    [TestCase("extra = 'quiet'", "quiet")]
    [TestCase("root = '/dev/xvda1'\nextra = 'quiet'", "root=/dev/xvda1 quiet")]
    [TestCase("cmdline = 'console=hvc0'\nroot = '/dev/xvda1'", "console=hvc0")]
    public void CmdlineRootAndExtraCombineAsXlDoes(string more, string expected) => Assert.That(Read(Minimal(more)).Cmdline, Is.EqualTo(expected));

    [TestCase("destroy", DomainAction.Destroy)]
    [TestCase("restart", DomainAction.Restart)]
    [TestCase("rename-restart", DomainAction.RenameRestart)]
    [TestCase("preserve", DomainAction.Preserve)]
    [TestCase("coredump-destroy", DomainAction.CoredumpDestroy)]
    [TestCase("coredump-restart", DomainAction.CoredumpRestart)]
    [TestCase("soft-reset", DomainAction.SoftReset)]
    public void OnCrashTakesXlCfgActions(string text, DomainAction action) => Assert.That(Read(Minimal($"on_crash = '{text}'")).OnCrash, Is.EqualTo(action));

    [Test]
    public void BuilderGenericIsTheLegacyNameOfPv() => Assert.That(Read(Minimal("builder = 'generic'")).Type, Is.EqualTo("pv"));

    [Test]
    public void ARelativeKernelIsFoundNextToTheConfig()
    {
        var c = XlDomainConfigReader.Read(XlConfigParser.Parse("name='x'\nkernel='vmlinuz'", "t.cfg"), _dir);
        Assert.That(c.Kernel, Is.EqualTo(_kernel));
    }

    [TestCase("memory = 'lots'", "t.cfg:3:10: memory must be a number, got string \"lots\"")]
    [TestCase("memory = 0", "t.cfg:3:10: memory must be between 1 and 1073741824, got 0")]
    [TestCase("memory = [1]", "t.cfg:3:10: memory must be a number, got a list")]
    [TestCase("vcpus = 'two'", "t.cfg:3:9: vcpus must be a number, got string \"two\"")]
    [TestCase("memory = 64\nmaxmem = 32", "t.cfg:4:10: maxmem (32) must not be less than memory (64)")]
    [TestCase("on_crash = 'explode'", "t.cfg:3:12: Unknown on_crash action \"explode\" specified")]
    [TestCase("type = 'hvm'", "t.cfg:3:8: domain type \"hvm\" is not supported: Paravirt runs PV guests only")]
    [TestCase("type = 'bogus'", "t.cfg:3:8: Invalid domain type \"bogus\"")]
    [TestCase("uuid = 'nope'", "t.cfg:3:8: Failed to parse UUID: nope")]
    [TestCase("ramdisk = 'missing.img'", "t.cfg:3:11: ramdisk file \"missing.img\" not found")]
    public void TypeErrorsPointAtTheValue(string more, string message)
    {
        var e = Assert.Throws<XlConfigException>(() => Read(Minimal(more)))!;
        Assert.That(e.Message, Is.EqualTo(message));
    }

    [Test]
    public void ANameIsRequired() =>
        Assert.That(Assert.Throws<XlConfigException>(() => Read($"kernel = '{_kernel}'"))!.Message, Is.EqualTo("t.cfg:1:1: Domain name must be specified."));

    [Test]
    public void AMissingKernelFileIsAnErrorAtItsValue() =>
        Assert.That(Assert.Throws<XlConfigException>(() => Read("name='x'\nkernel = 'nope'"))!.Message, Is.EqualTo("t.cfg:2:10: kernel file \"nope\" not found"));

    [Test]
    public void DisksAreParsedWithTheDiskSpecGrammar()
    {
        var c = Read(Minimal("disk = [ '/img/a.img,,xvda,rw', 'vdev=xvdb, target=/img/b.img' ]"));
        Assert.That(c.Disks.Select(d => d.Vdev), Is.EqualTo(new[] { "xvda", "xvdb" }));
    }

    [Test]
    public void ABadDiskSpecPointsAtItsListEntry() =>
        Assert.That(Assert.Throws<XlConfigException>(() => Read(Minimal("disk = [ '/img/a.img,,xvda',\n  '/img/b.img,vmdk,xvdb' ]")))!.Message,
            Does.StartWith("t.cfg:4:3: config parsing error in disk specification: unknown value for format: vmdk"));

    [Test]
    public void UnknownKeysAreIgnoredWithAWarning()
    {
        XlDomainConfigReader.Read(XlConfigParser.Parse(Minimal("vif = ['bridge=xenbr0']"), "t.cfg"), _dir, out var warnings);
        Assert.That(warnings, Has.Some.Contains("`vif' is not supported yet"));
    }
}
