using Newtonsoft.Json.Linq;
using NUnit.Framework;
using Paravirt.Control.Messages;
using Paravirt.Domains.Toolstack;
using Paravirt.Xl;
using Paravirt.XlConfig;

namespace Paravirt.Tools.Tests;

/// <summary>xl shutdown/reboot/rename/domid/domname/uptime/mem-set/mem-max/info/list -l -v through paravirtd's server.</summary>
public class XlDomainCommandsTests
{
    private DaemonHarness _daemon = null!;

    [SetUp]
    public void Start() => _daemon = DaemonHarness.Start();

    [TearDown]
    public async Task Stop() => await _daemon.DisposeAsync();

    private DomainInfo Create(string name) =>
        _daemon.Toolstack.Create(new DomainConfig { Name = name, MemoryMiB = 64, MaxMemMiB = 128, Vcpus = 1, Kernel = "/k/hello", Cmdline = "quiet" }, paused: false);

    [Test]
    public async Task ShutdownAsksTheGuestToPowerOffAndSaysSo()
    {
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["shutdown", "web"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Error, Is.EqualTo($"Shutting down domain {d.DomId}{Environment.NewLine}"));
        Assert.That(_daemon.Toolstack.ShutdownRequests, Is.EqualTo(new[] { (d.DomId, ShutdownReason.Poweroff, false) }));
    }

    [Test]
    public async Task ShutdownDashFPassesTheForcedFallback()
    {
        var d = Create("web");
        await _daemon.RunXlAsync(["shutdown", "-F", "web"]);
        Assert.That(_daemon.Toolstack.ShutdownRequests.Single().Force, Is.True);
    }

    [Test]
    public async Task RebootAsksForAReboot()
    {
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["reboot", d.DomId.ToString()]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Error, Does.StartWith($"Rebooting domain {d.DomId}"));
        Assert.That(_daemon.Toolstack.ShutdownRequests.Single().Reason, Is.EqualTo(ShutdownReason.Reboot));
    }

    [Test]
    public async Task ShutdownAllAsksEveryListedGuest()
    {
        Create("a");
        Create("b");
        Create("c");
        var run = await _daemon.RunXlAsync(["shutdown", "-a"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(_daemon.Toolstack.ShutdownRequests.Select(r => r.DomId), Is.EqualTo(new uint[] { 1, 2, 3 }));
    }

    [Test]
    public async Task ShutdownWaitReturnsAfterTheGuestPoweredOff()
    {
        _daemon.Toolstack.GuestsHonourShutdown = true;
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["shutdown", "-w", "web"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Error, Does.Contain($"Domain {d.DomId} has been shut down, reason code 0"));
        Assert.That(_daemon.Toolstack.Exists(d.DomId), Is.False);
    }

    [Test]
    public async Task ShutdownWithoutADomainOrDashAFailsWithXlsMessage()
    {
        var run = await _daemon.RunXlAsync(["shutdown"]);
        Assert.That(run.ExitCode, Is.EqualTo(XlExit.Failure));
        Assert.That(run.Error, Is.EqualTo("You must specify -a or a domain id." + Environment.NewLine));
    }

    [Test]
    public async Task ShutdownDashAIgnoresADomainOperandAsXlDoes()
    {
        Create("a");
        Create("b");
        var run = await _daemon.RunXlAsync(["shutdown", "-a", "a"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(_daemon.Toolstack.ShutdownRequests, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task ShutdownAllWaitLogsEachDomainAndNothingAfter()
    {
        _daemon.Toolstack.GuestsHonourShutdown = true;
        var a = Create("a");
        var b = Create("b");
        var run = await _daemon.RunXlAsync(["shutdown", "-a", "-w"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var lines = run.Error.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[..3], Is.EqualTo(new[] { $"Shutting down domain {a.DomId}", $"Shutting down domain {b.DomId}", "Waiting for 2 domains" }));
        Assert.That(lines[3..], Is.EquivalentTo(new[]
        {
            $"Domain {a.DomId} has been shut down, reason code 0", $"Domain {b.DomId} has been shut down, reason code 0",
        }));
    }

    [Test]
    public async Task RebootWaitReportsTheRebootReasonCode()
    {
        _daemon.Toolstack.GuestsHonourShutdown = true;
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["reboot", "-w", "web"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Error, Does.EndWith($"Domain {d.DomId} has been shut down, reason code 1{Environment.NewLine}"));
    }

    [Test]
    public async Task ShutdownOfAnUnknownDomainFails()
    {
        var run = await _daemon.RunXlAsync(["shutdown", "nosuch"]);
        Assert.That(run.ExitCode, Is.EqualTo(XlExit.Failure));
        Assert.That(run.Error, Does.Contain("nosuch is an invalid domain identifier"));
    }

    [Test]
    public async Task RenameChangesTheNameListShows()
    {
        var d = Create("old");
        var run = await _daemon.RunXlAsync(["rename", "old", "new"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(_daemon.Toolstack.Find(d.DomId.ToString()).Name, Is.EqualTo("new"));
    }

    [Test]
    public async Task RenameToATakenNameFailsWithXlsMessage()
    {
        Create("a");
        Create("b");
        var run = await _daemon.RunXlAsync(["rename", "a", "b"]);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Error, Does.EndWith($"Can't rename domain 'a'.{Environment.NewLine}"));
    }

    [Test]
    public async Task DomidPrintsTheIdOfANamedDomain()
    {
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["domid", "web"]);
        Assert.That((run.ExitCode, run.Out), Is.EqualTo((0, $"{d.DomId}{Environment.NewLine}")));
    }

    [Test]
    public async Task DomidOfAnUnknownNameFails()
    {
        var run = await _daemon.RunXlAsync(["domid", "nosuch"]);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Error, Does.StartWith("Can't get domid of domain name 'nosuch'"));
    }

    [Test]
    public async Task DomnamePrintsTheNameOfAnId()
    {
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["domname", d.DomId.ToString()]);
        Assert.That((run.ExitCode, run.Out), Is.EqualTo((0, $"web{Environment.NewLine}")));
    }

    [Test]
    public async Task DomnameRefusesANonNumber()
    {
        var run = await _daemon.RunXlAsync(["domname", "web"]);
        Assert.That((run.ExitCode, run.Error.Trim()), Is.EqualTo((1, "Invalid domain id.")));
    }

    [Test]
    public async Task MemSetSendsTheTargetInKiBWithMiBAsTheDefaultUnit()
    {
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["mem-set", "web", "48"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(_daemon.Toolstack.MemoryTargets[d.DomId], Is.EqualTo(48 * 1024));
    }

    [Test]
    public async Task MemMaxAcceptsAUnitSuffix()
    {
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["mem-max", "web", "1g"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(_daemon.Toolstack.MemoryMaxima[d.DomId], Is.EqualTo(1024 * 1024));
    }

    [Test]
    public async Task MemSetOfAnUnknownDomainNamesTheDomainBeforeLookingAtTheSize()
    {
        var run = await _daemon.RunXlAsync(["mem-set", "ghost", "12q"]);
        Assert.That(run.ExitCode, Is.EqualTo(XlExit.Failure));
        Assert.That(run.Error, Does.StartWith("ghost is an invalid domain identifier"));
    }

    [TestCase("mem-set", "dynamic")]
    [TestCase("mem-max", "static")]
    public async Task ARefusedMemoryChangeGivesTheReasonThenXlsLine(string command, string which)
    {
        var d = Create("web");
        _daemon.Toolstack.MemoryFailure = "memory target 1048576 KiB is above the domain's maximum 131072 KiB";
        var run = await _daemon.RunXlAsync([command, "web", "1g"]);
        Assert.That(run.ExitCode, Is.EqualTo(XlExit.Failure));
        Assert.That(run.Error, Is.EqualTo("memory target 1048576 KiB is above the domain's maximum 131072 KiB" + Environment.NewLine
            + $"cannot set domid {d.DomId} {which} max memory to : 1g" + Environment.NewLine));
    }

    [Test]
    public async Task MemSetRefusesAMalformedSize()
    {
        Create("web");
        var run = await _daemon.RunXlAsync(["mem-set", "web", "12q"]);
        Assert.That((run.ExitCode, run.Error.Trim()), Is.EqualTo((1, "invalid memory size: 12q")));
    }

    [TestCase("256", 256L * 1024)]
    [TestCase("256m", 256L * 1024)]
    [TestCase("2G", 2L * 1024 * 1024)]
    [TestCase("1t", 1L << 30)]
    [TestCase("4096k", 4096L)]
    [TestCase("1048576b", 1024L)]
    public void MemorySizesParseAsXlsParseMemSizeKb(string text, long kib) =>
        Assert.That(XlDomainCommands.ParseMemorySizeKiB(text), Is.EqualTo(kib));

    [TestCase("")]
    [TestCase("m")]
    [TestCase("-5")]
    [TestCase("12mb")]
    [TestCase("99999999999999999999")]
    [TestCase("9999999999999t")]
    public void MalformedMemorySizesAreRejected(string text) =>
        Assert.That(XlDomainCommands.ParseMemorySizeKiB(text), Is.Null);

    [Test]
    public async Task InfoPrintsXensFieldsIncludingCapsAndVirtCaps()
    {
        var run = await _daemon.RunXlAsync(["info"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Does.Contain("xen_caps               : xen-3.0-x86_64"));
        Assert.That(lines, Does.Contain("virt_caps              : pv"));
        Assert.That(lines, Does.Contain("xen_version            : 4.19.0-paravirt"));
        Assert.That(lines, Does.Contain("total_memory           : 2048"));
        Assert.That(lines.All(l => l.Length >= 25 && l[23] == ':'), Is.True, "every line is '%-23s: %s'");
    }

    [Test]
    public async Task InfoWithANamePrintsOnlyTheValuesOfTheFieldsStartingWithIt()
    {
        var run = await _daemon.RunXlAsync(["info", "xen_caps"]);
        Assert.That((run.ExitCode, run.Out), Is.EqualTo((0, "xen-3.0-x86_64\n")));
        var prefix = await _daemon.RunXlAsync(["info", "xen_m"]);
        Assert.That(prefix.Out, Is.EqualTo("4\n19\n"), "xen_major then xen_minor: a prefix, as maybe_printf's strncmp");
    }

    [Test]
    public async Task InfoDashNAddsTheTopologyAndNumaTables()
    {
        var run = await _daemon.RunXlAsync(["info", "-n"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Out, Does.Contain("cpu_topology           :\ncpu:    core    socket     node\n  0:       0        0        0\n"));
        Assert.That(run.Out, Does.Contain("numa_info              :\nnode:    memsize    memfree    distances\n   0:      2048       1024      10\n"));
        Assert.That(run.Out.IndexOf("numa_info", StringComparison.Ordinal), Is.LessThan(run.Out.IndexOf("xen_major", StringComparison.Ordinal)));
    }

    [Test]
    public void CpuMhzIsPrintedFromKilohertzAsXlDoes() =>
        Assert.That(InfoFormat.Render(new HostSummary(), "h", "r", "v", cpuKhz: 3400050), Does.Contain("cpu_mhz                : 3400.050\n"));

    [Test]
    public void HwCapsFollowsCpuMhzAsEightFeatureWordsOfTheHostCpu()
    {
        if (!System.Runtime.Intrinsics.X86.X86Base.IsSupported) Assert.Ignore("not an x86 host: no CPUID to read");
        var text = InfoFormat.Render(new HostSummary(), "h", "r", "v", cpuKhz: 1000);
        var m = System.Text.RegularExpressions.Regex.Match(text,
            @"cpu_mhz                : 1\.000\nhw_caps                : ((?:[0-9a-f]{8}:){7}[0-9a-f]{8})\nvirt_caps");
        Assert.That(m.Success, Is.True, text);
        // Word 0 is CPUID 1.edx: every x86-64 CPU has FPU (bit 0) and SSE2 (bit 26).
        uint edx1 = Convert.ToUInt32(m.Groups[1].Value[..8], 16);
        Assert.That(edx1 & 1u, Is.EqualTo(1u));
        Assert.That(edx1 & (1u << 26), Is.EqualTo(1u << 26));
        // Word 2 is 0x80000001.edx: long mode (bit 29).
        uint e1edx = Convert.ToUInt32(m.Groups[1].Value.Split(':')[2], 16);
        Assert.That(e1edx & (1u << 29), Is.EqualTo(1u << 29));
    }

    [Test]
    public void UptimeRowsFollowXlsFormat()
    {
        var start = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var d = new DomainSummary { DomId = 3, Name = "web", StartTimeUtc = start };
        string table = UptimeFormat.Table([d], start.AddSeconds(2 * 86400 + 3 * 3600 + 4 * 60 + 5), shortMode: false);
        Assert.That(table, Is.EqualTo("Name                                ID Uptime\nweb                                  3 2 days,  3:04:05\n"));
    }

    [TestCase(59, false, " 0:00:59")]
    [TestCase(86400 + 61, false, "1 day,  0:01:01")]
    [TestCase(86400 + 61, true, "1 day,  0:01")]
    [TestCase(3600 * 13, true, "13:00")]
    public void UptimeDurationsMatchUptimeToString(long seconds, bool shortMode, string expected) =>
        Assert.That(UptimeFormat.Duration(seconds, shortMode), Is.EqualTo(expected));

    [Test]
    public async Task ListLongPrintsLibxlJsonWithDomidAndConfig()
    {
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["list", "-l", "web"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var entry = (JObject)JArray.Parse(run.Out).Single();
        Assert.Multiple(() =>
        {
            Assert.That((uint)entry["domid"]!, Is.EqualTo(d.DomId));
            Assert.That((string)entry["config"]!["c_info"]!["name"]!, Is.EqualTo("web"));
            Assert.That((string)entry["config"]!["c_info"]!["type"]!, Is.EqualTo("pv"));
            Assert.That((long)entry["config"]!["b_info"]!["target_memkb"]!, Is.EqualTo(64 * 1024));
            Assert.That((long)entry["config"]!["b_info"]!["max_memkb"]!, Is.EqualTo(128 * 1024));
            Assert.That((string)entry["config"]!["b_info"]!["type.pv"]!["kernel"]!, Is.EqualTo("/k/hello"));
            Assert.That((string)entry["config"]!["on_reboot"]!, Is.EqualTo("restart"));
        });
    }

    [Test]
    public void ListLongLeavesOutADomainWithoutAConfigurationAsXlDoesDomain0() =>
        Assert.That(JArray.Parse(LibxlJson.List([new DomainSummary { DomId = 0, Name = "Domain-0" }])), Is.Empty);

    [Test]
    public async Task ListLongShowsTheRunningDomainsNameAndUuid()
    {
        var d = Create("web");
        await _daemon.RunXlAsync(["rename", "web", "www"]);
        var run = await _daemon.RunXlAsync(["list", "-l"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var entries = JArray.Parse(run.Out);
        var web = entries.Single(e => (uint)e["domid"]! == d.DomId);
        Assert.That((string)web["config"]!["c_info"]!["name"]!, Is.EqualTo("www"));
        Assert.That((string)web["config"]!["c_info"]!["uuid"]!, Is.EqualTo(d.Uuid.ToString()));
    }

    [Test]
    public async Task ListTakesAtMostOneDomainAsXlDoes()
    {
        Create("a");
        Create("b");
        var run = await _daemon.RunXlAsync(["list", "a", "b"]);
        Assert.That(run.ExitCode, Is.EqualTo(XlExit.Failure));
        Assert.That(run.Error, Does.StartWith("Usage: xl [-v] list"));
    }

    [Test]
    public async Task ListVerboseAddsUuidAndReasonColumns()
    {
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["list", "-v", "web"]);
        var lines = run.Out.Split('\n');
        Assert.That(lines[0], Does.EndWith("Reason-Code\tSecurity Label"));
        Assert.That(lines[1], Does.EndWith($" {d.Uuid}        -                -"));
    }

    [TestCase("---sc-", "       3")]
    [TestCase("---sr-", "       1")]
    [TestCase("---s--", "       0")]
    [TestCase("-b----", "       -")]
    public void ListVerboseShowsTheShutdownReasonCodeFromTheFifthLetter(string state, string reason)
    {
        var row = DomainListFormat.Table([new DomainSummary { Name = "x", State = state }], verbose: true).Split('\n')[1];
        Assert.That(row, Does.EndWith($"{reason}                -"));
    }

    [Test]
    public async Task DestroyRefusesDomain0WithoutDashFAsXlDoes()
    {
        var run = await _daemon.RunXlAsync(["destroy", "0"]);
        Assert.That(run.ExitCode, Is.EqualTo(XlExit.Failure));
        Assert.That(run.Error, Does.StartWith("Not destroying domain 0; use -f to force."));
    }

    [Test]
    public async Task DestroyDashFPassesTheRequestOn()
    {
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["destroy", "-f", "web"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(_daemon.Toolstack.Exists(d.DomId), Is.False);
    }

    [Test]
    public void VcpuListRowsFollowXlsColumns()
    {
        var d = new DomainSummary
        {
            DomId = 2, Name = "web",
            VcpuStates = [new VcpuSummary { Id = 0, Online = true, Blocked = true, CpuTimeSeconds = 1.25, Cpu = 1, HardAffinity = "0-1", SoftAffinity = "all" }],
        };
        var lines = VcpuListFormat.Table([d]).Split('\n');
        Assert.That(lines[0], Is.EqualTo("Name                                ID  VCPU   CPU State   Time(s) Affinity (Hard / Soft)"));
        Assert.That(lines[1], Is.EqualTo("web                                  2     0    1   -b-       1.2  0-1 / all"));
    }

    [Test]
    public async Task VcpuSetSendsTheCount()
    {
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["vcpu-set", "web", "1"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(_daemon.Toolstack.OnlineVcpus[d.DomId], Is.EqualTo(1));
    }

    [Test]
    public async Task VcpuSetRefusesANonNumber()
    {
        Create("web");
        var run = await _daemon.RunXlAsync(["vcpu-set", "web", "many"]);
        Assert.That((run.ExitCode, run.Error.Trim()), Is.EqualTo((1, "Error: Invalid argument.")));
    }

    [Test]
    public void LibxlActionNamesUseUnderscores()
    {
        Assert.That(LibxlJson.Action(DomainAction.RenameRestart), Is.EqualTo("rename_restart"));
        Assert.That(LibxlJson.Action(DomainAction.CoredumpDestroy), Is.EqualTo("coredump_destroy"));
    }
}

/// <summary>xl's global options before the command.</summary>
public class XlGlobalOptionTests
{
    private DaemonHarness _daemon = null!;

    [SetUp]
    public void Start() => _daemon = DaemonHarness.Start();

    [TearDown]
    public async Task Stop() => await _daemon.DisposeAsync();

    [Test]
    public async Task GlobalDashNMakesCreateADryRun()
    {
        string kernel = Path.Combine(_daemon.Directory, "k.elf");
        File.WriteAllBytes(kernel, [0x7F, (byte)'E', (byte)'L', (byte)'F']);
        string cfg = Path.Combine(_daemon.Directory, "g.cfg");
        File.WriteAllText(cfg, $"name = \"g\"\nmemory = 16\nkernel = \"{kernel}\"\n");
        var run = await _daemon.RunXlAsync(["-N", "create", cfg]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That((string?)JObject.Parse(run.Out)["config"]?["c_info"]?["name"], Is.EqualTo("g"));
        Assert.That(_daemon.Toolstack.List(), Is.Empty);
    }

    [Test]
    public async Task GlobalDashNIsRefusedByCommandsWithoutADryRun()
    {
        var run = await _daemon.RunXlAsync(["-N", "destroy", "x"]);
        Assert.That((run.ExitCode, run.Error.Trim()), Is.EqualTo((1, "command does not implement -N (dryrun) option")));
    }

    [Test]
    public async Task GlobalDashVIsAccepted()
    {
        var run = await _daemon.RunXlAsync(["-v", "list"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Out, Does.StartWith("Name"));
    }
}
