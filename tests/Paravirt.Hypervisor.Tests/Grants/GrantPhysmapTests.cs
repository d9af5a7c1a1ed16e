using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Grants;

namespace Paravirt.Hypervisor.Tests.Grants;

/// <summary>The XENMAPSPACE_grant_table half of add_to_physmap that memory_op calls.</summary>
public class GrantPhysmapTests
{
    [Test]
    public void AFrameIndexGrowsTheTableAndGivesThatFrame()
    {
        using var f = new HypervisorFixture();
        var d = f.Build().Domain;
        Assert.That(GrantTable.FrameForPhysmap(d, 2, out var mfn), Is.Zero);
        Assert.That(d.Grants.FrameCount, Is.EqualTo(3));
        Assert.That(mfn, Is.EqualTo(d.Grants.Frames[2]));
        Assert.That(GrantTable.FrameForPhysmap(d, 0, out var first), Is.Zero);
        Assert.That(first, Is.EqualTo(d.Grants.Frames[0]));
        Assert.That(d.Grants.FrameCount, Is.EqualTo(3));
    }

    [Test]
    public void StatusFramesAndIndicesPastTheLimitAreEINVAL()
    {
        using var f = new HypervisorFixture();
        var d = f.Build().Domain;
        Assert.That(GrantTable.FrameForPhysmap(d, GrantTable.MapIdxStatus, out _), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(GrantTable.FrameForPhysmap(d, GrantTable.DefaultMaxFrames, out _), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(d.Grants.FrameCount, Is.Zero);
    }

    [Test]
    public void ADestroyedDomainHasNoFramesToGive()
    {
        using var f = new HypervisorFixture();
        var d = f.Build().Domain;
        f.Hv.DestroyDomain(d);
        Assert.That(GrantTable.FrameForPhysmap(d, 0, out _), Is.EqualTo(-XenErrno.ESRCH));
    }
}
