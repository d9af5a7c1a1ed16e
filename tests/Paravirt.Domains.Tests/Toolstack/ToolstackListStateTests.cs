using NUnit.Framework;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Tests.Toolstack;

/// <summary>xl list's State column as the toolstack reports it: 's' for any shut-down domain, then the reason's letter.</summary>
public class ToolstackListStateTests
{
    [Test]
    public void APreservedCrashedDomainIsShutDownWithReasonC()
    {
        using var f = new ToolstackFixture();
        var config = f.Config("keep");
        config.OnCrash = DomainAction.Preserve;
        var d = f.Toolstack.Create(config, paused: true);
        var end = f.Toolstack.WaitForEnd(d.DomId);
        f.Hv.CrashDomain(f.Hv.GetDomain((ushort)d.DomId)!, "test crash");
        Assert.That(end.Wait(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(f.Toolstack.List().Single(x => x.DomId == d.DomId).State[3..5], Is.EqualTo("sc"));
    }

    [Test]
    public void ARunningDomainHasNeitherShutdownLetter()
    {
        using var f = new ToolstackFixture();
        var d = f.Toolstack.Create(f.Config("alive"), paused: true);
        Assert.That(f.Toolstack.List().Single(x => x.DomId == d.DomId).State[3..5], Is.EqualTo("--"));
    }
}
