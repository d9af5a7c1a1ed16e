using NUnit.Framework;
using Paravirt.Domains.Tests.Guests;
using Paravirt.Domains.Toolstack;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Tests.Events;

/// <summary>
/// The guest-side errno test kernel (guest-sdk/tests/errno) on the emulated CPU through the toolstack: for event
/// channels, grant tables, timers and sched_op, the success path and every errno (or GNTST_* status) Xen returns that
/// guest-sdk/tests/evtchn does not already cover, checked by the guest itself against the hypercall page. With two
/// vCPUs (vCPU 1 stays down, so its vcpu_info shows exactly what bind_vcpu and unmask raised there).
/// </summary>
public class ErrnoGuestTests
{
    [Test]
    public void EveryOperationReturnsXensErrnoOnEachPathTheGuestCanReach()
    {
        using var rig = new GuestRig();
        var info = rig.Toolstack.Create(new DomainConfig
        {
            Name = "errno", MemoryMiB = 32, MaxMemMiB = 32, Vcpus = 2, Kernel = GuestRig.Guest("tests/errno"),
            OnReboot = DomainAction.Destroy,
        }, paused: true);
        var session = rig.Toolstack.AttachConsole(info.DomId);
        using var console = new GuestConsole(session);
        rig.Toolstack.Unpause(info.DomId);
        string text = console.ReadUntil("checks passed", TimeSpan.FromSeconds(60));
        TestContext.Out.WriteLine(text);
        Assert.That(text, Does.Match(@"errno: (\d+)/\1 checks passed"), $"console:\n{text}\ndmesg:\n{rig.Dmesg}");
        Assert.That(text, Does.Not.Contain("FAIL"));

        // After EVTCHNOP_reset on itself the console is gone: the guest reports through console_io.
        Assert.That(session.End.Wait(TimeSpan.FromSeconds(30)), Is.True, rig.Dmesg);
        Assert.That(rig.Dmesg, Does.Contain("errno: reset: ok"));
        // SCHEDOP_shutdown_code(reboot), then (crash), then a poweroff: the first code is what the domain reports.
        Assert.That(session.End.Result.Reason, Is.EqualTo(ShutdownReason.Reboot), rig.Dmesg);
    }
}
