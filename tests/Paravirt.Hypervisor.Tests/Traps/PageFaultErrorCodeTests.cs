using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>
/// The #PF error code a 64-bit PV guest sees: its kernel runs in ring 3, so the CPU flags every fault as a user
/// access; Xen (pv_inject_event) clears error_code.user (bit 2) and sets it again only when the guest was in user
/// mode. Found by XTF's selftest ("NULL unmapped" expects error code 0 for a kernel read of an unmapped page).
/// </summary>
public class PageFaultErrorCodeTests : TrapTestBase
{
    private const ulong Handler = 0xFFFF_FFFF_8000_5000, Rip = 0xFFFF_FFFF_8000_1234;

    private static VcpuExit PageFault(uint ec, ulong cr2) => new(VcpuExitReason.Exception, ExceptionVector.PageFault, ec, true, cr2);

    private uint DeliveredErrorCode() => (uint)Get<ulong>(R.Rsp + 16);

    [TestCase(0x4u, 0x0u)]   // read of a not-present page
    [TestCase(0x6u, 0x2u)]   // write of a not-present page
    [TestCase(0x7u, 0x3u)]   // write to a read-only page
    [TestCase(0x15u, 0x11u)] // fetch from a present NX page
    public void AKernelModePageFaultReachesTheGuestWithoutTheUserBit(uint cpuErrorCode, uint guestErrorCode)
    {
        SetTrap(ExceptionVector.PageFault, Handler);
        KernelContext(Rip, Stack + 0x800);
        V.HandleGuestExit(PageFault(cpuErrorCode, 0x10));
        Assert.That(CrashMessage, Is.Null);
        Assert.That(R.Rip, Is.EqualTo(Handler));
        Assert.That(DeliveredErrorCode(), Is.EqualTo(guestErrorCode));
    }

    [Test]
    public void AUserModePageFaultReachesTheGuestWithTheUserBitEvenWhenTheCpuLeftItClear()
    {
        SetTrap(ExceptionVector.PageFault, Handler);
        AllowUserMode();
        V.InKernelMode = false;
        V.KernelStackPointer = Stack + 0x1000;
        R.Rip = 0x40_1000;
        R.Rsp = 0x7FFF_0000;
        R.Cs = X86_64.FlatUserCs64;
        R.Ss = X86_64.FlatUserSs64;
        R.Rflags = VcpuRegisters.RflagsFixed | VcpuRegisters.RflagsIf;
        V.HandleGuestExit(PageFault(0x2, 0x2000));
        Assert.That(CrashMessage, Is.Null);
        Assert.That(V.InKernelMode, Is.True);
        Assert.That(DeliveredErrorCode(), Is.EqualTo(0x6u));
    }
}
