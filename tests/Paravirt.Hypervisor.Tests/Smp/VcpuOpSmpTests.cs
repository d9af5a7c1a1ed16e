using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Boot;
using Paravirt.Hypervisor.Events;
using Paravirt.Hypervisor.Hypercalls;

namespace Paravirt.Hypervisor.Tests.Smp;

/// <summary>VCPUOP_initialise / up / down / is_up / runstate / register_vcpu_info on a 4-vCPU domain, every errno path.</summary>
public class VcpuOpSmpTests
{
    private HypervisorFixture _f = null!;
    private Domain _d = null!;
    private Vcpu _v0 = null!;
    private PvBuildResult _r = null!;
    /// <summary>Two mapped, writable pages of guest scratch space.</summary>
    private ulong _ctx;
    private ulong _freePfn;

    [SetUp]
    public void SetUp()
    {
        _f = new HypervisorFixture();
        _d = _f.Hv.CreateDomain("smp", Guid.NewGuid(), 8192, 4);
        var k = KernelImage.Parse(new TestElf().Build(), "k");
        _r = DomainBuilder.Build(_f.Memory, _d, new PvBuildRequest(k, null, "", 1, 2));
        _v0 = _d.Vcpus[0];
        _freePfn = _r.Layout.PfnAllocEnd;
        // start_info and the xenstore page follow each other and are mapped writable; nothing reads them here.
        _ctx = _r.Layout.VirtOf(_r.Layout.StartInfoPfn);
        Assert.That(_r.Layout.XenstorePfn, Is.EqualTo(_r.Layout.StartInfoPfn + 1));
        Assert.That(GuestMemory.CopyTo(_v0, _ctx, new byte[2 * 4096]), Is.True, "scratch pages must be mapped");
    }

    [TearDown]
    public void TearDown() => _f.Dispose();

    private long Call(ulong cmd, ulong id, ulong arg) => _f.Hv.Hypercalls.Call(_v0, Hypercall.VcpuOp, cmd, id, arg, 0, 0);

    /// <summary>A valid context: kernel mode on vCPU 0's L4, a stack in the scratch area.</summary>
    private byte[] Context(ulong rip = 0xFFFF_FFFF_8000_1000UL)
    {
        var c = new byte[Vcpu.ContextSize];
        void Put(int off, ulong value) => BitConverter.TryWriteBytes(c.AsSpan(off), value);
        Put(Vcpu.CtxFlags, Vcpu.VgcfInKernel);
        Put(Vcpu.CtxUserRegs + Vcpu.RegsRip, rip);
        Put(Vcpu.CtxUserRegs + Vcpu.RegsRsp, _ctx + 0x1FF0);
        Put(Vcpu.CtxUserRegs + Vcpu.RegsCs, X86_64.FlatKernelCs64);
        Put(Vcpu.CtxUserRegs + Vcpu.RegsSs, X86_64.FlatKernelSs64);
        Put(Vcpu.CtxUserRegs + Vcpu.RegsRflags, 0x3202); // IOPL 3 must be virtualised away
        Put(Vcpu.CtxUserRegs + 10 * 8, 0x1234); // rax
        Put(Vcpu.CtxKernelSp, _ctx + 0x1F00);
        Put(Vcpu.CtxKernelSs, X86_64.FlatKernelSs64);
        Put(Vcpu.CtxCtrlreg + 3 * 8, _v0.GuestTableMfn << 12);
        Put(Vcpu.CtxEventCallback, 0xFFFF_FFFF_8000_2000UL);
        Put(Vcpu.CtxGsBaseKernel, 0x5000);
        return c;
    }

    private long Initialise(int vcpu, byte[] ctx)
    {
        Assert.That(GuestMemory.CopyTo(_v0, _ctx, ctx), Is.True);
        return Call(VcpuOp.Initialise, (ulong)vcpu, _ctx);
    }

    private static void Set(byte[] c, int off, ulong value) => BitConverter.TryWriteBytes(c.AsSpan(off), value);

    [TestCase(VcpuOp.Initialise)]
    [TestCase(VcpuOp.Up)]
    [TestCase(VcpuOp.Down)]
    [TestCase(VcpuOp.IsUp)]
    [TestCase(VcpuOp.GetRunstateInfo)]
    [TestCase(VcpuOp.RegisterRunstateMemoryArea)]
    [TestCase(VcpuOp.RegisterVcpuInfo)]
    public void AVcpuIdPastTheDomainsVcpusIsENOENT(int cmd)
    {
        Assert.That(Call((ulong)cmd, 4, _ctx), Is.EqualTo(-XenErrno.ENOENT));
        Assert.That(Call((ulong)cmd, ulong.MaxValue, _ctx), Is.EqualTo(-XenErrno.ENOENT));
    }

    [Test]
    public void OnlyVcpuZeroIsUpAtCreation()
    {
        Assert.That(Call(VcpuOp.IsUp, 0, 0), Is.EqualTo(1));
        for (ulong i = 1; i < 4; i++) Assert.That(Call(VcpuOp.IsUp, i, 0), Is.Zero);
        Assert.That(_d.OnlineVcpuCount, Is.EqualTo(1));
    }

    [Test]
    public void UpBeforeInitialiseIsEINVAL()
    {
        Assert.That(Call(VcpuOp.Up, 1, 0), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(_d.Vcpus[1].IsUp, Is.False);
    }

    [Test]
    public void InitialiseFromAnUnmappedAddressIsEFAULT()
    {
        Assert.That(Call(VcpuOp.Initialise, 1, 0x10), Is.EqualTo(-XenErrno.EFAULT));
        Assert.That(_d.Vcpus[1].IsInitialised, Is.False);
    }

    [Test]
    public void InitialisingAnInitialisedVcpuIsEEXIST()
    {
        Assert.That(Initialise(0, Context()), Is.EqualTo(-XenErrno.EEXIST));
        Assert.That(Initialise(1, Context()), Is.Zero);
        Assert.That(Initialise(1, Context()), Is.EqualTo(-XenErrno.EEXIST));
    }

    private static IEnumerable<TestCaseData> BadContexts()
    {
        yield return new TestCaseData(Vcpu.CtxUserRegs + Vcpu.RegsRip, 0x0000_8000_0000_0000UL).SetName("NonCanonicalRipIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxUserRegs + Vcpu.RegsRsp, 0x1234_5678_0000_0000UL).SetName("NonCanonicalRspIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxKernelSp, 0x0001_0000_0000_0000UL).SetName("NonCanonicalKernelSpIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxEventCallback, 0x0000_9000_0000_0000UL).SetName("NonCanonicalEventCallbackIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxFailsafeCallback, 0x0000_9000_0000_0000UL).SetName("NonCanonicalFailsafeCallbackIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxSyscallCallback, 0x0000_9000_0000_0000UL).SetName("NonCanonicalSyscallCallbackIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxFsBase, 0x0000_9000_0000_0000UL).SetName("NonCanonicalFsBaseIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxGsBaseUser, 0x0000_9000_0000_0000UL).SetName("NonCanonicalUserGsBaseIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxTrapCtxt + 14 * 16 + 8, 0x0000_9000_0000_0000UL).SetName("NonCanonicalTrapHandlerIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxLdtBase, 0x1008UL).SetName("MisalignedLdtBaseIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxLdtBase, X86_64.HypervisorVirtStart).SetName("LdtInXensRangeIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxLdtEnts, 8193UL).SetName("MoreThan8192LdtEntriesIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxGdtEnts, 14UL * 512 + 1).SetName("GdtIntoXensReservedEntriesIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxVmAssist, 1UL << 40).SetName("UnknownVmAssistBitIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxDebugreg, X86_64.HypervisorVirtStart + 8).SetName("DebugAddressInXensRangeIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxCtrlreg + 3 * 8, 0UL).SetName("Cr3OfAFrameNotTheDomainsIsEINVAL");
        yield return new TestCaseData(Vcpu.CtxFlags, 0UL).SetName("UserModeWithoutAUserTableIsEINVAL");
    }

    [TestCaseSource(nameof(BadContexts))]
    public void ABadContextIsRejectedWithoutTrace(int offset, ulong value)
    {
        var c = Context();
        Set(c, offset, value);
        if (offset == Vcpu.CtxLdtBase) Set(c, Vcpu.CtxLdtEnts, 1);
        var v1 = _d.Vcpus[1];
        Assert.That(Initialise(1, c), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(v1.IsInitialised, Is.False);
        Assert.That(v1.GuestTableMfn, Is.Zero);
        Assert.That(v1.EventCallback, Is.Zero);
        Assert.That(Call(VcpuOp.Up, 1, 0), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void TheContextsDebugRegistersAreLoadedAsSetDebugregTakesThem()
    {
        var c = Context();
        Set(c, Vcpu.CtxCtrlreg + 4 * 8, 1UL << 3); // CR4.DE: the I/O breakpoint below is valid
        Set(c, Vcpu.CtxDebugreg + 1 * 8, 0x80);
        Set(c, Vcpu.CtxDebugreg + 6 * 8, 0);
        Set(c, Vcpu.CtxDebugreg + 7 * 8, (1UL << 2) | (2UL << 20));
        var v1 = _d.Vcpus[1];
        Assert.That(Initialise(1, c), Is.Zero);
        Assert.That(v1.DebugRegisters, Is.EqualTo(new ulong[] { 0, 0x80, 0, 0, 0, 0, 0xFFFF_0FF0, 0x400 | (1UL << 2) | (2UL << 20) }));
        Assert.That(v1.GuestCr4Bits, Is.EqualTo(1UL << 3), "the guest-controlled CR4 bits come from the context");
    }

    [Test]
    public void ADebugRegisterValueSetDebugregRefusesIsDroppedNotFatal()
    {
        var c = Context();
        Set(c, Vcpu.CtxDebugreg + 7 * 8, 1UL << 13); // DR7.GD: -EPERM from set_debugreg, ignored here
        var v1 = _d.Vcpus[1];
        Assert.That(Initialise(1, c), Is.Zero);
        Assert.That(v1.DebugRegisters[7], Is.EqualTo(0x400UL), "DR7 keeps its reset value");
    }

    [Test]
    public void Cr3OfAPageMappedWritableIsEINVAL()
    {
        var c = Context();
        Set(c, Vcpu.CtxCtrlreg + 3 * 8, _d.P2m[_r.Layout.StartInfoPfn] << 12);
        Assert.That(Initialise(1, c), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(_d.Vcpus[1].IsInitialised, Is.False);
    }

    [Test]
    public void InitialiseLoadsTheContextAndUpStartsIt()
    {
        var v1 = _d.Vcpus[1];
        Assert.That(Initialise(1, Context()), Is.Zero);
        Assert.That(v1.IsInitialised, Is.True);
        Assert.That(Call(VcpuOp.IsUp, 1, 0), Is.Zero, "without VGCF_online the vCPU stays down until VCPUOP_up");
        Assert.That(v1.Registers.Rip, Is.EqualTo(0xFFFF_FFFF_8000_1000UL));
        Assert.That(v1.Registers.Rsp, Is.EqualTo(_ctx + 0x1FF0));
        Assert.That(v1.Registers.Rax, Is.EqualTo(0x1234UL));
        Assert.That(v1.Registers.Rflags & 0x3000, Is.Zero, "IOPL is virtualised");
        Assert.That(v1.Registers.Rflags & 0x200, Is.Not.Zero, "IF forced on");
        Assert.That(v1.Registers.GsBase, Is.EqualTo(0x5000UL));
        Assert.That(v1.KernelStackPointer, Is.EqualTo(_ctx + 0x1F00));
        Assert.That(v1.EventCallback, Is.EqualTo(0xFFFF_FFFF_8000_2000UL));
        Assert.That(v1.GuestTableMfn, Is.EqualTo(_v0.GuestTableMfn));
        Assert.That(v1.Registers.Cr3, Is.EqualTo(_v0.GuestTableMfn << 12));
        Assert.That(v1.InKernelMode, Is.True);
        Assert.That(Call(VcpuOp.Up, 1, 0), Is.Zero);
        Assert.That(Call(VcpuOp.IsUp, 1, 0), Is.EqualTo(1));
        Assert.That(Call(VcpuOp.Up, 1, 0), Is.Zero, "up twice is harmless");
    }

    [Test]
    public void VgcfOnlineBringsTheVcpuUpAtOnce()
    {
        var c = Context();
        Set(c, Vcpu.CtxFlags, Vcpu.VgcfInKernel | Vcpu.VgcfOnline);
        Assert.That(Initialise(2, c), Is.Zero);
        Assert.That(Call(VcpuOp.IsUp, 2, 0), Is.EqualTo(1));
    }

    [Test]
    public void DownTakesAnotherVcpuOfflineButTheLastOnePowersTheDomainOff()
    {
        Assert.That(Initialise(1, Context()), Is.Zero);
        Assert.That(Call(VcpuOp.Up, 1, 0), Is.Zero);
        Assert.That(Call(VcpuOp.Down, 1, 0), Is.Zero);
        Assert.That(Call(VcpuOp.IsUp, 1, 0), Is.Zero);
        Assert.That(_d.IsShutdown, Is.False);
        Assert.That(Call(VcpuOp.Down, 0, 0), Is.Zero);
        Assert.That(_d.IsShutdown, Is.True);
        Assert.That(_d.ShutdownReason, Is.EqualTo(ShutdownReason.Poweroff));
    }

    [Test]
    public void GetRunstateInfoReportsAnOfflineVcpuAsOffline()
    {
        Assert.That(Call(VcpuOp.GetRunstateInfo, 2, _ctx), Is.Zero);
        Assert.That((uint)_f.Memory.ReadUInt64(MachineOf(_ctx)), Is.EqualTo((uint)Runstate.Offline));
        ulong running = ReadU64(_ctx + 16), runnable = ReadU64(_ctx + 24), blocked = ReadU64(_ctx + 32), offline = ReadU64(_ctx + 40);
        Assert.That(running + runnable + blocked, Is.Zero);
        Assert.That(offline, Is.GreaterThan(0UL));
    }

    [Test]
    public void GetRunstateInfoToAnUnmappedAddressIsEFAULT() =>
        Assert.That(Call(VcpuOp.GetRunstateInfo, 0, 0x10), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void RunstateTotalsGrowWithRealStateChanges()
    {
        var v = _d.Vcpus[0];
        v.SetRunstate(Runstate.Running);
        Thread.Sleep(5);
        v.SetRunstate(Runstate.Blocked);
        var s = v.GetRunstate();
        Assert.That(s.State, Is.EqualTo(Runstate.Blocked));
        Assert.That(s.Running, Is.GreaterThan(0));
    }

    [Test]
    public void RegisterRunstateAreaWritesItForTheCaller()
    {
        GuestMemory.CopyTo(_v0, _ctx + 0x800, Enumerable.Repeat((byte)0xFF, Vcpu.RunstateInfoSize).ToArray());
        GuestMemory.Write(_v0, _ctx, _ctx + 0x800);
        Assert.That(Call(VcpuOp.RegisterRunstateMemoryArea, 0, _ctx), Is.Zero);
        Assert.That(_v0.RunstateArea, Is.EqualTo(_ctx + 0x800));
        Assert.That(ReadU64(_ctx + 0x800), Is.EqualTo((ulong)Runstate.Runnable), "state written at once");
        Assert.That(ReadU64(_ctx + 0x800 + 16) + ReadU64(_ctx + 0x800 + 32) + ReadU64(_ctx + 0x800 + 40), Is.Zero);
    }

    [Test]
    public void RegisterRunstateAreaErrnos()
    {
        Assert.That(Call(VcpuOp.RegisterRunstateMemoryArea, 0, 0x10), Is.EqualTo(-XenErrno.EFAULT));
        GuestMemory.Write(_v0, _ctx, X86_64.HypervisorVirtStart);
        Assert.That(Call(VcpuOp.RegisterRunstateMemoryArea, 0, _ctx), Is.EqualTo(-XenErrno.EFAULT));
        Assert.That(_v0.RunstateArea, Is.Zero);
    }

    private long RegisterVcpuInfo(int vcpu, ulong mfn, uint offset)
    {
        GuestMemory.Write(_v0, _ctx + 0x100, mfn);
        GuestMemory.Write(_v0, _ctx + 0x108, offset);
        GuestMemory.Write(_v0, _ctx + 0x10C, 0u);
        return Call(VcpuOp.RegisterVcpuInfo, (ulong)vcpu, _ctx + 0x100);
    }

    [Test]
    public void RegisterVcpuInfoMovesEventDeliveryAndTime()
    {
        ulong mfn = _d.P2m[_freePfn + 5];
        EventChannelTable.EnableEventDelivery(_d, 0);
        Assert.That(RegisterVcpuInfo(0, mfn, 64), Is.Zero);
        ulong info = (mfn << 12) + 64;
        Assert.That(_f.Memory.ReadUInt64(info + (ulong)SharedInfoLayout.VcpuPendingSel), Is.EqualTo(ulong.MaxValue), "everything marked pending");
        Assert.That(EventChannelTable.UpcallsMasked(_d, 0), Is.False, "the mask was copied over");
        Assert.That((uint)_f.Memory.ReadUInt64(info + (ulong)SharedInfoLayout.VcpuTime) % 2, Is.Zero);
        Assert.That((uint)_f.Memory.ReadUInt64(info + (ulong)SharedInfoLayout.VcpuTime), Is.Not.Zero, "time republished at the new place");
        // Clear and send an IPI: the new vcpu_info gets the selector, the shared_info slot does not.
        _f.Memory.WriteUInt64(info + (ulong)SharedInfoLayout.VcpuPendingSel, 0);
        _f.Memory.WriteUInt64(info, 0);
        ulong oldSlot = (_d.SharedInfoMfn << 12) + (ulong)SharedInfoLayout.VcpuInfo(0);
        _f.Memory.WriteUInt64(oldSlot + (ulong)SharedInfoLayout.VcpuPendingSel, 0);
        Assert.That(EventChannelTable.BindIpi(_d, 0, out uint port), Is.Zero);
        Assert.That(EventChannelTable.Send(_d, port), Is.Zero);
        Assert.That(EventChannelTable.UpcallPending(_d, 0), Is.True);
        Assert.That(_f.Memory.ReadUInt64(info + (ulong)SharedInfoLayout.VcpuPendingSel), Is.Not.Zero);
        Assert.That(_f.Memory.ReadUInt64(oldSlot + (ulong)SharedInfoLayout.VcpuPendingSel), Is.Zero);
    }

    [Test]
    public void RegisterVcpuInfoErrnos()
    {
        ulong mfn = _d.P2m[_freePfn + 5];
        Assert.That(Call(VcpuOp.RegisterVcpuInfo, 0, 0x10), Is.EqualTo(-XenErrno.EFAULT));
        Assert.That(RegisterVcpuInfo(0, mfn, 4096 - 63), Is.EqualTo(-XenErrno.EINVAL), "must fit in the page");
        Assert.That(RegisterVcpuInfo(0, _d.SharedInfoMfn + 100_000, 0), Is.EqualTo(-XenErrno.EINVAL), "not the domain's frame");
        Assert.That(RegisterVcpuInfo(0, _v0.GuestTableMfn, 0), Is.EqualTo(-XenErrno.EINVAL), "a page table cannot be writable");
        Assert.That(Initialise(1, Context()), Is.Zero);
        Assert.That(Call(VcpuOp.Up, 1, 0), Is.Zero);
        Assert.That(RegisterVcpuInfo(1, mfn, 0), Is.EqualTo(-XenErrno.EINVAL), "another vCPU must be down");
        Assert.That(RegisterVcpuInfo(2, mfn, 0), Is.Zero, "a down vCPU may be given one");
        Assert.That(RegisterVcpuInfo(0, mfn, 128), Is.Zero);
        Assert.That(RegisterVcpuInfo(0, mfn, 192), Is.EqualTo(-XenErrno.EINVAL), "only once");
    }

    private ulong MachineOf(ulong va)
    {
        ulong pfn = (va - _r.Layout.VirtBase) >> 12;
        return (_d.P2m[pfn] << 12) + (va & 0xFFF);
    }

    private ulong ReadU64(ulong va)
    {
        Assert.That(GuestMemory.Read(_v0, va, out ulong value), Is.True);
        return value;
    }
}
