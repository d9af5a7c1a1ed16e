using NUnit.Framework;
using Paravirt.Control.Messages;
using Paravirt.Domains.Toolstack;
using Paravirt.Xl;
using Paravirt.XlConfig;

namespace Paravirt.Tools.Tests;

/// <summary>xl top: xentop's table, its batch mode (what CI reads) and its display switches.</summary>
public class XlTopTests
{
    private DaemonHarness _daemon = null!;

    [SetUp]
    public void Start() => _daemon = DaemonHarness.Start();

    [TearDown]
    public async Task Stop() => await _daemon.DisposeAsync();

    private DomainInfo Create(string name, int vcpus = 1) =>
        _daemon.Toolstack.Create(new DomainConfig { Name = name, MemoryMiB = 64, MaxMemMiB = 128, Vcpus = vcpus, Kernel = "/k" }, paused: false);

    private static readonly HostSummary Host = new()
    {
        NrCpus = 4, TotalMemoryMiB = 1024, FreeMemoryMiB = 512, XenMajor = 4, XenMinor = 19, XenExtra = ".0-paravirt",
    };

    private static TopSample Sample(DateTime at, params DomainSummary[] domains) =>
        new(Host, domains, new Dictionary<uint, IReadOnlyList<DiskSummary>>(), at);

    [Test]
    public void TheHeaderHasXentopsNineteenColumnsAtTheirWidths() =>
        Assert.That(TopFormat.Header, Is.EqualTo(
            "      NAME  STATE   CPU(sec) CPU(%)     MEM(k) MEM(%)  MAXMEM(k) MAXMEM(%) VCPUS NETS NETTX(k) NETRX(k) VBDS   VBD_OO   VBD_RD   VBD_WR  VBD_RSECT  VBD_WSECT SSID"));

    [Test]
    public void ARowIsFormattedAsXentopsDoDomain()
    {
        var d = new DomainSummary { DomId = 1, Name = "web", State = "r-----", CpuTimeSeconds = 3.9, MemoryMiB = 64, MaxKiB = 131072, Vcpus = 2 };
        Assert.That(TopFormat.Row(d, 50, 1024 * 1024, vbds: 0), Is.EqualTo(
            "       web -----r          3   50.0      65536    6.2     131072      12.5     2    0        0        0    0        0        0        0          0          0    0"));
    }

    [Test]
    public void ADomainWithoutAMaximumShowsNoLimit()
    {
        var d = new DomainSummary { Name = "Domain-0", State = "r-----", Vcpus = 2 };
        Assert.That(TopFormat.Row(d, 0, 1024, 0), Does.Contain("  no limit       n/a "));
    }

    [Test]
    public void BlockCountersThatAreNotKeptShowAsDashes() =>
        Assert.That(TopFormat.Row(new DomainSummary { Name = "db", State = "-b----" }, 0, 1024, vbds: 2),
            Does.EndWith("    2        -        -        -          -          -    0"));

    [Test]
    public void BlockCountersAreTheSumsOfTheDomainsDevices()
    {
        DiskSummary[] disks =
        [
            new() { DevId = 51712, OoReq = 0, RdReq = 10, WrReq = 3, RdSect = 80, WrSect = 24 },
            new() { DevId = 51728, OoReq = 1, RdReq = 5, WrReq = 2, RdSect = 40, WrSect = 16 },
        ];
        Assert.That(TopFormat.Row(new DomainSummary { Name = "db", State = "-b----" }, 0, 1024, vbds: 2, disks: disks),
            Does.EndWith("    2        1       15        5        120         40    0"));
        Assert.That(TopFormat.VbdLine(disks[0]),
            Is.EqualTo("VBD BlkBack 51712 [ca: 0]  OO:        0   RD:       10   WR:        3   RSECT:         80   WSECT:         24\n"));
    }

    [Test]
    public void ADeviceWithoutCountersMakesTheTotalsUnavailable() =>
        Assert.That(TopFormat.Row(new DomainSummary { Name = "db", State = "-b----" }, 0, 1024, vbds: 2,
                disks: [new() { DevId = 1, OoReq = 0, RdReq = 1, WrReq = 1, RdSect = 1, WrSect = 1 }, new() { DevId = 2 }]),
            Does.EndWith("    2        -        -        -          -          -    0"));

    [Test]
    public void LongNamesAreTruncatedToTenUnlessFullName()
    {
        var d = new DomainSummary { Name = "a-very-long-name", State = "-b----" };
        Assert.That(TopFormat.Row(d, 0, 1024, 0), Does.StartWith("a-very-lon --b--- "));
        Assert.That(TopFormat.Row(d, 0, 1024, 0, nameWidth: 16, fullName: true), Does.StartWith("a-very-long-name --b--- "));
    }

    [TestCase("r-----", "-----r")]
    [TestCase("-b----", "--b---")]
    [TestCase("--p---", "----p-")]
    [TestCase("---s--", "-s----")]
    [TestCase("---sc-", "-s-c--")]
    [TestCase("---sr-", "-s----")]
    [TestCase("-----d", "d-----")]
    [TestCase("--ps--", "-s--p-")]
    public void StateLettersAreInXentopsOrder(string list, string top) => Assert.That(TopFormat.State(list), Is.EqualTo(top));

    [Test]
    public void CpuPercentIsCpuTimeBetweenSamplesOverWallTime()
    {
        var t0 = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var before = Sample(t0, new DomainSummary { DomId = 1, Name = "web", State = "r-----", CpuTimeSeconds = 2 });
        var after = Sample(t0.AddSeconds(2), new DomainSummary { DomId = 1, Name = "web", State = "r-----", CpuTimeSeconds = 3 });
        string row = TopFormat.Table(after, before, new TopOptions()).Split('\n')[1];
        Assert.That(row[29..35], Is.EqualTo("  50.0"));
        string first = TopFormat.Table(after, null, new TopOptions()).Split('\n')[1];
        Assert.That(first[29..35], Is.EqualTo("   0.0"), "no previous sample, no percentage");
    }

    [Test]
    public void DomainsAreSortedByNameIgnoringCaseAndDashZPutsDomain0First()
    {
        var sample = Sample(DateTime.UtcNow,
            new DomainSummary { DomId = 0, Name = "Domain-0", State = "r-----" },
            new DomainSummary { DomId = 1, Name = "beta", State = "-b----" },
            new DomainSummary { DomId = 2, Name = "Alpha", State = "-b----" });
        string Names(TopOptions o) => string.Join(",", TopFormat.Table(sample, null, o).Split('\n').Skip(1)
            .Where(l => l.Length > 0).Select(l => l[..10].Trim()));
        Assert.That(Names(new TopOptions()), Is.EqualTo("Alpha,beta,Domain-0"));
        Assert.That(Names(new TopOptions(Dom0First: true)), Is.EqualTo("Domain-0,Alpha,beta"));
    }

    [Test]
    public void RepeatHeaderPrintsTheHeaderBeforeEachDomain()
    {
        var sample = Sample(DateTime.UtcNow, new DomainSummary { Name = "a", State = "-b----" }, new DomainSummary { DomId = 1, Name = "b", State = "-b----" });
        Assert.That(TopFormat.Table(sample, null, new TopOptions(RepeatHeader: true)).Split('\n').Count(l => l == TopFormat.Header), Is.EqualTo(2));
        Assert.That(TopFormat.Table(sample, null, new TopOptions()).Split('\n').Count(l => l == TopFormat.Header), Is.EqualTo(1));
    }

    [Test]
    public void TheSummaryCountsEachDomainOnceByItsFirstState()
    {
        var sample = Sample(DateTime.UtcNow,
            new DomainSummary { Name = "Domain-0", State = "r-----" },
            new DomainSummary { Name = "a", State = "-b----" },
            new DomainSummary { Name = "b", State = "--ps--" });
        string summary = TopFormat.Summary(sample, new DateTime(2026, 1, 1, 10, 11, 12), 3400);
        Assert.That(summary, Is.EqualTo(
            "xentop - 10:11:12   Xen 4.19.0-paravirt\n"
            + "3 domains: 1 running, 1 blocked, 1 paused, 0 crashed, 0 dying, 0 shutdown \n"
            + "Mem: 1048576k total, 524288k used, 524288k free    CPUs: 4 @ 3400MHz\n"));
    }

    [Test]
    public void VcpuLinesListOnlineVcpusFiveToALine()
    {
        var d = new DomainSummary
        {
            Name = "smp", State = "r-----",
            VcpuStates = Enumerable.Range(0, 7).Select(i => new VcpuSummary { Id = i, Online = i != 3, CpuTimeSeconds = i }).ToList(),
        };
        Assert.That(TopFormat.VcpuLine(d), Is.EqualTo(
            "VCPUs(sec):   0:          0s  1:          1s  2:          2s  4:          4s\n          5:          5s  6:          6s\n"));
    }

    [Test]
    public async Task BatchModePrintsOnlyAHeaderAndRowsPerIteration()
    {
        Create("web");
        var run = await _daemon.RunXlAsync(["top", "-b", "-i", "2", "-d", "0.05"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(4));
        Assert.That(lines.Count(l => l == TopFormat.Header), Is.EqualTo(2));
        Assert.That(lines.Count(l => l.StartsWith("       web --b---", StringComparison.Ordinal)), Is.EqualTo(2));
        Assert.That(run.Out, Does.Not.Contain("\u001b").And.Not.Contain("xentop -"));
    }

    [Test]
    public async Task TheRowsShowMemoryMaximumAndAttachedDisks()
    {
        var d = Create("db");
        _daemon.Toolstack.AttachDisk(d.DomId, DiskSpec.Parse("vdev=xvda,target=/tmp/x.img"));
        var run = await _daemon.RunXlAsync(["top", "-b", "-i", "1", "-x"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[1], Does.Contain("     65536").And.Contain("     131072"));
        Assert.That(lines[1][104..108], Is.EqualTo("   1"), "VBDS");
        Assert.That(lines[2], Does.StartWith("VBD BlkBack 51712 [ca: 0]  OO:        -"));
    }

    [Test]
    public async Task InteractiveModeClearsTheScreenAndPrintsTheSummary()
    {
        Create("web");
        var run = await _daemon.RunXlAsync(["top", "-i", "1"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Out, Does.StartWith("\u001b[H\u001b[2Jxentop - "));
        Assert.That(run.Out, Does.Contain("1 domains: 0 running, 1 blocked, 0 paused, 0 crashed, 0 dying, 0 shutdown \n"));
    }

    [Test]
    public async Task ANegativeDelayIsAUsageError()
    {
        var run = await _daemon.RunXlAsync(["top", "-b", "-d", "-1"]);
        Assert.That(run.ExitCode, Is.EqualTo(XlExit.Usage));
    }
}
