using System.Runtime.CompilerServices;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor;

/// <summary>RUNSTATE_* of xen/include/public/vcpu.h.</summary>
public enum Runstate
{
    Running = 0, Runnable = 1, Blocked = 2, Offline = 3,
}

/// <summary>
/// The SMP side of a vCPU, as Xen keeps it: is_initialised and _VPF_down (VCPUOP_initialise / up / down),
/// runstate accounting (vcpu_runstate_change, the registered runstate area) and the location of vcpu_info
/// (in shared_info, or wherever VCPUOP_register_vcpu_info moved it). Every reader of vcpu_info goes through
/// <see cref="VcpuInfoAddress"/>.
/// </summary>
public sealed partial class Vcpu
{
    /// <summary>struct vcpu_runstate_info: state @0 (int), state_entry_time @8, time[4] @16; 48 bytes.</summary>
    public const int RunstateInfoSize = 48;

    /// <summary>XEN_RUNSTATE_UPDATE: set in state_entry_time while the guest's copy is being rewritten.</summary>
    public const ulong RunstateUpdateFlag = 1UL << 63;

    private bool _initialised;
    private bool _down;
    private readonly Lock _runstateLock = new();
    private Runstate _runstate;
    private long _runstateEntry;
    private readonly long[] _runstateTime = new long[4];
    private ulong _runstateArea;
    private Time.SystemClock? _clock;

    /// <summary>Machine address of this vCPU's vcpu_info once registered (ulong.MaxValue: the shared_info slot).</summary>
    private ulong _registeredVcpuInfo = ulong.MaxValue;

    /// <summary>vCPU 0 is initialised and online from creation (the builder's context); the others start down.</summary>
    private void InitSmpState()
    {
        _initialised = Id == 0;
        _down = Id != 0;
        _runstate = _down ? Runstate.Offline : Runstate.Runnable;
    }

    /// <summary>v->is_initialised: a context was loaded (by the builder for vCPU 0, or VCPUOP_initialise).</summary>
    public bool IsInitialised { get { lock (_domain.StateLock) return _initialised; } }

    /// <summary>VCPUOP_is_up: not _VPF_down.</summary>
    public bool IsUp { get { lock (_domain.StateLock) return !_down; } }

    /// <summary>Guest virtual address of the registered runstate area (0 = none).</summary>
    public ulong RunstateArea => Volatile.Read(ref _runstateArea);

    // ---- vcpu_info ----------------------------------------------------------------------------------------

    /// <summary>
    /// Machine address of this vCPU's vcpu_info: the registered frame+offset, else its slot in shared_info; or
    /// ulong.MaxValue when it has none (no shared_info, or a vCPU beyond the legacy 32 that registered nothing).
    /// </summary>
    internal ulong VcpuInfoAddress
    {
        get
        {
            ulong registered = Volatile.Read(ref _registeredVcpuInfo);
            if (registered != ulong.MaxValue) return registered;
            return VcpuInfoInSharedInfo(_domain, Id);
        }
    }

    private static ulong VcpuInfoInSharedInfo(Domain d, int vcpu) =>
        d.SharedInfoMfn == ulong.MaxValue || (uint)vcpu >= SharedInfoLayout.LegacyMaxVcpus
            ? ulong.MaxValue
            : (d.SharedInfoMfn << 12) + (ulong)SharedInfoLayout.VcpuInfo(vcpu);

    /// <summary>Machine address of vCPU <paramref name="vcpu"/>'s vcpu_info in <paramref name="d"/> (ulong.MaxValue: none).</summary>
    internal static ulong VcpuInfoAddressOf(Domain d, int vcpu)
    {
        var list = d.Vcpus;
        return (uint)vcpu < (uint)list.Count ? list[vcpu].VcpuInfoAddress : VcpuInfoInSharedInfo(d, vcpu);
    }

    /// <summary>Host pointer to vCPU <paramref name="vcpu"/>'s vcpu_info, or null when it has none.</summary>
    internal static unsafe byte* VcpuInfoPointer(Domain d, int vcpu)
    {
        ulong ma = VcpuInfoAddressOf(d, vcpu);
        return ma == ulong.MaxValue ? null : d.Hypervisor.Memory.Base + ma;
    }

    /// <summary>Tell the CPU's decoded-code cache that vcpu_info's frame changed (as every hypervisor write must).</summary>
    internal static void NoteVcpuInfoWrite(Domain d, int vcpu)
    {
        ulong ma = VcpuInfoAddressOf(d, vcpu);
        if (ma != ulong.MaxValue) d.Hypervisor.Memory.NoteWrite(ma >> 12);
    }

    /// <summary>
    /// VCPUOP_register_vcpu_info (map_vcpu_info): move vcpu_info to <paramref name="mfn"/>:<paramref name="offset"/>.
    /// Allowed once, on oneself or on a vCPU that is down; the frame must be the domain's and take a writable type
    /// reference. The old contents are copied over, then everything is marked pending so no event is lost.
    /// </summary>
    internal unsafe int RegisterVcpuInfo(Vcpu caller, ulong mfn, uint offset)
    {
        var d = _domain;
        var hv = d.Hypervisor;
        if (offset > 4096 - SharedInfoLayout.VcpuInfoSize) return -XenErrno.EINVAL;
        lock (d.StateLock)
        {
            if (_registeredVcpuInfo != ulong.MaxValue) return -XenErrno.EINVAL;
            if (caller != this && !_down) return -XenErrno.EINVAL;
            if (d.IsDying || !hv.Frames.IsOwnedBy(mfn, d.Id)) return -XenErrno.EINVAL;
            if (!hv.Mmu.TryGetWritableRef(d, mfn)) return -XenErrno.EINVAL;
            ulong newMa = (mfn << 12) + offset;
            byte* dst = hv.Memory.Base + newMa;
            ulong oldMa = VcpuInfoAddress;
            if (oldMa == ulong.MaxValue)
            {
                new Span<byte>(dst, SharedInfoLayout.VcpuInfoSize).Clear();
                dst[SharedInfoLayout.VcpuUpcallMask] = 1;
            }
            else
            {
                new ReadOnlySpan<byte>(hv.Memory.Base + oldMa, SharedInfoLayout.VcpuInfoSize).CopyTo(new Span<byte>(dst, SharedInfoLayout.VcpuInfoSize));
            }
            Volatile.Write(ref _registeredVcpuInfo, newMa);
            Interlocked.MemoryBarrier();
            // Everything pending: the guest rescans every selector word once.
            Volatile.Write(ref *(dst + SharedInfoLayout.VcpuUpcallPending), (byte)1);
            Volatile.Write(ref Unsafe.AsRef<long>(dst + SharedInfoLayout.VcpuPendingSel), -1L);
            hv.Memory.NoteWrite(mfn);
        }
        Time.VcpuTime.Update(this);
        Wake();
        return 0;
    }

    // ---- runstate -----------------------------------------------------------------------------------------

    private long ClockNow() => (_clock ??= Time.SystemClock.Of(_domain.Hypervisor)).Now();

    /// <summary>vcpu_runstate_change: account the time spent in the old state and enter <paramref name="state"/>.</summary>
    internal void SetRunstate(Runstate state)
    {
        lock (_runstateLock)
        {
            if (_runstate == state) return;
            long now = ClockNow();
            long delta = now - _runstateEntry;
            if (delta > 0) _runstateTime[(int)_runstate] += delta;
            _runstate = state;
            _runstateEntry = now;
        }
    }

    /// <summary>vcpu_runstate_get: the current state, its entry time, and the four totals up to now.</summary>
    public (Runstate State, long EntryTime, long Running, long Runnable, long Blocked, long Offline) GetRunstate()
    {
        lock (_runstateLock)
        {
            long now = ClockNow();
            Span<long> t = stackalloc long[4];
            for (int i = 0; i < 4; i++) t[i] = _runstateTime[i];
            long delta = now - _runstateEntry;
            if (delta > 0) t[(int)_runstate] += delta;
            return (_runstate, _runstateEntry, t[0], t[1], t[2], t[3]);
        }
    }

    private void WriteRunstate(Span<byte> buffer)
    {
        var r = GetRunstate();
        Unsafe.WriteUnaligned(ref buffer[0], (ulong)(uint)(int)r.State);
        Unsafe.WriteUnaligned(ref buffer[8], (ulong)r.EntryTime);
        Unsafe.WriteUnaligned(ref buffer[16], (ulong)r.Running);
        Unsafe.WriteUnaligned(ref buffer[24], (ulong)r.Runnable);
        Unsafe.WriteUnaligned(ref buffer[32], (ulong)r.Blocked);
        Unsafe.WriteUnaligned(ref buffer[40], (ulong)r.Offline);
    }

    /// <summary>VCPUOP_get_runstate_info: copy struct vcpu_runstate_info to <paramref name="va"/> in the caller's space.</summary>
    internal int CopyRunstateTo(Vcpu caller, ulong va)
    {
        Span<byte> buf = stackalloc byte[RunstateInfoSize];
        WriteRunstate(buf);
        return GuestMemory.CopyTo(caller, va, buf) ? 0 : -XenErrno.EFAULT;
    }

    /// <summary>
    /// VCPUOP_register_runstate_memory_area: the guest handle must be a guest address (else -EFAULT); 0 turns it
    /// off. The area is refreshed each time the vCPU is scheduled in, and at once when registering for oneself.
    /// </summary>
    internal int RegisterRunstateArea(Vcpu caller, ulong va)
    {
        if (!Hypercalls.Continuation.HandleOk(va, 1, RunstateInfoSize)) return -XenErrno.EFAULT;
        Volatile.Write(ref _runstateArea, va);
        if (va != 0 && caller == this) UpdateRunstateArea();
        return 0;
    }

    /// <summary>update_runstate_area: best effort, as Xen's (an unmapped area is silently skipped).</summary>
    private void UpdateRunstateArea()
    {
        ulong va = Volatile.Read(ref _runstateArea);
        if (va == 0) return;
        Span<byte> buf = stackalloc byte[RunstateInfoSize];
        WriteRunstate(buf);
        if (!_domain.HasVmAssist(Hypercalls.VmAssistOp.TypeRunstateUpdateFlag))
        {
            GuestMemory.CopyTo(this, va, buf);
            return;
        }
        // VMASST_TYPE_runstate_update_flag: XEN_RUNSTATE_UPDATE (bit 63 of state_entry_time, the top byte at offset
        // 15) is set before the area is rewritten and cleared after, so a reader on another vCPU can tell a torn copy.
        byte top = buf[15];
        buf[15] = (byte)(top | 0x80);
        if (!GuestMemory.CopyTo(this, va + 15, buf.Slice(15, 1))) return;
        Thread.MemoryBarrier();
        GuestMemory.CopyTo(this, va, buf);
        Thread.MemoryBarrier();
        buf[15] = top;
        GuestMemory.CopyTo(this, va + 15, buf.Slice(15, 1));
    }

    /// <summary>Scheduled in: running, and the runstate area says so.</summary>
    private void EnterRunning()
    {
        SetRunstate(Runstate.Running);
        if (Volatile.Read(ref _runstateArea) != 0) UpdateRunstateArea();
    }

    // ---- up / down ----------------------------------------------------------------------------------------

    /// <summary>VCPUOP_up: -EINVAL before a context was loaded; otherwise clear _VPF_down and wake it.</summary>
    internal int Up()
    {
        lock (_domain.StateLock)
        {
            if (!_initialised) return -XenErrno.EINVAL;
            if (!_down) return 0;
            _down = false;
            Monitor.PulseAll(_domain.StateLock);
        }
        return 0;
    }

    /// <summary>
    /// VCPUOP_down: set _VPF_down and make the vCPU leave the CPU; taking the last online vCPU down powers the
    /// domain off instead, as Xen does.
    /// </summary>
    internal int Down()
    {
        var d = _domain;
        bool last;
        lock (d.StateLock)
        {
            last = true;
            foreach (var other in d.Vcpus)
                if (other != this && !other._down) { last = false; break; }
            if (!last) _down = true;
        }
        if (last)
        {
            d.Hypervisor.ShutdownDomain(d, ShutdownReason.Poweroff);
            return 0;
        }
        Nudge();
        return 0;
    }

    /// <summary>Called under the domain lock by the run loop while it cannot run.</summary>
    private Runstate WaitingRunstate => _blocked ? Runstate.Blocked : Runstate.Offline;

    /// <summary>Drop the references the SMP state holds (domain teardown).</summary>
    internal void ReleaseSmpResources()
    {
        ulong ma = Interlocked.Exchange(ref _registeredVcpuInfo, ulong.MaxValue);
        if (ma != ulong.MaxValue) _domain.Hypervisor.Mmu.PutWritableRef(ma >> 12);
    }

    // ---- VCPUOP_initialise ---------------------------------------------------------------------------------

    /// <summary>struct vcpu_guest_context (x86-64) offsets and size; VGCF_* flags (arch-x86/xen.h).</summary>
    public const int CtxFlags = 512, CtxUserRegs = 520, CtxTrapCtxt = 720, CtxLdtBase = 4816, CtxLdtEnts = 4824,
        CtxGdtFrames = 4832, CtxGdtEnts = 4960, CtxKernelSs = 4968, CtxKernelSp = 4976, CtxCtrlreg = 4984,
        CtxDebugreg = 5048, CtxEventCallback = 5112, CtxFailsafeCallback = 5120, CtxSyscallCallback = 5128,
        CtxVmAssist = 5136, CtxFsBase = 5144, CtxGsBaseKernel = 5152, CtxGsBaseUser = 5160, ContextSize = 5168;
    /// <summary>cpu_user_regs (x86-64): r15..rdi (15 words), error_code/entry_vector, rip @128, cs @136, rflags @144, rsp @152, ss @160, es @168, ds @176, fs @184, gs @192.</summary>
    public const int RegsRip = 128, RegsCs = 136, RegsRflags = 144, RegsRsp = 152, RegsSs = 160, RegsEs = 168, RegsDs = 176, RegsFs = 184, RegsGs = 192;
    public const ulong VgcfI387Valid = 1, VgcfInKernel = 1 << 2, VgcfFailsafeDisablesEvents = 1 << 3,
        VgcfSyscallDisablesEvents = 1 << 4, VgcfOnline = 1 << 5;
    /// <summary>arch_vm_assist_valid_mask for a 64-bit PV domain: VMASST_TYPE_* 0-5 and m2p_strict (32).</summary>
    public const ulong VmAssistValidMask = 0x3FUL | (1UL << 32);

    /// <summary>The order of the 15 general registers at the start of cpu_user_regs, as indices into the GPR file.</summary>
    private static readonly int[] UserRegsOrder = [15, 14, 13, 12, 5, 3, 11, 10, 9, 8, 0, 1, 2, 6, 7];

    private static bool Canonical(ulong a) => Paravirt.Cpu.PageTableWalker.IsCanonical(a);
    private static ushort FixSelector(ulong sel) => (ushort)((sel & 3) < 3 ? (sel & ~3UL & 0xFFFF) | 3 : sel & 0xFFFF);

    /// <summary>
    /// VCPUOP_initialise (default_initialise_vcpu + arch_set_info_guest for a 64-bit PV guest): read the
    /// vcpu_guest_context at <paramref name="va"/> in <paramref name="caller"/>'s space (-EFAULT), refuse a vCPU
    /// already initialised (-EEXIST), validate it as Xen does (-EINVAL), then load it. The vCPU stays down
    /// unless VGCF_online is set; VCPUOP_up starts it.
    /// </summary>
    internal int Initialise(Vcpu caller, ulong va)
    {
        var ctx = new byte[ContextSize];
        if (!GuestMemory.CopyFrom(caller, va, ctx)) return -XenErrno.EFAULT;
        ulong U(int off) => System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(ctx.AsSpan(off));
        var d = _domain;
        lock (d.StateLock)
        {
            if (_initialised) return -XenErrno.EEXIST;
            if (d.IsDying || d.IsShutdown) return -XenErrno.EINVAL;
        }
        ulong flags = U(CtxFlags);
        ulong rip = U(CtxUserRegs + RegsRip), rsp = U(CtxUserRegs + RegsRsp);
        ulong ldtBase = U(CtxLdtBase), ldtEnts = U(CtxLdtEnts), gdtEnts = U(CtxGdtEnts);
        ulong kernelSp = U(CtxKernelSp), fsBase = U(CtxFsBase), gsKernel = U(CtxGsBaseKernel), gsUser = U(CtxGsBaseUser);
        ulong eventCb = U(CtxEventCallback), failsafeCb = U(CtxFailsafeCallback), syscallCb = U(CtxSyscallCallback);
        if (!Canonical(rip) || !Canonical(rsp) || !Canonical(kernelSp) || (ldtEnts != 0 && !Canonical(ldtBase))
            || !Canonical(fsBase) || !Canonical(gsKernel) || !Canonical(gsUser)
            || !Canonical(eventCb) || !Canonical(syscallCb) || !Canonical(failsafeCb))
            return -XenErrno.EINVAL;
        var traps = new Traps.TrapInfo[Traps.TrapAbi.Vectors];
        for (int i = 0; i < traps.Length; i++)
        {
            int off = CtxTrapCtxt + i * Traps.TrapAbi.TrapInfoSize;
            ulong address = U(off + 8);
            if (!Canonical(address)) return -XenErrno.EINVAL;
            traps[i] = new Traps.TrapInfo { Vector = ctx[off], Flags = ctx[off + 1], Cs = FixSelector(BitConverter.ToUInt16(ctx, off + 2)), Address = address };
        }
        if (!Hypercalls.Continuation.AddrOk(ldtBase)) return -XenErrno.EINVAL;
        if ((ldtBase & 0xFFF) != 0 || ldtEnts > Hypercalls.MmuextOp.MaxLdtEntries) return -XenErrno.EINVAL;
        if ((U(CtxVmAssist) & ~VmAssistValidMask) != 0) return -XenErrno.EINVAL;
        bool inKernel = (flags & VgcfInKernel) != 0;
        ulong kernelL4 = U(CtxCtrlreg + 3 * 8) >> 12, userL4 = U(CtxCtrlreg + 1 * 8) >> 12;
        if (!inKernel && userL4 == 0) return -XenErrno.EINVAL;
        for (int i = 0; i < 4; i++)
            if (!Hypercalls.Continuation.AddrOk(U(CtxDebugreg + i * 8))) return -XenErrno.EINVAL;
        if (gdtEnts > Traps.TrapAbi.FirstReservedGdtEntry) return -XenErrno.EINVAL;

        // Fallible steps that take references last: debug registers, the GDT (validated whole), then the bases.
        // CR4 as pv_fixup_guest_cr4 leaves it (only the bits a guest controls), then the debug registers as
        // arch_set_info_guest loads them: reset, then each through set_debugreg with its refusals ignored (an
        // I/O breakpoint is judged against the new CR4.DE).
        GuestCr4Bits = U(CtxCtrlreg + 4 * 8) & Traps.PrivilegedOpEmulator.GuestCr4Writable;
        Array.Clear(DebugRegisters);
        DebugRegisters[6] = Traps.TrapAbi.Dr6Default;
        DebugRegisters[7] = Traps.TrapAbi.Dr7Default;
        foreach (int reg in (ReadOnlySpan<int>)[0, 1, 2, 3, 6, 7])
            Hypercalls.DebugRegOp.Set(this, reg, U(CtxDebugreg + reg * 8));
        int frames = (int)((gdtEnts + Traps.TrapAbi.GdtEntriesPerFrame - 1) / Traps.TrapAbi.GdtEntriesPerFrame);
        Span<ulong> gdt = stackalloc ulong[frames];
        for (int i = 0; i < frames; i++) gdt[i] = U(CtxGdtFrames + i * 8);
        int rc = Hypercalls.GdtOp.InstallGdt(this, gdt, (uint)gdtEnts);
        if (rc != 0) return rc;
        bool wasKernel = InKernelMode;
        InKernelMode = inKernel;
        rc = d.Hypervisor.Mmu.SetVcpuBases(this, kernelL4, userL4);
        if (rc != 0)
        {
            InKernelMode = wasKernel;
            Hypercalls.GdtOp.InstallGdt(this, [], 0);
            return rc;
        }

        // Loaded: registers, trap table, callbacks, stacks, segments.
        var r = Registers;
        for (int i = 0; i < UserRegsOrder.Length; i++) r.Gprs[UserRegsOrder[i]] = U(CtxUserRegs + i * 8);
        r.Rip = rip;
        r.Rsp = rsp;
        ulong rflags = U(CtxUserRegs + RegsRflags);
        VirtualIopl = (int)((rflags >> 12) & 3);
        r.Rflags = (rflags & ~Traps.Rflags.IOPL & 0x3F_7FD7) | Traps.Rflags.IF | Traps.Rflags.Fixed1;
        r.Cs = FixSelector(U(CtxUserRegs + RegsCs));
        r.Ss = FixSelector(U(CtxUserRegs + RegsSs));
        r.Ds = (ushort)U(CtxUserRegs + RegsDs);
        r.Es = (ushort)U(CtxUserRegs + RegsEs);
        r.Fs = (ushort)U(CtxUserRegs + RegsFs);
        r.Gs = (ushort)U(CtxUserRegs + RegsGs);
        r.FsBase = fsBase;
        (r.GsBase, r.KernelGsBase) = inKernel ? (gsKernel, gsUser) : (gsUser, gsKernel);
        traps.CopyTo(TrapTable, 0);
        SetLdt(ldtEnts == 0 ? 0 : ldtBase, (uint)ldtEnts);
        KernelStackSegment = FixSelector(U(CtxKernelSs));
        KernelStackPointer = kernelSp;
        EventCallback = eventCb;
        FailsafeCallback = failsafeCb;
        SyscallCallback = syscallCb;
        FailsafeDisablesEvents = (flags & VgcfFailsafeDisablesEvents) != 0;
        SyscallDisablesEvents = (flags & VgcfSyscallDisablesEvents) != 0;
        Cpu.FlushTlb();
        lock (d.StateLock)
        {
            _initialised = true;
            _down = (flags & VgcfOnline) == 0;
            Monitor.PulseAll(d.StateLock);
        }
        return 0;
    }
}
