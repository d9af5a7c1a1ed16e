using NUnit.Framework;
using Paravirt.Domains.Tests.Guests;

namespace Paravirt.Domains.Tests.Abi;

/// <summary>
/// The guest-side ABI test kernel (guest-sdk/tests/abi) on the emulated CPU through the toolstack: multicall,
/// vm_assist, physdev_op and port I/O, xen_version features, and jumps and accesses into the hypervisor's range,
/// each checked from inside the domain. A second domain runs beside it and is untouched: not crashed, and not one
/// of its frames changed its reference count or type.
/// </summary>
public class AbiGuestTests
{
    [Test]
    public void TheAbiGuestPassesEveryCheckAndLeavesItsNeighbourAlone()
    {
        using var rig = new GuestRig();
        var bystander = rig.Create("bystander", "tests/spin", memoryMiB: 16);
        var peer = rig.Hv.GetDomain((ushort)bystander.DomId)!;
        var pages = rig.Hv.Frames.Pages;
        var peerPages = peer.P2m.Select(m => (pages.RefCountOf(m), pages.TypeCountOf(m), pages.TypeOf(m))).ToArray();
        var info = rig.Create("abi", "tests/abi");
        using var guest = rig.Start(info);
        var console = guest.ReadUntil("checks passed", TimeSpan.FromSeconds(120));
        var dmesg = rig.Dmesg;
        Assert.That(console, Does.Match(@"abi: (\d+)/\1 checks passed"), $"console:\n{console}\ndmesg:\n{dmesg}");
        Assert.That(console, Does.Not.Contain("FAIL"));
        TestContext.Out.WriteLine(console.Split('\n').Last(l => l.Contains("checks passed")));
        Assert.That(rig.Hv.GetDomain((ushort)info.DomId)?.CrashMessage, Is.Null, dmesg);
        Assert.That(peer.IsShutdown, Is.False);
        Assert.That(peer.CrashMessage, Is.Null);
        Assert.That(peer.P2m.Select(m => (pages.RefCountOf(m), pages.TypeCountOf(m), pages.TypeOf(m))).ToArray(), Is.EqualTo(peerPages),
            "the bystander's page references or types changed");
        rig.Toolstack.Destroy(info.DomId);
        rig.Toolstack.Destroy(bystander.DomId);
    }
}
