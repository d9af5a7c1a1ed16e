using NUnit.Framework;
using Paravirt.Domains.Toolstack;
using Paravirt.Hypervisor.Events;

namespace Paravirt.Domains.Tests.Toolstack;

/// <summary>max_event_channels, max_grant_frames and max_maptrack_frames reach the new domain's tables.</summary>
public class ToolstackLimitsTests
{
    [Test]
    public void DefaultsAreLibxlsAndXlConfs()
    {
        using var f = new ToolstackFixture();
        var d = f.Hv.GetDomain((ushort)f.Toolstack.Create(f.Config("web"), paused: true).DomId)!;
        Assert.Multiple(() =>
        {
            Assert.That(d.EventChannels.MaxPorts, Is.EqualTo(1024), "ports 0..1023");
            Assert.That(d.Grants.MaxFrames, Is.EqualTo(64));
            Assert.That(d.Grants.MaxMaptrack, Is.EqualTo(1024 * 512));
        });
    }

    [Test]
    public void ConfiguredLimitsAreApplied()
    {
        using var f = new ToolstackFixture();
        var config = f.Config("web");
        config.MaxEventChannels = 15;
        config.MaxGrantFrames = 4;
        config.MaxMaptrackFrames = 0;
        var d = f.Hv.GetDomain((ushort)f.Toolstack.Create(config, paused: true).DomId)!;
        Assert.Multiple(() =>
        {
            Assert.That(d.EventChannels.MaxPorts, Is.EqualTo(16));
            Assert.That(d.Grants.MaxFrames, Is.EqualTo(4));
            Assert.That(d.Grants.MaxMaptrack, Is.Zero, "max_maptrack_frames = 0: no grant mappings, as Xen allows");
        });
    }

    [Test]
    public void TheEventChannelLimitIsEnforcedWithEnospc()
    {
        using var f = new ToolstackFixture();
        var config = f.Config("web");
        config.MaxEventChannels = 3; // ports 1 and 2 are xenstore and the console: one left
        var d = f.Hv.GetDomain((ushort)f.Toolstack.Create(config, paused: true).DomId)!;
        Assert.That(EventChannelTable.AllocUnbound(d, d.Id, 0, out _), Is.Zero);
        Assert.That(EventChannelTable.AllocUnbound(d, d.Id, 0, out _), Is.EqualTo(-28), "-ENOSPC past max_event_channels");
    }

    [Test]
    public void MoreEventChannelsThanTheTwoLevelAbiHasAreCappedAt4096Ports()
    {
        using var f = new ToolstackFixture();
        var config = f.Config("web");
        config.MaxEventChannels = 100000;
        var d = f.Hv.GetDomain((ushort)f.Toolstack.Create(config, paused: true).DomId)!;
        Assert.That(d.EventChannels.MaxPorts, Is.EqualTo(4096));
    }

    [TestCase(1u, null, null, "max_event_channels=1")]
    [TestCase(null, 0u, null, "max_grant_frames=0")]
    [TestCase(null, 5000u, null, "max_grant_frames=5000")]
    [TestCase(null, null, 5000u, "max_maptrack_frames=5000")]
    public void AnUnusableLimitIsRefusedAndLeavesNoDomain(uint? channels, uint? grantFrames, uint? maptrack, string named)
    {
        using var f = new ToolstackFixture();
        ulong free = f.Hv.Frames.FreeFrames;
        var config = f.Config("web");
        config.MaxEventChannels = channels;
        config.MaxGrantFrames = grantFrames;
        config.MaxMaptrackFrames = maptrack;
        var e = Assert.Throws<ToolstackException>(() => f.Toolstack.Create(config, paused: true))!;
        Assert.That(e.Message, Does.Contain(named));
        Assert.That(f.Toolstack.List().Select(x => x.Name), Is.EquivalentTo(new[] { "Domain-0" }));
        Assert.That(f.Hv.Frames.FreeFrames, Is.EqualTo(free), "every frame returned");
    }
}
