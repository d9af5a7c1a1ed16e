using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>HYPERVISOR_multicall driven through the hypercall entry path (Dispatch), as a guest's syscall reaches it.</summary>
public class MulticallTests : TrapTestBase
{
    private const ulong ReturnRip = 0xFFFF_FFFF_8000_1234;

    private ulong List => Stack;

    private void Entry(int index, ulong op, ulong a0 = 0, ulong a1 = 0, ulong a2 = 0, ulong a3 = 0)
    {
        ulong e = List + (ulong)index * MulticallOp.EntrySize;
        Put(e, op);
        Put(e + 8, 0xDEAD_BEEFUL);
        Put(e + 16, a0);
        Put(e + 24, a1);
        Put(e + 32, a2);
        Put(e + 40, a3);
        Put(e + 48, 0UL);
        Put(e + 56, 0UL);
    }

    private long Result(int index) => Get<long>(List + (ulong)index * MulticallOp.EntrySize + 8);

    /// <summary>Enter as the guest's syscall does: number in RAX, arguments in RDI/RSI, return address in RCX.</summary>
    private void Dispatch(ulong nr, ulong a1, ulong a2)
    {
        KernelContext(ReturnRip, Page2 + 0x800);
        R.Rax = nr;
        R.Rdi = a1;
        R.Rsi = a2;
        R.Rcx = ReturnRip;
        R.R11 = R.Rflags;
        Hv.Hypercalls.Dispatch(V);
    }

    [Test]
    public void EachEntryGetsItsOwnResultAndFailuresDoNotStopTheBatch()
    {
        Entry(0, Hypercall.XenVersion, XenVersionOp.Version);
        Entry(1, Hypercall.VmAssist, VmAssistOp.CmdEnable, 7);
        Entry(2, 63);
        Entry(3, Hypercall.XenVersion, XenVersionOp.PageSize);
        Dispatch(Hypercall.Multicall, List, 4);
        Assert.That(R.Rax, Is.Zero);
        Assert.That(R.Rip, Is.EqualTo(ReturnRip));
        Assert.That(Result(0), Is.EqualTo((XenVersionOp.Major << 16) | XenVersionOp.Minor));
        Assert.That(Result(1), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Result(2), Is.EqualTo(-XenErrno.ENOSYS));
        Assert.That(Result(3), Is.EqualTo(4096));
    }

    [Test]
    public void AMulticallInsideAMulticallIsRefusedAndTheOuterOneGoesOn()
    {
        Entry(0, Hypercall.Multicall, Page1, 1);
        Entry(1, Hypercall.XenVersion, XenVersionOp.PageSize);
        Put(Page1, (ulong)Hypercall.XenVersion);
        Put(Page1 + 8, 77UL);
        Dispatch(Hypercall.Multicall, List, 2);
        Assert.That(R.Rax, Is.Zero);
        Assert.That(Result(0), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(Get<ulong>(Page1 + 8), Is.EqualTo(77UL), "the inner list was not run");
        Assert.That(Result(1), Is.EqualTo(4096));
        Assert.That(V.Multicall.Active, Is.False);
    }

    [Test]
    public void AnUnusableListIsEfault()
    {
        Dispatch(Hypercall.Multicall, X86_64.HypervisorVirtStart, 1);
        Assert.That((long)R.Rax, Is.EqualTo(-XenErrno.EFAULT));
        Dispatch(Hypercall.Multicall, 0x1000, 1);
        Assert.That((long)R.Rax, Is.EqualTo(-XenErrno.EFAULT));
        Assert.That(V.Multicall.Active, Is.False);
    }

    [Test]
    public void ALongBatchContinuesThroughARestartedMulticall()
    {
        const int n = MulticallOp.Budget + 20; // 148 entries: 9472 bytes from the stack page on
        for (int i = 0; i < n; i++) Entry(i, Hypercall.XenVersion, XenVersionOp.PageSize);
        Dispatch(Hypercall.Multicall, List, n);
        // Back onto the syscall with the remaining entries, as hypercall_create_continuation leaves it.
        Assert.That(R.Rax, Is.EqualTo((ulong)Hypercall.Multicall));
        Assert.That(R.Rip, Is.EqualTo(ReturnRip - 2));
        Assert.That(R.Rdi, Is.EqualTo(List + MulticallOp.Budget * (ulong)MulticallOp.EntrySize));
        Assert.That(R.Rsi, Is.EqualTo(20UL));
        Assert.That(Result(MulticallOp.Budget - 1), Is.EqualTo(4096));
        Assert.That(Get<ulong>(List + MulticallOp.Budget * (ulong)MulticallOp.EntrySize + 8), Is.EqualTo(0xDEAD_BEEFUL));
        Dispatch(Hypercall.Multicall, R.Rdi, R.Rsi);
        Assert.That(R.Rax, Is.Zero);
        for (int i = 0; i < n; i++) Assert.That(Result(i), Is.EqualTo(4096), $"entry {i}");
    }

    [Test]
    public void APreemptedEntryIsWrittenBackWithItsContinuationArgumentsAndRunAgain()
    {
        // mmu_update of two requests to plain (untyped) memory: after the first one the domain is shutting down,
        // so the sub-call asks to be continued; the multicall stores the continuation in the entry and restarts there.
        ulong reqs = Page1, done = Page1 + 64;
        ulong target = MachineAddressOf(StackPfn + 2) + 0x800;
        Put(reqs, target);
        Put(reqs + 8, 0x1111UL);
        Put(reqs + 16, target + 8);
        Put(reqs + 24, 0x2222UL);
        Put(done, 0u);
        Entry(0, Hypercall.MmuUpdate, reqs, 2, done, DomId.Self);
        Entry(1, Hypercall.XenVersion, XenVersionOp.PageSize);
        Hv.ShutdownDomain(D, ShutdownReason.Suspend);
        Dispatch(Hypercall.Multicall, List, 2);
        Assert.That(R.Rax, Is.EqualTo((ulong)Hypercall.Multicall));
        Assert.That((R.Rdi, R.Rsi), Is.EqualTo((List, 2UL)), "restarted at the preempted entry");
        ulong e = List;
        Assert.That(Get<ulong>(e + 16), Is.EqualTo(reqs + 16), "ureqs advanced");
        Assert.That(Get<uint>(e + 24), Is.EqualTo(1u | Continuation.MmuUpdatePreempted), "count with MMU_UPDATE_PREEMPTED");
        Assert.That(Get<ulong>(e + 32), Is.EqualTo(done));
        Assert.That(Get<uint>(done), Is.EqualTo(1u));
        Assert.That(Memory.ReadUInt64(target), Is.EqualTo(0x1111UL));
        Assert.That(Memory.ReadUInt64(target + 8), Is.Zero);
        Assert.That(Result(1), Is.EqualTo(0xDEAD_BEEF), "the next entry waits");
    }

    [Test]
    public void AnIretEntryEndsTheBatchWithTheRestoredContext()
    {
        ulong frameAt = Page2 + 0x800;
        ulong[] frame = [0x4242, 0x11, 0x22, 0, Page1 + 0x10, X86_64.FlatKernelCs64 & ~3UL, VcpuRegisters.RflagsFixed | VcpuRegisters.RflagsIf,
            Page2 + 0x900, X86_64.FlatKernelSs64];
        for (int i = 0; i < frame.Length; i++) Put(frameAt + (ulong)i * 8, frame[i]);
        Entry(0, Hypercall.XenVersion, XenVersionOp.PageSize);
        Entry(1, Hypercall.Iret);
        Entry(2, Hypercall.XenVersion, XenVersionOp.PageSize);
        Dispatch(Hypercall.Multicall, List, 3);
        Assert.That(R.Rip, Is.EqualTo(Page1 + 0x10), "the iret frame's rip, not the syscall's return address");
        Assert.That(R.Rsp, Is.EqualTo(Page2 + 0x900));
        Assert.That(R.Rax, Is.EqualTo(0x4242UL));
        Assert.That((R.Rcx, R.R11), Is.EqualTo((0x22UL, 0x11UL)));
        Assert.That(Result(0), Is.EqualTo(4096));
        Assert.That(Result(1), Is.EqualTo(0x4242));
        Assert.That(Result(2), Is.EqualTo(0xDEAD_BEEF), "nothing after the iret runs");
        Assert.That(V.Multicall.ExitedByIret, Is.False);
        Assert.That(CrashMessage, Is.Null);
    }
}
