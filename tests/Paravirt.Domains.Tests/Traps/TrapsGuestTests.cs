using NUnit.Framework;
using Paravirt.Domains.Tests.Guests;

namespace Paravirt.Domains.Tests.Traps;

/// <summary>
/// The guest-side traps test kernel (guest-sdk/tests/traps) on the emulated CPU through the toolstack: trap
/// tables, bounce frames, iret, failsafe, callbacks, privileged-op emulation and event upcalls, each checked from
/// inside the domain; every check passes.
/// </summary>
public class TrapsGuestTests
{
    [Test]
    public void TheTrapsGuestPassesEveryCheck()
    {
        using var rig = new GuestRig();
        var info = rig.Create("traps", "tests/traps");
        using var guest = rig.Start(info);
        var console = guest.ReadUntil("checks passed", TimeSpan.FromSeconds(60));
        var dmesg = rig.Dmesg;
        Assert.That(console, Does.Match(@"traps: (\d+)/\1 checks passed"), $"console:\n{console}\ndmesg:\n{dmesg}");
        Assert.That(console, Does.Not.Contain("FAIL"));
        foreach (var line in console.Split('\n').Where(l => l.Contains("round trip") || l.Contains("checks passed"))) TestContext.Out.WriteLine(line.Trim());
        Assert.That(dmesg, Does.Not.Contain("crash"));
        rig.Toolstack.Destroy(info.DomId);
    }
}
