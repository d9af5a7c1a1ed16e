using NUnit.Framework;
using Paravirt.Domains.Tests.Guests;

namespace Paravirt.Domains.Tests.Mmu;

/// <summary>
/// The guest-side PV MMU test kernel (guest-sdk/tests/mmu) on the emulated CPU through the toolstack: every check it
/// makes from inside the domain (page-table updates, pins, base pointers, the M2P, reservations) passes, and a second
/// domain running beside it is untouched.
/// </summary>
public class MmuGuestTests
{
    [Test]
    public void TheMmuGuestPassesEveryCheck()
    {
        using var rig = new GuestRig();
        var bystander = rig.Create("bystander", "tests/spin", memoryMiB: 16);
        var bystanderDomain = rig.Hv.GetDomain((ushort)bystander.DomId)!;
        var info = rig.Create("mmu", "tests/mmu");
        using var guest = rig.Start(info);
        var console = guest.ReadUntil("checks passed", TimeSpan.FromSeconds(120));
        var dmesg = rig.Dmesg;
        Assert.That(console, Does.Match(@"mmu: (\d+)/\1 checks passed"), $"console:\n{console}\ndmesg:\n{dmesg}");
        Assert.That(console, Does.Not.Contain("FAIL"));
        TestContext.Out.WriteLine(console.Split('\n').Last(l => l.Contains("checks passed")));
        Assert.That(bystanderDomain.IsShutdown, Is.False);
        Assert.That(rig.Hv.GetDomain((ushort)info.DomId)?.CrashMessage, Is.Null, dmesg);
        rig.Toolstack.Destroy(info.DomId);
        rig.Toolstack.Destroy(bystander.DomId);
    }
}
