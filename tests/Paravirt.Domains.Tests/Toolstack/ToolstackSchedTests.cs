using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Domains.Console;
using Paravirt.Domains.Toolstack;
using Paravirt.Domains.XenStore;

namespace Paravirt.Domains.Tests.Toolstack;

/// <summary>cpus / cpu_weight / cap at create, sched-credit parameters and vcpu-pin, on a 4-pCPU hypervisor.</summary>
public class ToolstackSchedTests
{
    private MachineMemory _memory = null!;
    private Hypervisor.Hypervisor _hv = null!;
    private Domains.Toolstack.Toolstack _ts = null!;

    [SetUp]
    public void Start()
    {
        _memory = new MachineMemory(32768);
        _hv = new Hypervisor.Hypervisor(_memory, new ParkedPlatform(), pcpus: 4);
        _ts = new Domains.Toolstack.Toolstack(_hv, new XenStoreDaemon(), new XenConsoled(_hv, logDirectory: null));
    }

    [TearDown]
    public void Stop()
    {
        _ts.Dispose();
        _hv.Dispose();
        _memory.Dispose();
    }

    private static XlConfig.DomainConfig Config(string name = "g", int vcpus = 2, int maxvcpus = 0) => new()
    {
        Name = name, MemoryMiB = 16, MaxMemMiB = 16, Vcpus = vcpus, MaxVcpus = maxvcpus, Kernel = ToolstackFixture.HelloKernel,
    };

    private Hypervisor.Domain Domain(DomainInfo info) => _hv.GetDomain((ushort)info.DomId)!;

    [Test]
    public void CpuWeightAndCapFromTheConfigAreAppliedAtCreate()
    {
        var c = Config();
        c.CpuWeight = 512;
        c.Cap = 150;
        var info = _ts.Create(c, paused: true);
        Assert.That(_ts.GetSchedCredit(info.DomId), Is.EqualTo(new SchedCreditParams(info.DomId, "g", 512, 150)));
    }

    [Test]
    public void ADomainWithoutSchedKeysGetsWeight256AndNoCap()
    {
        var info = _ts.Create(Config(), paused: true);
        Assert.That((_ts.GetSchedCredit(info.DomId).Weight, _ts.GetSchedCredit(info.DomId).Cap), Is.EqualTo((256, 0)));
    }

    [Test]
    public void ACpusStringPinsEveryVcpu()
    {
        var c = Config();
        c.Cpus = ["1-3,^2"];
        var d = Domain(_ts.Create(c, paused: true));
        Assert.That(d.Vcpus.Select(v => v.HardAffinity.ToString()), Is.EqualTo(new[] { "1,3", "1,3" }));
        Assert.That(d.Vcpus.Select(v => v.Pcpu), Is.All.EqualTo(1), "a vCPU starts on the first pCPU it may use");
    }

    [Test]
    public void ACpusListPinsEachVcpuAndLeavesTheRestOnAll()
    {
        var c = Config(vcpus: 3);
        c.Cpus = ["2", "0-1"];
        c.CpusPerVcpu = true;
        var info = _ts.Create(c, paused: true);
        Assert.That(info.VcpuStates!.Select(v => (v.Cpu, v.HardAffinity, v.SoftAffinity)),
            Is.EqualTo(new[] { (2, "2", "all"), (0, "0-1", "all"), (0, "all", "all") }));
    }

    [Test]
    public void CpusSelectingNoPcpuOfTheHostFailsTheCreateAndLeavesNothing()
    {
        var c = Config();
        c.Cpus = ["6-7"];
        var e = Assert.Throws<ToolstackException>(() => _ts.Create(c, paused: true))!;
        Assert.That(e.Message, Does.Contain("\"6-7\" selects no pCPU of this host (0-3)"));
        Assert.That(_ts.List().Select(d => d.DomId), Is.EqualTo(new uint[] { 0 }));
    }

    [TestCase(0)]
    [TestCase(65536)]
    [TestCase(-3)]
    public void AWeightOutOfRangeIsRefusedAsLibxlDoesAndChangesNothing(int weight)
    {
        var info = _ts.Create(Config(), paused: true);
        var e = Assert.Throws<ToolstackException>(() => _ts.SetSchedCredit(info.DomId, weight, 10))!;
        Assert.That(e.Message, Is.EqualTo($"Domain {info.DomId}:Cpu weight out of range, valid values are within range from 1 to 65535"));
        Assert.That(_ts.GetSchedCredit(info.DomId), Is.EqualTo(new SchedCreditParams(info.DomId, "g", 256, 0)));
    }

    [Test]
    public void ACapAboveOneHundredPerVcpuIsRefused()
    {
        var info = _ts.Create(Config(vcpus: 1, maxvcpus: 2), paused: true);
        Assert.DoesNotThrow(() => _ts.SetSchedCredit(info.DomId, null, 200));
        var e = Assert.Throws<ToolstackException>(() => _ts.SetSchedCredit(info.DomId, null, 201))!;
        Assert.That(e.Message, Is.EqualTo($"Domain {info.DomId}:Cpu cap out of range, valid range is from 0 to 200 for specified number of vcpus"));
        Assert.That(_ts.GetSchedCredit(info.DomId).Cap, Is.EqualTo(200));
    }

    [Test]
    public void SettingOnlyTheWeightKeepsTheCap()
    {
        var info = _ts.Create(Config(), paused: true);
        _ts.SetSchedCredit(info.DomId, null, 50);
        _ts.SetSchedCredit(info.DomId, 1000, null);
        Assert.That(_ts.GetSchedCredit(info.DomId), Is.EqualTo(new SchedCreditParams(info.DomId, "g", 1000, 50)));
    }

    [Test]
    public void Domain0HasCreditParametersToo()
    {
        _ts.SetSchedCredit(0, 512, null);
        Assert.That(_ts.GetSchedCredit(0), Is.EqualTo(new SchedCreditParams(0, "Domain-0", 512, 0)));
    }

    [Test]
    public void PinningOneVcpuSetsItsHardAndSoftAffinity()
    {
        var info = _ts.Create(Config(), paused: true);
        _ts.PinVcpu(info.DomId, 1, "3", "2-3");
        var states = _ts.Find(info.DomId.ToString()).VcpuStates!;
        Assert.That((states[1].HardAffinity, states[1].SoftAffinity, states[1].Cpu), Is.EqualTo(("3", "2-3", 3)));
        Assert.That((states[0].HardAffinity, states[0].SoftAffinity), Is.EqualTo(("all", "all")));
    }

    [Test]
    public void PinningAllVcpusWithOnlyASoftAffinityKeepsTheHardOne()
    {
        var info = _ts.Create(Config(), paused: true);
        _ts.PinVcpu(info.DomId, 0, "0-1", null);
        _ts.PinVcpu(info.DomId, null, null, "1");
        var states = _ts.Find(info.DomId.ToString()).VcpuStates!;
        Assert.That(states.Select(s => (s.HardAffinity, s.SoftAffinity)), Is.EqualTo(new[] { ("0-1", "1"), ("all", "1") }));
    }

    [Test]
    public void PinningAVcpuThatDoesNotExistIsRefused()
    {
        var info = _ts.Create(Config(), paused: true);
        var e = Assert.Throws<ToolstackException>(() => _ts.PinVcpu(info.DomId, 2, "0", null))!;
        Assert.That(e.Message, Does.Contain("vcpu 2 does not exist"));
    }

    [Test]
    public void PinningToNoPcpuOfTheHostIsRefusedAndChangesNothing()
    {
        var info = _ts.Create(Config(), paused: true);
        Assert.Throws<ToolstackException>(() => _ts.PinVcpu(info.DomId, null, "4-9", null));
        Assert.Throws<ToolstackException>(() => _ts.PinVcpu(info.DomId, null, "0-x", null));
        Assert.That(_ts.Find(info.DomId.ToString()).VcpuStates!.Select(s => s.HardAffinity), Is.All.EqualTo("all"));
    }

    [Test]
    public void ListCountsOnlyOnlineVcpus()
    {
        var info = _ts.Create(Config(vcpus: 1, maxvcpus: 4), paused: true);
        Assert.That(info.Vcpus, Is.EqualTo(1));
        Assert.That(info.VcpuStates, Has.Count.EqualTo(4));
    }

    [Test]
    public void ThePoolHasXensDefaultsAndTakesValidChanges()
    {
        Assert.That(_ts.GetSchedCreditPool(), Is.EqualTo(new SchedCreditPool("Pool-0", 30, 1000, 0)));
        _ts.SetSchedCreditPool(10, 500, 100);
        Assert.That(_ts.GetSchedCreditPool(), Is.EqualTo(new SchedCreditPool("Pool-0", 10, 500, 100)));
        Assert.That(() => _ts.SetSchedCreditPool(1001, null, null), Throws.TypeOf<ToolstackException>().With.Message.Contains("Time slice out of range"));
        Assert.That(() => _ts.SetSchedCreditPool(null, 50, null), Throws.TypeOf<ToolstackException>().With.Message.Contains("Ratelimit out of range"));
        Assert.That(() => _ts.SetSchedCreditPool(null, 20_000, null), Throws.TypeOf<ToolstackException>().With.Message.EqualTo("Ratelimit cannot be greater than timeslice"));
        Assert.That(_ts.GetSchedCreditPool(), Is.EqualTo(new SchedCreditPool("Pool-0", 10, 500, 100)));
    }

    [Test]
    public void InfoReportsTheSchedulersPcpus()
    {
        Assert.That(_ts.GetHostInfo().NrCpus, Is.EqualTo(4));
        Assert.That(_ts.GetHostInfo().Scheduler, Is.EqualTo("credit"));
    }
}
