using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>set_trap_table, callback_op, set_callbacks, nmi_op, stack_switch and fpu_taskswitch.</summary>
public class TrapHypercallTests : TrapTestBase
{
    private void PutTrap(ulong va, byte vector, byte flags, ushort cs, ulong address)
    {
        Put(va, (ulong)vector | ((ulong)flags << 8) | ((ulong)cs << 16));
        Put(va + 8, address);
    }

    [Test]
    public void TrapInfoIsSixteenBytesWithTheAddressAtEight()
    {
        Assert.That(System.Runtime.InteropServices.Marshal.SizeOf<TrapInfo>(), Is.EqualTo(16));
        Assert.That(System.Runtime.InteropServices.Marshal.OffsetOf<TrapInfo>(nameof(TrapInfo.Flags)).ToInt32(), Is.EqualTo(1));
        Assert.That(System.Runtime.InteropServices.Marshal.OffsetOf<TrapInfo>(nameof(TrapInfo.Cs)).ToInt32(), Is.EqualTo(2));
        Assert.That(System.Runtime.InteropServices.Marshal.OffsetOf<TrapInfo>(nameof(TrapInfo.Address)).ToInt32(), Is.EqualTo(8));
    }

    [Test]
    public void SetTrapTableInstallsEntriesUntilTheNullAddress()
    {
        PutTrap(Page1, 14, 4, X86_64.FlatKernelCs64, 0xFFFF_FFFF_8000_1000);
        PutTrap(Page1 + 16, 0x80, 3, X86_64.FlatKernelCs64, 0xFFFF_FFFF_8000_2000);
        PutTrap(Page1 + 32, 13, 0, 0, 0);
        PutTrap(Page1 + 48, 6, 0, X86_64.FlatKernelCs64, 0xFFFF_FFFF_8000_3000);
        Assert.That(Call(Hypercall.SetTrapTable, Page1), Is.Zero);
        Assert.That(V.TrapTable[14].Address, Is.EqualTo(0xFFFF_FFFF_8000_1000));
        Assert.That(V.TrapTable[14].MasksEvents, Is.True);
        Assert.That(V.TrapTable[0x80].Dpl, Is.EqualTo(3));
        Assert.That(V.TrapTable[6].Address, Is.Zero, "entries after the terminator are not read");
    }

    [Test]
    public void SetTrapTableGivesHandlerSelectorsRpl3()
    {
        PutTrap(Page1, 3, 3, 0xe030, 0x1000);
        PutTrap(Page1 + 16, 0, 0, 0, 0);
        Assert.That(Call(Hypercall.SetTrapTable, Page1), Is.Zero);
        Assert.That(V.TrapTable[3].Cs, Is.EqualTo(0xe033));
    }

    [Test]
    public void SetTrapTableWithANullHandleClearsTheWholeTable()
    {
        SetTrap(14, 0x1000);
        Assert.That(Call(Hypercall.SetTrapTable, 0), Is.Zero);
        Assert.That(V.TrapTable.All(t => t.Address == 0), Is.True);
    }

    [Test]
    public void SetTrapTableRejectsANonCanonicalHandlerWithEINVAL()
    {
        PutTrap(Page1, 14, 0, X86_64.FlatKernelCs64, 0x0000_8000_0000_0000);
        PutTrap(Page1 + 16, 0, 0, 0, 0);
        Assert.That(Call(Hypercall.SetTrapTable, Page1), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(V.TrapTable[14].Address, Is.Zero);
    }

    [Test]
    public void SetTrapTableFromAnUnmappedTableIsEFAULT() =>
        Assert.That(Call(Hypercall.SetTrapTable, 0x10), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void SetTrapTableFromXensRangeIsEFAULT() =>
        Assert.That(Call(Hypercall.SetTrapTable, X86_64.HypervisorVirtStart + 0x1000), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void ALongTrapTableContinuesByReexecutingTheSyscall()
    {
        // More entries than one hypercall entry handles (vectors repeat): the call comes back as a continuation:
        // RAX = the hypercall number, RDI advanced past the installed entries, RIP back on the syscall.
        int count = Continuation.Budget + 76;
        for (int i = 0; i < count; i++) PutTrap(Page1 + (ulong)i * 16, (byte)i, 0, X86_64.FlatKernelCs64, 0x1000 + (ulong)i);
        PutTrap(Page1 + (ulong)count * 16, 0, 0, 0, 0);
        R.Rax = Hypercall.SetTrapTable;
        R.Rdi = Page1;
        R.Rcx = 0xFFFF_FFFF_8000_1022;
        R.R11 = VcpuRegisters.RflagsFixed;
        Hv.Hypercalls.Dispatch(V);
        Assert.That(R.Rax, Is.EqualTo((ulong)Hypercall.SetTrapTable));
        Assert.That(R.Rdi, Is.EqualTo(Page1 + (ulong)Continuation.Budget * 16));
        Assert.That(R.Rip, Is.EqualTo(0xFFFF_FFFF_8000_1020UL));
        Assert.That(V.TrapTable[255].Address, Is.EqualTo(0x1000 + (ulong)Continuation.Budget - 1));
        Assert.That(Call(Hypercall.SetTrapTable, R.Rdi), Is.Zero);
        Assert.That(V.TrapTable[(count - 1) % 256].Address, Is.EqualTo(0x1000 + (ulong)count - 1));
    }

    // ---- callback_op ----

    private long Register(ushort type, ushort flags, ulong address)
    {
        Put(Page1, (uint)type | ((uint)flags << 16));
        Put(Page1 + 8, address);
        return Call(Hypercall.CallbackOp, CallbackType.OpRegister, Page1);
    }

    private long Unregister(ushort type)
    {
        Put(Page1, (uint)type);
        return Call(Hypercall.CallbackOp, CallbackType.OpUnregister, Page1);
    }

    [Test]
    public void CallbackRegisterSetsEachCallback()
    {
        Assert.That(Register(CallbackType.Event, 0, 0x1000), Is.Zero);
        Assert.That(Register(CallbackType.Failsafe, CallbackType.FlagMaskEvents, 0x2000), Is.Zero);
        Assert.That(Register(CallbackType.Syscall, CallbackType.FlagMaskEvents, 0x3000), Is.Zero);
        Assert.That(Register(CallbackType.Syscall32, 0, 0x4000), Is.Zero);
        Assert.That(Register(CallbackType.Sysenter, 0, 0x5000), Is.Zero);
        Assert.That((V.EventCallback, V.FailsafeCallback, V.SyscallCallback, V.Syscall32Callback, V.SysenterCallback),
            Is.EqualTo((0x1000UL, 0x2000UL, 0x3000UL, 0x4000UL, 0x5000UL)));
        Assert.That(V.FailsafeDisablesEvents && V.SyscallDisablesEvents, Is.True);
        Assert.That(Register(CallbackType.Syscall, 0, 0x3000), Is.Zero);
        Assert.That(V.SyscallDisablesEvents, Is.False);
    }

    [Test]
    public void CallbackRegisterOfTheNmiCallbackFillsTrapTwoWithEventsMasked()
    {
        Assert.That(Register(CallbackType.Nmi, 0, 0x7000), Is.Zero);
        Assert.That(V.TrapTable[2].Address, Is.EqualTo(0x7000UL));
        Assert.That(V.TrapTable[2].MasksEvents, Is.True);
        Assert.That(Unregister(CallbackType.Nmi), Is.Zero);
        Assert.That(V.TrapTable[2].Address, Is.Zero);
    }

    [Test]
    public void CallbackRegisterWithANonCanonicalAddressIsEINVAL()
    {
        Assert.That(Register(CallbackType.Event, 0, 0x0001_0000_0000_0000), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(V.EventCallback, Is.Zero);
    }

    [TestCase((ushort)3)]
    [TestCase((ushort)6)]
    [TestCase((ushort)0xFFFF)]
    public void CallbackRegisterOfAnUnknownTypeIsENOSYS(ushort type) =>
        Assert.That(Register(type, 0, 0x1000), Is.EqualTo(-XenErrno.ENOSYS));

    [TestCase((ushort)CallbackType.Event)]
    [TestCase((ushort)CallbackType.Failsafe)]
    [TestCase((ushort)CallbackType.Syscall)]
    [TestCase((ushort)CallbackType.Syscall32)]
    [TestCase((ushort)CallbackType.Sysenter)]
    public void OnlyTheNmiCallbackCanBeUnregistered(ushort type) =>
        Assert.That(Unregister(type), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void CallbackUnregisterOfAnUnknownTypeIsENOSYS() => Assert.That(Unregister(9), Is.EqualTo(-XenErrno.ENOSYS));

    [Test]
    public void CallbackOpWithAnUnknownCommandIsENOSYS() =>
        Assert.That(Call(Hypercall.CallbackOp, 2, Page1), Is.EqualTo(-XenErrno.ENOSYS));

    [Test]
    public void CallbackOpWithAnUnreadableArgumentIsEFAULT()
    {
        Assert.That(Call(Hypercall.CallbackOp, CallbackType.OpRegister, 0x10), Is.EqualTo(-XenErrno.EFAULT));
        Assert.That(Call(Hypercall.CallbackOp, CallbackType.OpUnregister, 0x10), Is.EqualTo(-XenErrno.EFAULT));
    }

    [Test]
    public void SetCallbacksRegistersAllThreeAndIgnoresABadOne()
    {
        Assert.That(Call(Hypercall.SetCallbacks, 0x1000, 0x8000_0000_0000, 0x3000), Is.Zero);
        Assert.That((V.EventCallback, V.FailsafeCallback, V.SyscallCallback), Is.EqualTo((0x1000UL, 0UL, 0x3000UL)));
    }

    [Test]
    public void NmiOpRegistersAndUnregistersTheNmiHandler()
    {
        Put(Page1, 0x9000UL);
        Assert.That(Call(Hypercall.NmiOp, CallbackOp.NmiRegisterCallback, Page1), Is.Zero);
        Assert.That(V.TrapTable[2].Address, Is.EqualTo(0x9000UL));
        Assert.That(Call(Hypercall.NmiOp, CallbackOp.NmiUnregisterCallback), Is.Zero);
        Assert.That(V.TrapTable[2].Address, Is.Zero);
        Assert.That(Call(Hypercall.NmiOp, 7), Is.EqualTo(-XenErrno.ENOSYS));
        Assert.That(Call(Hypercall.NmiOp, CallbackOp.NmiRegisterCallback, 0x10), Is.EqualTo(-XenErrno.EFAULT));
    }

    // ---- stack_switch, fpu_taskswitch ----

    [Test]
    public void StackSwitchRecordsTheKernelStackWithRpl3()
    {
        Assert.That(Call(Hypercall.StackSwitch, 0xe028, 0xFFFF_FFFF_8010_0000), Is.Zero);
        Assert.That(V.KernelStackPointer, Is.EqualTo(0xFFFF_FFFF_8010_0000UL));
        Assert.That(V.KernelStackSegment, Is.EqualTo((ushort)0xe02b));
    }

    [Test]
    public void FpuTaskswitchAlwaysSucceeds()
    {
        Assert.That(Call(Hypercall.FpuTaskswitch, 1), Is.Zero);
        Assert.That(Call(Hypercall.FpuTaskswitch, 0), Is.Zero);
    }
}
