using NUnit.Framework;

namespace Paravirt.XlConfig.Tests;

/// <summary>xl's rules (xl_parse.c parse_config_data) for the keys of a PV domain.</summary>
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

    /// <summary>Two lines (name, kernel); <paramref name="more"/> starts on line 3.</summary>
    private string Minimal(string more = "") => $"name = 'web'\nkernel = '{_kernel}'\n{more}";

    private string Error(string text) => Assert.Throws<XlConfigException>(() => Read(text))!.Message;

    [Test]
    public void DefaultsAreXls()
    {
        var c = Read(Minimal());
        Assert.Multiple(() =>
        {
            Assert.That(c.Name, Is.EqualTo("web"));
            Assert.That(c.Type, Is.EqualTo("pv"));
            Assert.That(c.Uuid, Is.Null);
            Assert.That(c.MemoryMiB, Is.EqualTo(32));
            Assert.That(c.MaxMemMiB, Is.EqualTo(32));
            Assert.That(c.Vcpus, Is.EqualTo(1));
            Assert.That(c.MaxVcpus, Is.EqualTo(1));
            Assert.That(c.Kernel, Is.EqualTo(_kernel));
            Assert.That(c.Ramdisk, Is.Null);
            Assert.That(c.Cmdline, Is.Empty);
            Assert.That(c.OnPoweroff, Is.EqualTo(DomainAction.Destroy));
            Assert.That(c.OnReboot, Is.EqualTo(DomainAction.Restart));
            Assert.That(c.OnWatchdog, Is.EqualTo(DomainAction.Destroy));
            Assert.That(c.OnCrash, Is.EqualTo(DomainAction.Destroy));
            Assert.That(c.DriverDomain, Is.False);
            Assert.That(c.Disks, Is.Empty);
            Assert.That(c.Warnings, Is.Empty);
        });
    }

    [TestCase("memory = 64", 64L, 64L)]
    [TestCase("maxmem = 64", 64L, 64L)]
    [TestCase("memory = 64\nmaxmem = 128", 64L, 128L)]
    [TestCase("memory = 64\nmaxmem = 64", 64L, 64L)]
    public void MemoryAndMaxmemDefaultToEachOther(string more, long memory, long maxmem)
    {
        var c = Read(Minimal(more));
        Assert.That((c.MemoryMiB, c.MaxMemMiB), Is.EqualTo((memory, maxmem)));
    }

    [TestCase("vcpus = 2", 2, 2)]
    [TestCase("maxvcpus = 4", 1, 4)]
    [TestCase("vcpus = 2\nmaxvcpus = 4", 2, 4)]
    public void VcpusDefaultsToOneAndMaxvcpusToVcpus(string more, int vcpus, int maxvcpus)
    {
        var c = Read(Minimal(more));
        Assert.That((c.Vcpus, c.MaxVcpus), Is.EqualTo((vcpus, maxvcpus)));
    }

    [TestCase("memory = 64")]
    [TestCase("memory = '64'")]
    [TestCase("memory = \" 64\"")]
    [TestCase("memory = 0x40")]
    [TestCase("memory = 0100")]
    [TestCase("memory = '+64'")]
    public void NumbersAreReadAsStrtolDoesWhetherQuotedOrNot(string more) => Assert.That(Read(Minimal(more)).MemoryMiB, Is.EqualTo(64));

    [Test]
    public void AnyAtomIsAString() => Assert.That(Read($"name = 123\nkernel = '{_kernel}'").Name, Is.EqualTo("123"));

    [TestCase("type = 'pv'")]
    [TestCase("type = 'p'")]
    [TestCase("builder = 'generic'")]
    [TestCase("builder = 'gen'")]
    [TestCase("type = 'pv'\nbuilder = 'generic'")]
    public void PvIsSelectedByTypeOrTheLegacyBuilderOrTheirPrefixesAsInXl(string more) => Assert.That(Read(Minimal(more)).Type, Is.EqualTo("pv"));

    [TestCase("root = '/dev/xvda1'", "root=/dev/xvda1")]
    [TestCase("extra = 'quiet'", "quiet")]
    [TestCase("root = '/dev/xvda1'\nextra = 'quiet'", "root=/dev/xvda1 quiet")]
    [TestCase("cmdline = 'console=hvc0'", "console=hvc0")]
    [TestCase("cmdline = 'console=hvc0'\nroot = '/dev/xvda1'\nextra = 'quiet'", "console=hvc0")]
    [TestCase("root = ''", "root=")]
    [TestCase("extra = 'a'\nextra += ' b'", "a b")]
    public void CmdlineRootAndExtraCombineAsXlDoes(string more, string expected) => Assert.That(Read(Minimal(more)).Cmdline, Is.EqualTo(expected));

    [Test]
    public void CmdlineBesideRootOrExtraWarnsAsXlDoes() =>
        Assert.That(Read(Minimal("extra = 'quiet'\ncmdline = 'x'")).Warnings,
            Is.EqualTo(new[] { "t.cfg:4:1: warning: ignoring root= and extra= in favour of cmdline=" }));

    private static readonly string[] ActionKeys = ["on_poweroff", "on_reboot", "on_watchdog", "on_crash"];

    private static IEnumerable<TestCaseData> Actions() =>
        from key in ActionKeys
        from a in new[]
        {
            ("destroy", DomainAction.Destroy), ("restart", DomainAction.Restart), ("rename-restart", DomainAction.RenameRestart),
            ("preserve", DomainAction.Preserve), ("coredump-destroy", DomainAction.CoredumpDestroy),
            ("coredump-restart", DomainAction.CoredumpRestart), ("soft-reset", DomainAction.SoftReset),
        }
        select new TestCaseData(key, a.Item1, a.Item2);

    [TestCaseSource(nameof(Actions))]
    public void EveryEventActionTakesTheXlCfgNames(string key, string name, DomainAction action)
    {
        var c = Read(Minimal($"{key} = '{name}'"));
        var got = key switch { "on_poweroff" => c.OnPoweroff, "on_reboot" => c.OnReboot, "on_watchdog" => c.OnWatchdog, _ => c.OnCrash };
        Assert.That(got, Is.EqualTo(action));
    }

    [TestCase("driver_domain = 0", false)]
    [TestCase("driver_domain = 1", true)]
    [TestCase("driver_domain = 2", true)]
    [TestCase("driver_domain = '1'", true)]
    public void DriverDomainIsABooleanNumber(string more, bool expected) => Assert.That(Read(Minimal(more)).DriverDomain, Is.EqualTo(expected));

    [Test]
    public void AUuidIsParsed() =>
        Assert.That(Read(Minimal("uuid = '6c5b2b9e-1f0b-4c44-9a0e-2d8f1f3b7a10'")).Uuid, Is.EqualTo(Guid.Parse("6c5b2b9e-1f0b-4c44-9a0e-2d8f1f3b7a10")));

    [Test]
    public void AnAbsoluteKernelPathIsKept() => Assert.That(Read(Minimal()).Kernel, Is.EqualTo(_kernel));

    [Test]
    public void ARelativeKernelIsFoundNextToTheConfigWhenNotInTheCurrentDirectory() =>
        Assert.That(Read("name='x'\nkernel='vmlinuz'").Kernel, Is.EqualTo(_kernel));

    [Test]
    public void ARelativeKernelInTheCurrentDirectoryWinsOverOneNextToTheConfig()
    {
        string cwd = Path.Combine(_dir, "cwd");
        Directory.CreateDirectory(cwd);
        File.WriteAllText(Path.Combine(cwd, "vmlinuz"), "k2");
        string saved = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = cwd;
            Assert.That(Read("name='x'\nkernel='vmlinuz'").Kernel, Is.EqualTo(Path.Combine(cwd, "vmlinuz")));
        }
        finally { Environment.CurrentDirectory = saved; }
    }

    [Test]
    public void ARamdiskIsResolvedLikeTheKernel()
    {
        File.WriteAllText(Path.Combine(_dir, "initrd"), "r");
        Assert.That(Read(Minimal("ramdisk = 'initrd'")).Ramdisk, Is.EqualTo(Path.Combine(_dir, "initrd")));
    }

    [Test]
    public void ANameIsRequired() => Assert.That(Error($"kernel = '{_kernel}'"), Is.EqualTo("t.cfg:1:1: Domain name must be specified."));

    [Test]
    public void AKernelIsRequired() =>
        Assert.That(Error("name = 'x'"), Is.EqualTo("t.cfg:1:1: Neither kernel nor bootloader specified (kernel is required for a pv domain)"));

    [Test]
    public void ADriverDomainNeedsNoKernel()
    {
        var c = Read("name = 'storage'\ndriver_domain = 1");
        Assert.That(c.DriverDomain, Is.True);
        Assert.That(c.Kernel, Is.Empty);
    }

    [Test]
    public void AMissingKernelFileIsAnErrorAtItsValue() =>
        Assert.That(Error("name='x'\nkernel = 'nope'"),
            Is.EqualTo($"t.cfg:2:10: kernel file \"nope\" not found (looked in the current directory and in \"{_dir}\")"));

    [TestCase("memory = 'lots'", "t.cfg:3:10: memory must be a number, got string \"lots\"")]
    [TestCase("memory = 12ab", "t.cfg:3:10: memory must be a number, got 12ab (not a valid decimal, 0octal or 0xhex number)")]
    [TestCase("memory = 08", "t.cfg:3:10: memory must be a number, got 08 (not a valid decimal, 0octal or 0xhex number)")]
    [TestCase("memory = 99999999999999999999", "t.cfg:3:10: memory is out of range: number 99999999999999999999")]
    [TestCase("memory = 0", "t.cfg:3:10: memory must be between 1 and 1048576, got 0")]
    [TestCase("memory = '-1'", "t.cfg:3:10: memory must be between 1 and 1048576, got -1")]
    [TestCase("memory = [1]", "t.cfg:3:10: memory must be a number, got a list")]
    [TestCase("memory = 32\nmemory += 32", "t.cfg:4:11: memory is a number: it cannot be set with +=")]
    [TestCase("maxmem = 'x'", "t.cfg:3:10: maxmem must be a number, got string \"x\"")]
    [TestCase("memory = 64\nmaxmem = 32", "t.cfg:4:10: maxmem (32) must be equal to or greater than memory (64)")]
    [TestCase("vcpus = 'two'", "t.cfg:3:9: vcpus must be a number, got string \"two\"")]
    [TestCase("vcpus = 0", "t.cfg:3:9: vcpus must be between 1 and 128, got 0")]
    [TestCase("vcpus = 4\nmaxvcpus = 2", "t.cfg:4:12: maxvcpus (2) < vcpus (4)")]
    [TestCase("driver_domain = 'yes'", "t.cfg:3:17: driver_domain must be a number, got string \"yes\"")]
    [TestCase("on_crash = 'explode'", "t.cfg:3:12: Unknown on_crash action \"explode\" specified")]
    [TestCase("on_reboot = 'Restart'", "t.cfg:3:13: Unknown on_reboot action \"Restart\" specified")]
    [TestCase("on_poweroff = ['destroy']", "t.cfg:3:15: on_poweroff must be a single value, got a list")]
    [TestCase("type = 'hvm'", "t.cfg:3:8: domain type \"hvm\" is not supported: Paravirt runs PV guests only")]
    [TestCase("type = 'pvh'", "t.cfg:3:8: domain type \"pvh\" is not supported: Paravirt runs PV guests only")]
    [TestCase("type = ''", "t.cfg:3:8: domain type \"hvm\" is not supported: Paravirt runs PV guests only")]
    [TestCase("type = 'bogus'", "t.cfg:3:8: Invalid domain type \"bogus\": expected \"pv\", \"pvh\" or \"hvm\"")]
    [TestCase("builder = 'hvm'", "t.cfg:3:11: domain type \"hvm\" is not supported: Paravirt runs PV guests only")]
    [TestCase("builder = 'linux'", "t.cfg:3:11: Invalid builder \"linux\": expected \"generic\" (pv) or \"hvm\"")]
    [TestCase("type = 'pv'\nbuilder = 'hvm'", "t.cfg:4:11: Contradicting \"builder\" and \"type\" options specified.")]
    [TestCase("uuid = 'nope'", "t.cfg:3:8: Failed to parse UUID: \"nope\"")]
    [TestCase("uuid = '{6c5b2b9e-1f0b-4c44-9a0e-2d8f1f3b7a10}'", "t.cfg:3:8: Failed to parse UUID: \"{6c5b2b9e-1f0b-4c44-9a0e-2d8f1f3b7a10}\"")]
    [TestCase("ramdisk = 'missing.img'", "t.cfg:3:11: ramdisk file \"missing.img\" not found (looked in the current directory and in \"DIR\")")]
    [TestCase("ramdisk = ''", "t.cfg:3:11: ramdisk must not be empty")]
    [TestCase("extra = ['quiet']", "t.cfg:3:9: extra must be a single value, got a list")]
    public void BadValuesAreErrorsAtTheValue(string more, string message) =>
        Assert.That(Error(Minimal(more)), Is.EqualTo(message.Replace("DIR", _dir)));

    [TestCase("name = ''", "t.cfg:1:8: invalid domain name \"\": 1 to 64 printable ASCII characters, no spaces or '/'")]
    [TestCase("name = 'a/b'", "t.cfg:1:8: invalid domain name \"a/b\": 1 to 64 printable ASCII characters, no spaces or '/'")]
    [TestCase("name = 'a b'", "t.cfg:1:8: invalid domain name \"a b\": 1 to 64 printable ASCII characters, no spaces or '/'")]
    [TestCase("name = ['a']", "t.cfg:1:8: name must be a single value, got a list")]
    public void ABadNameIsAnErrorAtItsValue(string name, string message) => Assert.That(Error($"{name}\nkernel = '{_kernel}'"), Is.EqualTo(message));

    [Test]
    public void TheTypeIsCheckedBeforeTheNameAsInXl() => Assert.That(Error("type = 'hvm'"), Does.Contain("domain type \"hvm\" is not supported"));

    [Test]
    public void UnknownKeysAreIgnoredWithAWarningEach()
    {
        var c = Read(Minimal("vfb = ['vnc=1']\nvnc = 1"));
        Assert.That(c.Warnings, Is.EqualTo(new[]
        {
            "t.cfg:3:1: warning: `vfb' is not supported yet and is ignored",
            "t.cfg:4:1: warning: `vnc' is not supported yet and is ignored",
        }));
    }

    [Test]
    public void TheWarningsAreAlsoHandedOutSeparately()
    {
        var c = XlDomainConfigReader.Read(XlConfigParser.Parse(Minimal("vnc = 1"), "t.cfg"), _dir, out var warnings);
        Assert.That(warnings, Is.EqualTo(c.Warnings));
    }

    [Test]
    public void WarningsAreNotPartOfTheSerialisedConfig()
    {
        var c = Read(Minimal("vnc = 1"));
        Assert.That(Newtonsoft.Json.JsonConvert.SerializeObject(c), Does.Not.Contain("Warnings"));
    }

    [Test]
    public void DisksAreParsedWithTheDiskSpecGrammar()
    {
        var c = Read(Minimal("disk = [ '/img/a.img,,xvda,rw', 'vdev=xvdb, target=/img/b.img' ]"));
        Assert.That(c.Disks.Select(d => d.Vdev), Is.EqualTo(new[] { "xvda", "xvdb" }));
    }

    [Test]
    public void ABadDiskSpecPointsAtItsListEntry() =>
        Assert.That(Error(Minimal("disk = [ '/img/a.img,,xvda',\n  '/img/b.img,vmdk,xvdb' ]")),
            Does.StartWith("t.cfg:4:3: config parsing error in disk specification: unknown value for format: vmdk"));
}
