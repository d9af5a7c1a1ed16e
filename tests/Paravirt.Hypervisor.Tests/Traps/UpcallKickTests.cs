using NUnit.Framework;
using Paravirt.Hypervisor.Events;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>An event sent to a vCPU that is inside Run makes it leave Run and enter the event callback.</summary>
public class UpcallKickTests : TrapTestBase
{
    private static bool Eventually(Func<bool> condition, int ms = 5000)
    {
        var deadline = Environment.TickCount64 + ms;
        while (Environment.TickCount64 < deadline) { if (condition()) return true; Thread.Sleep(2); }
        return condition();
    }

    [Test]
    public void ASendToARunningVcpuKicksItIntoTheEventCallback()
    {
        const ulong callback = 0xFFFF_FFFF_8000_6000;
        Assert.That(CallbackOp.Register(V, CallbackType.Event, 0, callback), Is.Zero);
        Assert.That(EventChannelTable.BindIpi(D, 0, out uint port), Is.Zero);
        UpcallMask = 0;
        Hv.Unpause(D); // the registers-only CPU sits in Run until kicked
        Assert.That(Eventually(() => V.IsRunning), Is.True);
        Assert.That(EventChannelTable.Send(D, port), Is.Zero);
        Assert.That(Eventually(() => UpcallMask == 1), Is.True, "delivery masks events");
        Hv.Pause(D);
        Assert.That(Eventually(() => !V.IsRunning), Is.True);
        Assert.That(R.Rip, Is.EqualTo(callback));
        Assert.That(CrashMessage, Is.Null);
    }
}
