using System.Text;
using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Daemon;
using Paravirt.Domains.Console;
using Paravirt.Domains.XenStore;
using Paravirt.Xl;

namespace Paravirt.Tools.Tests;

/// <summary>
/// xl sched-credit, vcpu-pin and vcpu-list against paravirtd's server with the real toolstack over a 4-pCPU
/// hypervisor whose vCPUs never run guest code.
/// </summary>
public class XlSchedCommandsTests
{
    private string _dir = null!;
    private MachineMemory _memory = null!;
    private Hypervisor.Hypervisor _hv = null!;
    private Domains.Toolstack.Toolstack _ts = null!;
    private ControlServer _server = null!;

    [SetUp]
    public void Start()
    {
        _dir = Path.Combine("/tmp", "pvs-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_dir);
        _memory = new MachineMemory(32768);
        _hv = new Hypervisor.Hypervisor(_memory, new IdlePlatform(), pcpus: 4);
        _ts = new Domains.Toolstack.Toolstack(_hv, new XenStoreDaemon(), new XenConsoled(_hv, logDirectory: null));
        _server = new ControlServer(new RequestDispatcher(_ts, DaemonLog.None), Path.Combine(_dir, "paravirtd.sock"), DaemonLog.None);
        _server.Start();
    }

    [TearDown]
    public async Task Stop()
    {
        await _server.DisposeAsync();
        _ts.Dispose();
        _hv.Dispose();
        _memory.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string Kernel
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Paravirt.sln"))) dir = dir.Parent;
            string k = Path.Combine(dir!.FullName, "guest-sdk", "build", "examples", "hello");
            if (!File.Exists(k)) Assert.Ignore($"guest kernel {k} is not built (dotnet build guest-sdk)");
            return k;
        }
    }

    private uint Create(string name, int vcpus = 2) =>
        _ts.Create(new XlConfig.DomainConfig { Name = name, MemoryMiB = 16, MaxMemMiB = 16, Vcpus = vcpus, Kernel = Kernel }, paused: true).DomId;

    private async Task<(int Code, string Out, string Error)> Xl(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var context = new XlContext(output, error, new MemoryStream(), Stream.Null, false, new SocketConnector(_server.SocketPath), () => null);
        int code = await XlCommandLine.RunAsync(args, context).WaitAsync(TimeSpan.FromSeconds(20));
        return (code, output.ToString(), error.ToString());
    }

    private static string Row(string name, uint id, int weight, int cap) => $"{name,-33} {id,4} {weight,6} {cap,4}\n";
    private const string Header = "Name                                ID Weight  Cap\n";
    private const string PoolLine = "Cpupool Pool-0: tslice=30ms ratelimit=1000us migration-delay=0us\n";

    [Test]
    public async Task SchedCreditWithoutArgumentsListsThePoolAndEveryDomain()
    {
        uint web = Create("web");
        var run = await Xl("sched-credit");
        Assert.That(run.Code, Is.Zero, run.Error);
        Assert.That(run.Out, Is.EqualTo(PoolLine + Header + Row("Domain-0", 0, 256, 0) + Row("web", web, 256, 0)));
    }

    [Test]
    public async Task SchedCreditSetsWeightAndCapAndDashDShowsThem()
    {
        uint web = Create("web");
        var set = await Xl("sched-credit", "-d", "web", "-w", "512", "-c", "50");
        Assert.That((set.Code, set.Out, set.Error), Is.EqualTo((0, "", "")));
        var show = await Xl("sched-credit", "-d", web.ToString());
        Assert.That(show.Out, Is.EqualTo(Header + Row("web", web, 512, 50)));
        Assert.That(_hv.GetDomain((ushort)web)!.SchedWeight, Is.EqualTo(512));
    }

    [Test]
    public async Task SchedCreditWeightOutOfRangeFailsWithLibxlsMessageAndExit1()
    {
        uint web = Create("web");
        var run = await Xl("sched-credit", "-d", "web", "-w", "70000");
        Assert.That(run.Code, Is.EqualTo(1));
        Assert.That(run.Error, Is.EqualTo(
            $"libxl: error: Domain {web}:Cpu weight out of range, valid values are within range from 1 to 65535\nlibxl_domain_sched_params_set failed.\n"));
        Assert.That(_hv.GetDomain((ushort)web)!.SchedWeight, Is.EqualTo(256));
    }

    [Test]
    public async Task SchedCreditCapAboveTheVcpusIsRefused()
    {
        uint web = Create("web", vcpus: 1);
        var run = await Xl("sched-credit", "-d", "web", "-c", "101");
        Assert.That(run.Code, Is.EqualTo(1));
        Assert.That(run.Error, Does.Contain($"Domain {web}:Cpu cap out of range, valid range is from 0 to 100 for specified number of vcpus"));
    }

    [TestCase(new[] { "sched-credit", "-w", "10" }, "Must specify a domain.")]
    [TestCase(new[] { "sched-credit", "-s", "-d", "0" }, "Specifying a cpupool or schedparam is not allowed with domain options.")]
    [TestCase(new[] { "sched-credit", "-t", "10" }, "Must specify schedparam to set schedule parameter values.")]
    [TestCase(new[] { "sched-credit", "-p", "Pool-1" }, "unknown cpupool 'Pool-1'")]
    [TestCase(new[] { "sched-credit", "-d", "nosuch" }, "nosuch is an invalid domain identifier")]
    public async Task SchedCreditRefusesWhatXlRefuses(string[] args, string message)
    {
        var run = await Xl(args);
        Assert.That(run.Code, Is.EqualTo(1));
        Assert.That(run.Error, Does.StartWith(message));
        Assert.That(run.Out, Is.Empty);
    }

    [Test]
    public async Task SchedCreditDashSPrintsAndSetsThePoolParameters()
    {
        Assert.That((await Xl("sched-credit", "-s")).Out, Is.EqualTo(PoolLine));
        Assert.That((await Xl("sched-credit", "-s", "-t", "10", "-r", "500")).Code, Is.Zero);
        Assert.That((await Xl("sched-credit", "-s", "-p", "Pool-0")).Out, Is.EqualTo("Cpupool Pool-0: tslice=10ms ratelimit=500us migration-delay=0us\n"));
        var bad = await Xl("sched-credit", "-s", "-r", "20000");
        Assert.That(bad.Code, Is.EqualTo(1));
        Assert.That(bad.Error, Is.EqualTo("libxl: error: Ratelimit cannot be greater than timeslice\nlibxl_sched_credit_params_set failed.\n"));
    }

    [Test]
    public async Task VcpuPinSetsTheAffinityThatVcpuListShows()
    {
        uint web = Create("web");
        var pin = await Xl("vcpu-pin", "web", "1", "2-3", "3");
        Assert.That((pin.Code, pin.Error), Is.EqualTo((0, "")));
        var list = await Xl("vcpu-list", "web");
        // print_vcpuinfo: "%-32s %5u %5u" then "%5u %3c%c- " then "%9.1f  " then hard " / " soft.
        Assert.That(list.Out, Is.EqualTo(
            $"{"Name",-32} {"ID",5} {"VCPU",5} {"CPU",5} {"State",5} {"Time(s)",9} Affinity (Hard / Soft)\n" +
            $"{"web",-32} {web,5} {0,5}{0,5} {'-',3}-- {"0.0",9}  all / all\n" +
            $"{"web",-32} {web,5} {1,5}{'-',5} {'-',3}-p {"0.0",9}  2-3 / 3\n"), "vcpu 1 stays down until the guest brings it up");
    }

    [Test]
    public async Task VcpuPinAllWithADashKeepsTheHardAffinity()
    {
        uint web = Create("web");
        await Xl("vcpu-pin", "web", "0", "1");
        var run = await Xl("vcpu-pin", "web", "all", "-", "0,2");
        Assert.That(run.Code, Is.Zero, run.Error);
        var vcpus = _hv.GetDomain((ushort)web)!.Vcpus;
        Assert.That(vcpus.Select(v => $"{v.HardAffinity} / {v.SoftAffinity}"), Is.EqualTo(new[] { "1 / 0,2", "all / 0,2" }));
    }

    [Test]
    public async Task VcpuPinRefusesABadVcpuAndForceWithAll()
    {
        Create("web");
        var bad = await Xl("vcpu-pin", "web", "x", "1");
        Assert.That((bad.Code, bad.Error), Is.EqualTo((1, "Error: Invalid argument x as VCPU.\n")));
        var force = await Xl("vcpu-pin", "-f", "web", "all", "1");
        Assert.That((force.Code, force.Error), Is.EqualTo((1, "Error: --force and 'all' as VCPU not allowed.\n")));
    }

    [Test]
    public async Task VcpuPinOfAMissingVcpuOrNoPcpuFailsAndChangesNothing()
    {
        uint web = Create("web");
        var missing = await Xl("vcpu-pin", "web", "7", "1");
        Assert.That(missing.Code, Is.EqualTo(1));
        Assert.That(missing.Error, Does.EndWith("Could not set affinity for vcpu `7'.\n"));
        var none = await Xl("vcpu-pin", "web", "all", "9");
        Assert.That(none.Code, Is.EqualTo(1));
        Assert.That(none.Error, Does.EndWith("Could not set affinity.\n"));
        Assert.That(_hv.GetDomain((ushort)web)!.Vcpus.Select(v => v.HardAffinity.ToString()), Is.All.EqualTo("all"));
    }

    [Test]
    public async Task VcpuPinWithTooFewArgumentsIsAUsageError()
    {
        var run = await Xl("vcpu-pin", "web", "0");
        Assert.That(run.Code, Is.EqualTo(2));
    }

    [Test]
    public async Task VcpuPinDryRunPrintsTheCpumapAndChangesNothing()
    {
        uint web = Create("web");
        var run = await Xl("-N", "vcpu-pin", "web", "0", "0-1,3", "all");
        Assert.That((run.Code, run.Out), Is.EqualTo((0, "cpumap: 0-1,3 all\n")), run.Error);
        var dash = await Xl("-N", "vcpu-pin", "web", "0", "-");
        Assert.That(dash.Out, Is.EqualTo("cpumap: -\n"));
        Assert.That(_hv.GetDomain((ushort)web)!.Vcpus[0].HardAffinity.ToString(), Is.EqualTo("all"));
    }

    [Test]
    public async Task ListCountsOnlineVcpus()
    {
        uint web = _ts.Create(new XlConfig.DomainConfig { Name = "web", MemoryMiB = 16, MaxMemMiB = 16, Vcpus = 1, MaxVcpus = 3, Kernel = Kernel }, paused: true).DomId;
        var run = await Xl("list", "web");
        Assert.That(run.Out.Split('\n')[1], Does.Match($@"^web\s+{web}\s+16\s+1\s"));
    }

    /// <summary>vCPUs that hold registers and never run guest code (they wait for a kick).</summary>
    private sealed class IdlePlatform : IPlatform
    {
        public string Name => "idle";
        public IVcpu CreateVcpu(MachineMemory memory) => new Cpu();

        private sealed class Cpu : IVcpu
        {
            private readonly ManualResetEventSlim _kick = new();
            public VcpuRegisters Registers { get; } = new();
            public VcpuExit Run() { _kick.Wait(); _kick.Reset(); return VcpuExit.Kicked; }
            public void Kick() => _kick.Set();
            public void FlushTlb() { }
            public void InvalidatePage(ulong linearAddress) { }
            public Func<uint, uint, (uint Eax, uint Ebx, uint Ecx, uint Edx)>? Cpuid { get; set; }
            public void Dispose() => _kick.Dispose();
        }
    }
}
