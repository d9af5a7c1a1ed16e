using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>vm_assist, xen_version features, physdev_op set_iopl / set_iobitmap and the port I/O they permit.</summary>
public class PhysdevAndVmAssistTests : TrapTestBase
{
    private const ulong GpHandler = 0xFFFF_FFFF_8000_0D00;

    [SetUp]
    public void InstallHandlers() => SetTrap(ExceptionVector.GeneralProtection, GpHandler);

    private void Gp(params byte[] code)
    {
        Assert.That(GuestMemory.CopyTo(V, Page1, code), Is.True);
        KernelContext(Page1, Stack + 0x800);
        V.HandleGuestExit(new VcpuExit(VcpuExitReason.Exception, ExceptionVector.GeneralProtection, 0, true));
    }

    private static readonly byte[] InAl80 = [0xE4, 0x80], OutAl80 = [0xE6, 0x80], InAxDx = [0x66, 0xED], InEaxDx = [0xED];

    [Test]
    public void EveryVmAssistXenOffersA64BitPvGuestCanBeTurnedOnAndOff()
    {
        foreach (int t in new[] { 0, 1, 2, 3, 4, 5, 32 })
        {
            Assert.That(Call(Hypercall.VmAssist, VmAssistOp.CmdEnable, (ulong)t), Is.Zero, $"type {t}");
            Assert.That(D.VmAssist & (1UL << t), Is.Not.Zero);
            Assert.That(Call(Hypercall.VmAssist, VmAssistOp.CmdDisable, (ulong)t), Is.Zero);
            Assert.That(D.VmAssist & (1UL << t), Is.Zero);
        }
    }

    [TestCase(6UL)]
    [TestCase(31UL)]
    [TestCase(33UL)]
    [TestCase(64UL)]
    [TestCase(0xFFFF_FFFFUL)]
    public void AnUnknownVmAssistTypeIsEinval(ulong type)
    {
        Assert.That(Call(Hypercall.VmAssist, VmAssistOp.CmdEnable, type), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(D.VmAssist, Is.Zero);
    }

    [Test]
    public void AnUnknownVmAssistCommandIsEnosysButABadTypeIsCheckedFirst()
    {
        Assert.That(Call(Hypercall.VmAssist, 2, VmAssistOp.TypeWritablePagetables), Is.EqualTo(-XenErrno.ENOSYS));
        Assert.That(Call(Hypercall.VmAssist, 2, 6), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(D.VmAssist, Is.Zero);
    }

    [Test]
    public void FeaturesFollowTheDomainAndOnlySubmapZeroExists()
    {
        Put(Page1, 0UL);
        Assert.That(Call(Hypercall.XenVersion, XenVersionOp.GetFeatures, Page1), Is.Zero);
        uint f = Get<uint>(Page1 + 4);
        Assert.That(f, Is.EqualTo((1u << 5) | (1u << 6) | (1u << 7) | (1u << 17)));
        Assert.That(Call(Hypercall.VmAssist, VmAssistOp.CmdEnable, VmAssistOp.TypePaeExtendedCr3), Is.Zero);
        Assert.That(Call(Hypercall.XenVersion, XenVersionOp.GetFeatures, Page1), Is.Zero);
        Assert.That(Get<uint>(Page1 + 4), Is.EqualTo(f | (1u << 4)));
        Put(Page1, 1u);
        Assert.That(Call(Hypercall.XenVersion, XenVersionOp.GetFeatures, Page1), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Call(Hypercall.XenVersion, XenVersionOp.PageSize, Page1), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void RunstateUpdateFlagIsClearAfterEachUpdate()
    {
        Assert.That(Call(Hypercall.VmAssist, VmAssistOp.CmdEnable, VmAssistOp.TypeRunstateUpdateFlag), Is.Zero);
        Put(Page1, 0xFFFF_FFFF_FFFF_FFFFUL);
        Put(Page1 + 8, 0xFFFF_FFFF_FFFF_FFFFUL);
        Put(Page2, Page1);
        Assert.That(Call(Hypercall.VcpuOp, VcpuOp.RegisterRunstateMemoryArea, 0, Page2), Is.Zero);
        Assert.That(Get<ulong>(Page1 + 8) & (1UL << 63), Is.Zero, "XEN_RUNSTATE_UPDATE cleared once written");
        Assert.That(Get<int>(Page1), Is.Not.EqualTo(-1), "the area was written");
    }

    [Test]
    public void PortIoWithoutIoplOrBitmapIsGp()
    {
        Gp(InAl80);
        Assert.That(R.Rip, Is.EqualTo(GpHandler));
        Gp(OutAl80);
        Assert.That(R.Rip, Is.EqualTo(GpHandler));
    }

    [Test]
    public void WithIoplOneTheKernelReadsAllOnesAndItsWritesAreDropped()
    {
        Put(Page2, 1u);
        Assert.That(Call(Hypercall.PhysdevOp, PhysdevOp.SetIopl, Page2), Is.Zero);
        R.Rax = 0x1234_5678_9ABC_DEF0;
        Gp(InAl80);
        Assert.That((R.Rip, R.Rax), Is.EqualTo((Page1 + 2, 0x1234_5678_9ABC_DEFFUL)));
        R.Rax = 0x1234_5678_9ABC_DEF0;
        R.Rdx = 0x60;
        Gp(InAxDx);
        Assert.That((R.Rip, R.Rax), Is.EqualTo((Page1 + 2, 0x1234_5678_9ABC_FFFFUL)));
        Gp(InEaxDx);
        Assert.That((R.Rip, R.Rax), Is.EqualTo((Page1 + 1, 0xFFFF_FFFFUL)), "a 32-bit result zero-extends");
        Gp(OutAl80);
        Assert.That(R.Rip, Is.EqualTo(Page1 + 2));
    }

    [Test]
    public void GuestUserModeNeedsIoplThree()
    {
        Put(Page2, 1u);
        Assert.That(Call(Hypercall.PhysdevOp, PhysdevOp.SetIopl, Page2), Is.Zero);
        AllowUserMode();
        V.ToggleGuestMode();
        Gp(InAl80);
        Assert.That(R.Rip, Is.EqualTo(GpHandler));
        Assert.That(V.InKernelMode, Is.True, "delivered to the kernel");
        Assert.That(PhysdevOp.SetIoplOf(V, 3), Is.Zero);
        V.ToggleGuestMode();
        Gp(InAl80);
        Assert.That(R.Rip, Is.EqualTo(Page1 + 2));
    }

    [Test]
    public void ArchitecturalIoplMakesTheKernelRingZero()
    {
        // With IOPL 0 the kernel (ring 1) may not; with the architectural_iopl assist it counts as ring 0 and may.
        Gp(InAl80);
        Assert.That(R.Rip, Is.EqualTo(GpHandler));
        Assert.That(Call(Hypercall.VmAssist, VmAssistOp.CmdEnable, VmAssistOp.TypeArchitecturalIopl), Is.Zero);
        Gp(InAl80);
        Assert.That(R.Rip, Is.EqualTo(Page1 + 2));
    }

    [Test]
    public void TheIoBitmapPermitsExactlyItsClearBitsBelowItsLimit()
    {
        // The bitmap lives at Stack (guest memory): all forbidden but ports 0x60-0x67.
        for (ulong i = 0; i < 64; i++) Put(Stack + i * 8, ulong.MaxValue);
        Put(Stack + 0x60 / 8, (byte)0);
        Put(Page2, Stack);
        Put(Page2 + 8, 0x68u);
        Assert.That(Call(Hypercall.PhysdevOp, PhysdevOp.SetIobitmap, Page2), Is.Zero);
        R.Rdx = 0x60;
        Gp(InAxDx);
        Assert.That(R.Rip, Is.EqualTo(Page1 + 2));
        R.Rdx = 0x67;
        Gp(InAxDx);
        Assert.That(R.Rip, Is.EqualTo(GpHandler), "0x68 is forbidden (and past the limit)");
        Put(Stack + 0x68 / 8, (byte)0);
        R.Rdx = 0x67;
        Gp(InAxDx);
        Assert.That(R.Rip, Is.EqualTo(GpHandler), "0x68 is clear now but past nr_ports");
        Gp(InAl80);
        Assert.That(R.Rip, Is.EqualTo(GpHandler));
    }

    [Test]
    public void PhysdevArgumentsAreValidatedAsXenDoes()
    {
        Put(Page2, 4u);
        Assert.That(Call(Hypercall.PhysdevOp, PhysdevOp.SetIopl, Page2), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Call(Hypercall.PhysdevOp, PhysdevOp.SetIopl, 0x1000), Is.EqualTo(-XenErrno.EFAULT));
        Put(Page2, Stack);
        Put(Page2 + 8, 65537u);
        Assert.That(Call(Hypercall.PhysdevOp, PhysdevOp.SetIobitmap, Page2), Is.EqualTo(-XenErrno.EINVAL));
        Put(Page2, X86_64.HypervisorVirtStart);
        Put(Page2 + 8, 16u);
        Assert.That(Call(Hypercall.PhysdevOp, PhysdevOp.SetIobitmap, Page2), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Call(Hypercall.PhysdevOp, 99, Page2), Is.EqualTo(-XenErrno.ENOSYS));
        Assert.That(V.VirtualIopl, Is.Zero);
        Assert.That(V.IoBitmapLimit, Is.Zero);
    }

    [Test]
    public void TheCompatEntryPassesTheUnionOn()
    {
        Put(Page2, (ulong)PhysdevOp.SetIopl);
        Put(Page2 + 8, 2UL);
        Put(Page2 + 16, 0UL);
        Assert.That(Call(Hypercall.PhysdevOpCompat, Page2), Is.Zero);
        Assert.That(V.VirtualIopl, Is.EqualTo(2));
        Assert.That(Call(Hypercall.PhysdevOpCompat, 0x1000), Is.EqualTo(-XenErrno.EFAULT));
    }
}
