using NUnit.Framework;
using Paravirt.Domains.Tests.Toolstack;
using Paravirt.Domains.Toolstack;

namespace Paravirt.Domains.Tests.Smp;

/// <summary>xl.cfg vcpus/maxvcpus through the toolstack: the vCPUs created, who is online, the xenstore nodes.</summary>
public class ToolstackVcpuTests
{
    private ToolstackFixture _f = null!;

    [SetUp]
    public void SetUp() => _f = new ToolstackFixture();

    [TearDown]
    public void TearDown() => _f.Dispose();

    [Test]
    public void MaxvcpusVcpusAreCreatedAndOnlyVcpuZeroIsUpAtBoot()
    {
        var c = _f.Config();
        c.Vcpus = 2;
        c.MaxVcpus = 4;
        var info = _f.Toolstack.Create(c, paused: true);
        var d = _f.Hv.GetDomain((ushort)info.DomId)!;
        Assert.That(d.Vcpus, Has.Count.EqualTo(4));
        Assert.That(d.Vcpus.Select(v => v.IsUp), Is.EqualTo(new[] { true, false, false, false }));
        string Availability(int i) => _f.XenStore.ReadString(0, $"/local/domain/{info.DomId}/cpu/{i}/availability");
        Assert.That(Enumerable.Range(0, 4).Select(Availability), Is.EqualTo(new[] { "online", "online", "offline", "offline" }));
        var listed = _f.Toolstack.List().Single(x => x.DomId == info.DomId);
        Assert.That(listed.VcpuStates!.Select(v => v.Online), Is.EqualTo(new[] { true, false, false, false }));
    }

    [Test]
    public void VcpuSetRewritesAvailabilityWithinMaxvcpus()
    {
        var c = _f.Config();
        c.Vcpus = 1;
        c.MaxVcpus = 3;
        var info = _f.Toolstack.Create(c, paused: true);
        _f.Toolstack.SetOnlineVcpus(info.DomId, 3);
        Assert.That(_f.XenStore.ReadString(0, $"/local/domain/{info.DomId}/cpu/2/availability"), Is.EqualTo("online"));
        Assert.Throws<ToolstackException>(() => _f.Toolstack.SetOnlineVcpus(info.DomId, 4));
        Assert.Throws<ToolstackException>(() => _f.Toolstack.SetOnlineVcpus(info.DomId, 0));
    }

    [Test]
    public void MoreVcpusThanAPvDomainCanHaveIsRefused()
    {
        var c = _f.Config();
        c.Vcpus = 33;
        Assert.Throws<ToolstackException>(() => _f.Toolstack.Create(c, paused: true));
        Assert.That(_f.Hv.Domains.Count(d => !d.IsManaged), Is.Zero, "nothing left behind");
    }
}
