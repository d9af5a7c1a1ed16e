using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>Exception, software-interrupt, syscall and event delivery through bounce frames (entry.S create_bounce_frame).</summary>
public class BounceFrameTests : TrapTestBase
{
    private const ulong Handler = 0xFFFF_FFFF_8000_5000, Rip = 0xFFFF_FFFF_8000_1234;

    private ulong[] Frame(ulong at, int words)
    {
        var w = new ulong[words];
        for (int i = 0; i < words; i++) w[i] = Get<ulong>(at + (ulong)i * 8);
        return w;
    }

    private static VcpuExit Fault(byte vector, uint ec, bool hasEc = true, ulong cr2 = 0) =>
        new(VcpuExitReason.Exception, vector, ec, hasEc, cr2);

    private void UserContext(ulong rip, ulong rsp)
    {
        AllowUserMode();
        V.InKernelMode = false;
        V.KernelStackPointer = Stack + 0x1000;
        R.Rip = rip;
        R.Rsp = rsp;
        R.Cs = X86_64.FlatUserCs64;
        R.Ss = X86_64.FlatUserSs64;
        R.Rflags = VcpuRegisters.RflagsFixed | VcpuRegisters.RflagsIf;
    }

    [Test]
    public void AFaultInKernelModeIsBouncedOnTheCurrentStackByteForByte()
    {
        SetTrap(ExceptionVector.GeneralProtection, Handler);
        KernelContext(Rip, Stack + 0x808);
        R.Rcx = 0x1111;
        R.R11 = 0x2222;
        R.Rflags |= 1UL << 8 | 1UL << 18; // TF and AC: cleared on entry
        UpcallMask = 0;
        V.HandleGuestExit(Fault(ExceptionVector.GeneralProtection, 0x18));

        ulong frame = Stack + 0x800 - 64; // 16-byte aligned, 8 words
        Assert.That(Frame(frame, 8), Is.EqualTo(new ulong[]
        {
            0x1111, 0x2222, 0x18, Rip,
            0xe030,                                     // RPL 0: kernel context; saved mask 0
            VcpuRegisters.RflagsFixed | VcpuRegisters.RflagsIf | 1UL << 8 | 1UL << 18,
            Stack + 0x808, X86_64.FlatKernelSs64,
        }));
        Assert.That((R.Rip, R.Rsp, R.Cs, R.Ss), Is.EqualTo((Handler, frame, X86_64.FlatKernelCs64, X86_64.FlatKernelSs64)));
        Assert.That(R.Rflags & (1UL << 8 | 1UL << 18), Is.Zero);
        Assert.That(UpcallMask, Is.Zero, "no TI_IF: events stay unmasked");
        Assert.That(CrashMessage, Is.Null);
    }

    [Test]
    public void AFaultWithoutAnErrorCodeHasRipRightAfterR11()
    {
        SetTrap(ExceptionVector.DivideError, Handler);
        KernelContext(Rip, Stack + 0x800);
        V.HandleGuestExit(Fault(ExceptionVector.DivideError, 0, hasEc: false));
        Assert.That(R.Rsp, Is.EqualTo(Stack + 0x800 - 56));
        Assert.That(Get<ulong>(R.Rsp + 16), Is.EqualTo(Rip));
    }

    [Test]
    public void ATrapGateWithTiIfMasksEventsAndTheFrameCarriesTheOldMask()
    {
        SetTrap(ExceptionVector.Breakpoint, Handler, TrapAbi.TiIf | 3);
        KernelContext(Rip, Stack + 0x800);
        UpcallMask = 1;
        V.HandleGuestExit(new VcpuExit(VcpuExitReason.SoftwareInterrupt, ExceptionVector.Breakpoint));
        var f = Frame(R.Rsp, 7);
        Assert.That(f[3] >> 32, Is.EqualTo(1UL), "saved_upcall_mask in CS bits 32-39");
        Assert.That(f[4] & VcpuRegisters.RflagsIf, Is.Zero, "RFLAGS.IF = !saved mask");
        Assert.That(UpcallMask, Is.EqualTo(1));

        UpcallMask = 0;
        V.HandleGuestExit(new VcpuExit(VcpuExitReason.SoftwareInterrupt, ExceptionVector.Breakpoint));
        Assert.That(UpcallMask, Is.EqualTo(1), "TI_IF set the mask on entry");
    }

    [Test]
    public void AFaultInUserModeSwitchesToTheKernelStackModeAndGsBase()
    {
        SetTrap(ExceptionVector.PageFault, Handler);
        UserContext(0x40_1000, 0x7FFF_0000);
        R.GsBase = 0xAAAA;        // user's
        R.KernelGsBase = 0xBBBB;  // kernel's, inactive
        UpcallMask = 0;
        V.HandleGuestExit(Fault(ExceptionVector.PageFault, 6, cr2: 0x1234_5678));

        ulong frame = Stack + 0x1000 - 64;
        var f = Frame(frame, 8);
        Assert.That(f[2..], Is.EqualTo(new ulong[]
        {
            6, 0x40_1000, X86_64.FlatUserCs64, VcpuRegisters.RflagsFixed | VcpuRegisters.RflagsIf, 0x7FFF_0000, X86_64.FlatUserSs64,
        }));
        Assert.That(V.InKernelMode, Is.True);
        Assert.That((R.GsBase, R.KernelGsBase), Is.EqualTo((0xBBBBUL, 0xAAAAUL)));
        Assert.That(R.Rsp, Is.EqualTo(frame));
        Assert.That(Memory.ReadUInt64(SharedInfo + SharedInfoLayout.VcpuArchCr2), Is.EqualTo(0x1234_5678UL), "vcpu_info.arch.cr2");
        Assert.That(V.GuestCr2, Is.EqualTo(0x1234_5678UL));
    }

    [Test]
    public void ABounceFrameInXensRangeCrashesTheDomain()
    {
        SetTrap(ExceptionVector.GeneralProtection, Handler);
        KernelContext(Rip, X86_64.HypervisorVirtStart + 0x1000);
        V.HandleGuestExit(Fault(ExceptionVector.GeneralProtection, 8));
        Assert.That(CrashMessage, Does.Contain("fault while delivering general protection"));
        Assert.That(D.ShutdownReason, Is.EqualTo(ShutdownReason.Crash));
    }

    [Test]
    public void AnUnmappedKernelStackCrashesTheDomain()
    {
        SetTrap(ExceptionVector.GeneralProtection, Handler);
        KernelContext(Rip, 0x20000);
        V.HandleGuestExit(Fault(ExceptionVector.GeneralProtection, 8));
        Assert.That(CrashMessage, Does.Contain("not mapped writable"));
    }

    [Test]
    public void AnUnmappedKernelStackPointerCrashesTheDomainOnEntryFromUserMode()
    {
        SetTrap(ExceptionVector.GeneralProtection, Handler);
        UserContext(0x1000, 0x2000);
        V.KernelStackPointer = 0x10000; // below every mapping: the frame cannot be written
        V.HandleGuestExit(Fault(ExceptionVector.GeneralProtection, 8));
        Assert.That(CrashMessage, Does.Contain("kernel_sp"));
    }

    [Test]
    public void AFaultWithNoHandlerCrashesTheDomainAsUnhandled()
    {
        KernelContext(Rip, Stack + 0x800);
        V.HandleGuestExit(Fault(ExceptionVector.PageFault, 2, cr2: 0x10));
        Assert.That(CrashMessage, Does.Contain("Unhandled page fault fault/trap [#14, ec=0002] cr2 0000000000000010"));
    }

    // ---- software interrupts ----

    [Test]
    public void IntNWithDpl0IsAGeneralProtectionFaultAtTheInstruction()
    {
        SetTrap(ExceptionVector.GeneralProtection, Handler);
        SetTrap(0x30, 0xFFFF_FFFF_8000_9000, 0);
        KernelContext(Rip + 2, Stack + 0x800);
        V.HandleGuestExit(new VcpuExit(VcpuExitReason.SoftwareInterrupt, 0x30));
        Assert.That(R.Rip, Is.EqualTo(Handler));
        Assert.That(Get<ulong>(R.Rsp + 16), Is.EqualTo((0x30UL << 3) | 2), "error code: IDT vector, EXT=0, IDT=1");
        Assert.That(Get<ulong>(R.Rsp + 24), Is.EqualTo(Rip), "rewound to the int instruction");
    }

    [Test]
    public void IntNWithDpl1IsDeliveredFromKernelModeButNotFromUserMode()
    {
        SetTrap(ExceptionVector.GeneralProtection, Handler);
        SetTrap(0x31, 0xFFFF_FFFF_8000_9000, 1);
        KernelContext(Rip + 2, Stack + 0x800);
        V.HandleGuestExit(new VcpuExit(VcpuExitReason.SoftwareInterrupt, 0x31));
        Assert.That(R.Rip, Is.EqualTo(0xFFFF_FFFF_8000_9000UL));
        Assert.That(Get<ulong>(R.Rsp + 16), Is.EqualTo(Rip + 2), "a trap: RIP after the instruction, no error code");

        UserContext(0x1002, 0x2000);
        V.HandleGuestExit(new VcpuExit(VcpuExitReason.SoftwareInterrupt, 0x31));
        Assert.That(R.Rip, Is.EqualTo(Handler));
    }

    [Test]
    public void Int80WithAHandlerIsDeliveredFromUserModeDirectly()
    {
        SetTrap(0x80, 0xFFFF_FFFF_8000_8080, 3);
        UserContext(0x1002, 0x2000);
        R.Rax = 60;
        V.HandleGuestExit(new VcpuExit(VcpuExitReason.SoftwareInterrupt, 0x80));
        Assert.That(R.Rip, Is.EqualTo(0xFFFF_FFFF_8000_8080UL));
        Assert.That(V.InKernelMode, Is.True);
        Assert.That(Get<ulong>(R.Rsp + 16), Is.EqualTo(0x1002UL));
        Assert.That(R.Rax, Is.EqualTo(60UL), "registers pass through");
    }

    // ---- syscall from user mode ----

    [Test]
    public void SyscallFromUserModeEntersTheSyscallCallbackOnTheKernelStack()
    {
        Assert.That(CallbackOp.Register(V, CallbackType.Syscall, CallbackType.FlagMaskEvents, 0xFFFF_FFFF_8000_7000), Is.Zero);
        UserContext(0x1002, 0x7000_0000);
        R.Rcx = 0x1002; // as the syscall instruction left them
        R.R11 = 0x246;
        R.Rflags |= 1UL << 10; // DF
        UpcallMask = 0;
        V.HandleGuestExit(VcpuExit.Syscall);
        ulong frame = Stack + 0x1000 - 56;
        Assert.That(Frame(frame, 7), Is.EqualTo(new ulong[]
        {
            0x1002, 0x246, 0x1002, X86_64.FlatUserCs64, VcpuRegisters.RflagsFixed | VcpuRegisters.RflagsIf | 1UL << 10,
            0x7000_0000, X86_64.FlatUserSs64,
        }));
        Assert.That(R.Rip, Is.EqualTo(0xFFFF_FFFF_8000_7000UL));
        Assert.That(R.Rflags & (1UL << 10), Is.Zero, "DF cleared for the kernel");
        Assert.That(UpcallMask, Is.EqualTo(1), "CALLBACKF_mask_events");
        Assert.That(V.InKernelMode, Is.True);
    }

    [Test]
    public void SyscallFromUserModeWithoutACallbackIsInvalidOpcode()
    {
        SetTrap(ExceptionVector.InvalidOpcode, Handler);
        UserContext(0x1002, 0x7000_0000);
        V.HandleGuestExit(VcpuExit.Syscall);
        Assert.That(R.Rip, Is.EqualTo(Handler));
        Assert.That(Get<ulong>(R.Rsp + 16), Is.EqualTo(0x1000UL), "#UD at the syscall instruction");
    }

    // ---- event upcalls ----

    [Test]
    public void APendingUnmaskedEventEntersTheEventCallbackWithEventsMasked()
    {
        Assert.That(CallbackOp.Register(V, CallbackType.Event, 0, 0xFFFF_FFFF_8000_6000), Is.Zero);
        KernelContext(Rip, Stack + 0x800);
        UpcallPending = 1;
        UpcallMask = 0;
        Assert.That(V.DeliverPendingEvents(), Is.True);
        Assert.That(R.Rip, Is.EqualTo(0xFFFF_FFFF_8000_6000UL));
        Assert.That(UpcallMask, Is.EqualTo(1));
        Assert.That(Get<ulong>(R.Rsp + 16), Is.EqualTo(Rip));
        Assert.That(Get<ulong>(R.Rsp + 32) & VcpuRegisters.RflagsIf, Is.Not.Zero, "interrupted with events enabled");
    }

    [Test]
    public void AMaskedOrAbsentEventIsNotDelivered()
    {
        Assert.That(CallbackOp.Register(V, CallbackType.Event, 0, 0xFFFF_FFFF_8000_6000), Is.Zero);
        KernelContext(Rip, Stack + 0x800);
        UpcallPending = 1;
        UpcallMask = 1;
        V.DeliverPendingEvents();
        Assert.That(R.Rip, Is.EqualTo(Rip));
        UpcallPending = 0;
        UpcallMask = 0;
        V.DeliverPendingEvents();
        Assert.That(R.Rip, Is.EqualTo(Rip));
    }

    [Test]
    public void WithoutAnEventCallbackPendingEventsWaitForThePoller()
    {
        KernelContext(Rip, Stack + 0x800);
        UpcallPending = 1;
        UpcallMask = 0;
        Assert.That(V.DeliverPendingEvents(), Is.True);
        Assert.That(R.Rip, Is.EqualTo(Rip));
        Assert.That(CrashMessage, Is.Null);
    }
}
