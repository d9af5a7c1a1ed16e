using Iced.Intel;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;

namespace Paravirt.Hypervisor.Traps;

/// <summary>
/// The privileged-instruction emulation Xen performs for 64-bit PV guests (xen/arch/x86/pv/emul-priv-op.c,
/// emul-inv-op.c). Guest kernel and user both run at CPL 3, so a privileged instruction in the guest kernel
/// raises #GP(0); the hypervisor decodes it and, where Xen does, emulates it with the guest kernel treated as
/// ring 0: rdmsr/wrmsr of the PV-visible MSRs, mov to/from CR0/CR2/CR3/CR4 (a CR3 load validated as
/// MMUEXT_NEW_BASEPTR) and the debug registers, clts,
/// wbinvd/invd (no-ops), cli/sti (skipped when the virtual IOPL admits the ring, as Xen does: the event mask is
/// not touched), in/out and rep ins/outs where the virtual IOPL or I/O bitmap permits (reads of ports the domain
/// was not given return all ones, writes are dropped), with the guest's I/O breakpoints (DR7 R/W = 10 under
/// CR4.DE) raising #DB after the instruction. Everything else is refused: the caller then reflects #GP to the guest. The forced-emulation prefix
/// <c>ud2; .ascii "xen"; cpuid</c> raises #UD and is emulated as CPUID with the PV policy.
/// One instance per vCPU; decoding reuses one decoder and buffer.
/// </summary>
internal sealed class PrivilegedOpEmulator
{
    // MSR numbers (SDM vol. 4).
    public const uint MsrTsc = 0x10, MsrBiosSignId = 0x8B, MsrMiscEnable = 0x1A0, MsrPat = 0x277,
        MsrEfer = 0xC000_0080, MsrFsBase = 0xC000_0100, MsrGsBase = 0xC000_0101, MsrShadowGsBase = 0xC000_0102;

    /// <summary>EFER as a 64-bit PV guest reads it: SCE, LME, LMA, NXE.</summary>
    public const ulong GuestEfer = 1UL | (1UL << 8) | (1UL << 10) | (1UL << 11);
    /// <summary>MISC_ENABLE: fast strings, BTS and PEBS unavailable (what Xen shows PV guests of its own bits).</summary>
    public const ulong GuestMiscEnable = 1UL | (1UL << 11) | (1UL << 12);
    /// <summary>The PAT Xen programs and PV guests see (XEN_MSR_PAT): WB, WT, UC-, UC, WC, WP, UC-, UC.</summary>
    public const ulong GuestPat = 0x0000_0501_0007_0406UL;
    /// <summary>CR0 of a PV guest: PE, MP, ET, NE, WP, AM, PG; TS is the guest's own (fpu_taskswitch).</summary>
    public const ulong GuestCr0 = 0x8005_0033UL, Cr0Ts = 1UL << 3;
    /// <summary>CR4 fixed bits (PAE, PGE, OSFXSR, OSXMMEXCPT) and the ones the guest may toggle (TSD, DE).</summary>
    public const ulong GuestCr4Fixed = (1UL << 5) | (1UL << 7) | (1UL << 9) | (1UL << 10), GuestCr4Writable = (1UL << 2) | Cr4De;
    /// <summary>CR4.DE: DR4/DR5 stop aliasing DR6/DR7, and DR7 may hold I/O breakpoints.</summary>
    public const ulong Cr4De = 1UL << 3;

    private static ReadOnlySpan<byte> ForcedEmulationPrefix => [0x0F, 0x0B, (byte)'x', (byte)'e', (byte)'n'];

    private readonly Vcpu _vcpu;
    private readonly BufferReader _reader = new();
    private readonly Decoder _decoder;

    public PrivilegedOpEmulator(Vcpu vcpu)
    {
        _vcpu = vcpu;
        _decoder = Decoder.Create(64, _reader, 0, DecoderOptions.None);
    }

    /// <summary>#GP(0): emulate the instruction at RIP if Xen would; false = reflect #GP(0) to the guest.</summary>
    public bool TryEmulate()
    {
        var r = _vcpu.Registers;
        int n = Fetch(r.Rip);
        if (n == 0) return false;
        _reader.Reset(n);
        _decoder.IP = r.Rip;
        _decoder.Decode(out var insn);
        if (insn.IsInvalid) return false;
        bool kernel = _vcpu.InKernelMode;
        switch (insn.Mnemonic)
        {
            case Mnemonic.Rdmsr:
                if (!kernel || !ReadMsr((uint)r.Rcx, out ulong value)) return false;
                r.Rax = (uint)value;
                r.Rdx = value >> 32;
                break;
            case Mnemonic.Wrmsr:
                if (!kernel || !WriteMsr((uint)r.Rcx, ((r.Rdx & 0xFFFF_FFFF) << 32) | (r.Rax & 0xFFFF_FFFF))) return false;
                break;
            case Mnemonic.Mov when insn.Op0Register.IsCR() || insn.Op1Register.IsCR():
                if (!kernel || !MoveControlRegister(in insn)) return false;
                break;
            case Mnemonic.Mov when insn.Op0Register.IsDR() || insn.Op1Register.IsDR():
                if (!kernel || !MoveDebugRegister(in insn)) return false;
                break;
            case Mnemonic.Clts:
                if (!kernel) return false;
                _vcpu.Cpu.TaskSwitched = false;
                break;
            case Mnemonic.Wbinvd: case Mnemonic.Invd: case Mnemonic.Wbnoinvd:
                // cache_op: without cache-flush permission (a domU) there is nothing to do.
                if (!kernel) return false;
                break;
            case Mnemonic.Cli: case Mnemonic.Sti:
                // Xen's validate(): with the virtual IOPL admitting the current ring (iopl_ok) the instruction is
                // skipped and the event mask left alone (Xen deems changing it here "too dangerous"); otherwise #GP.
                if (!PhysdevOp.IoplOk(_vcpu)) return false;
                break;
            case Mnemonic.In: case Mnemonic.Out:
                if (!PortIo(in insn, out ulong bpmatch)) return false;
                _vcpu.CompleteEmulatedInstruction((ulong)insn.Length, bpmatch);
                return true;
            case Mnemonic.Insb: case Mnemonic.Insw: case Mnemonic.Insd:
            case Mnemonic.Outsb: case Mnemonic.Outsw: case Mnemonic.Outsd:
                return StringPortIo(in insn);
            default:
                return false;
        }
        _vcpu.CompleteEmulatedInstruction((ulong)insn.Length);
        return true;
    }

    /// <summary>
    /// in/out with an immediate or DX port (emulate_privileged_op's guest_io_read / guest_io_write): allowed when the
    /// virtual IOPL or the guest's I/O bitmap admits the ports (guest_io_okay, else #GP). No domain here was given
    /// physical ports (admin_io_okay), so a read returns all ones in AL/AX/EAX and a write is dropped, as Xen does.
    /// </summary>
    private bool PortIo(in Instruction insn, out ulong bpmatch)
    {
        bpmatch = 0;
        var r = _vcpu.Registers;
        bool isIn = insn.Mnemonic == Mnemonic.In;
        int bytes = (isIn ? insn.Op0Register : insn.Op1Register) switch
        {
            Register.AL => 1, Register.AX => 2, Register.EAX => 4, _ => 0,
        };
        if (bytes == 0) return false;
        var portKind = isIn ? insn.Op1Kind : insn.Op0Kind;
        uint port = portKind == OpKind.Immediate8 ? insn.Immediate8 : (uint)(ushort)r.Rdx;
        if (!PhysdevOp.GuestIoOkay(_vcpu, port, bytes)) return false;
        bpmatch = IoBreakpointMatch(port, bytes);
        if (isIn)
            r.Rax = bytes switch { 1 => r.Rax | 0xFF, 2 => r.Rax | 0xFFFF, _ => 0xFFFF_FFFFUL };
        return true;
    }

    /// <summary>Iterations of one rep ins/outs done per trap before the vCPU is let go (Xen's
    /// hypercall_preempt_check): the instruction restarts with RCX counting what is left.</summary>
    internal const int MaxStringIterationsPerTrap = 1024;

    /// <summary>
    /// ins/outs, with or without rep (Xen's rep_ins / rep_outs): the port is checked once (guest_io_okay, else
    /// #GP(0)); each iteration moves one element between the port (reads: all ones; writes: dropped) and the guest
    /// (ins stores to ES:RDI, outs loads from seg:RSI with the segment's base, fs/gs only in 64-bit mode), with the
    /// supervisor rights Xen's copy_to/from_user has; RDI/RSI step by the element size, down if EFLAGS.DF. A
    /// non-canonical or Xen-range address is #GP(0), an unmapped one #PF (write access for ins) with what was done
    /// committed and RIP at the instruction. An I/O breakpoint stops a rep after its first iteration and raises #DB.
    /// </summary>
    private bool StringPortIo(in Instruction insn)
    {
        var r = _vcpu.Registers;
        bool isIns = insn.Mnemonic is Mnemonic.Insb or Mnemonic.Insw or Mnemonic.Insd;
        int bytes = insn.Mnemonic switch
        {
            Mnemonic.Insb or Mnemonic.Outsb => 1, Mnemonic.Insw or Mnemonic.Outsw => 2, _ => 4,
        };
        var memKind = isIns ? insn.Op0Kind : insn.Op1Kind;
        bool a32 = memKind is OpKind.MemoryESEDI or OpKind.MemorySegESI;
        if (memKind is OpKind.MemoryESDI or OpKind.MemorySegSI) return false; // no 16-bit addressing in 64-bit mode
        ulong addrMask = a32 ? 0xFFFF_FFFFUL : ulong.MaxValue;
        bool rep = insn.HasRepPrefix || insn.HasRepnePrefix;
        ulong count = rep ? r.Rcx & addrMask : 1;
        if (count == 0)
        {
            _vcpu.CompleteEmulatedInstruction((ulong)insn.Length);
            return true;
        }
        uint port = (ushort)r.Rdx;
        if (!PhysdevOp.GuestIoOkay(_vcpu, port, bytes)) return false;
        ulong bpmatch = IoBreakpointMatch(port, bytes);
        ulong segBase = isIns ? 0 : insn.MemorySegment switch
        {
            Register.FS => r.FsBase, Register.GS => r.GsBase, _ => 0,
        };
        long step = (r.Rflags & Rflags.DF) != 0 ? -bytes : bytes;
        ulong limit = Math.Min(count, MaxStringIterationsPerTrap);
        Span<byte> element = stackalloc byte[4];
        element = element[..bytes];
        ulong done = 0;
        while (done < limit)
        {
            ulong offset = (isIns ? r.Rdi : r.Rsi) & addrMask;
            ulong address = segBase + offset; // a 32-bit address size truncates the offset, not the fs/gs base
            ulong last = address + (ulong)bytes - 1;
            if (!IsCanonical(address) || !IsCanonical(last) || last < address
                || (last >= X86_64.HypervisorVirtStart && address < X86_64.HypervisorVirtEnd))
            {
                CommitStringProgress(rep, done, addrMask);
                _vcpu.InjectTrap(ExceptionVector.GeneralProtection, true, 0);
                return true;
            }
            ulong failedAt;
            if (isIns)
            {
                element.Fill(0xFF);
                failedAt = CopyToGuest(address, element);
            }
            else failedAt = CopyFromGuest(address, element);
            if (failedAt != ulong.MaxValue)
            {
                CommitStringProgress(rep, done, addrMask);
                uint error = (isIns ? 2u : 0u) | (_vcpu.InKernelMode ? 0u : 4u);
                _vcpu.InjectTrap(ExceptionVector.PageFault, true, error, failedAt);
                return true;
            }
            // outs: the element goes to a port no device answers; it is dropped.
            if (isIns) r.Rdi = StepIndex(r.Rdi, step, a32);
            else r.Rsi = StepIndex(r.Rsi, step, a32);
            done++;
            if (bpmatch != 0) break;
        }
        CommitStringProgress(rep, done, addrMask);
        if (!rep || (r.Rcx & addrMask) == 0)
            _vcpu.CompleteEmulatedInstruction((ulong)insn.Length, bpmatch);
        else if (bpmatch != 0)
            _vcpu.RaiseDebugTrap(bpmatch); // iterations remain: RIP stays at the instruction
        return true;
    }

    private void CommitStringProgress(bool rep, ulong done, ulong addrMask)
    {
        if (!rep || done == 0) return;
        var r = _vcpu.Registers;
        ulong left = (r.Rcx & addrMask) - done;
        r.Rcx = addrMask == ulong.MaxValue ? left : left & 0xFFFF_FFFF; // a 32-bit count writes ECX, zeroing the top
    }

    private static ulong StepIndex(ulong index, long step, bool a32) =>
        a32 ? (uint)((uint)index + (uint)step) : index + (ulong)step;

    /// <summary>copy_to_user of one element: the first address not written, or ulong.MaxValue when all was.</summary>
    private ulong CopyToGuest(ulong address, ReadOnlySpan<byte> data)
    {
        int first = (int)Math.Min((ulong)data.Length, 4096 - (address & 0xFFF));
        if (!GuestMemory.CopyTo(_vcpu, address, data[..first])) return address;
        if (first < data.Length && !GuestMemory.CopyTo(_vcpu, address + (ulong)first, data[first..])) return address + (ulong)first;
        return ulong.MaxValue;
    }

    /// <summary>copy_from_user of one element: the first address not read, or ulong.MaxValue when all was.</summary>
    private ulong CopyFromGuest(ulong address, Span<byte> data)
    {
        int first = (int)Math.Min((ulong)data.Length, 4096 - (address & 0xFFF));
        if (!GuestMemory.CopyFrom(_vcpu, address, data[..first])) return address;
        if (first < data.Length && !GuestMemory.CopyFrom(_vcpu, address + (ulong)first, data[first..])) return address + (ulong)first;
        return ulong.MaxValue;
    }

    /// <summary>
    /// check_guest_io_breakpoint: with CR4.DE set, each breakpoint enabled (L or G) with R/W = 10 whose range
    /// [DRn, DRn + LEN) overlaps the accessed ports matches; returns the DR6 B0-B3 bits.
    /// </summary>
    internal ulong IoBreakpointMatch(uint port, int bytes)
    {
        if ((_vcpu.GuestCr4Bits & Cr4De) == 0) return 0;
        var dr = _vcpu.DebugRegisters;
        ulong dr7 = dr[7], match = 0;
        for (int i = 0; i < 4; i++)
        {
            if (((dr7 >> (2 * i)) & 3) == 0) continue;
            if (((dr7 >> (16 + 4 * i)) & 3) != 2) continue;
            ulong width = ((dr7 >> (18 + 4 * i)) & 3) switch { 0 => 1, 1 => 2, 3 => 4, _ => 8 };
            ulong start = dr[i];
            if (start < port + (ulong)bytes && start + width > port) match |= 1UL << i;
        }
        return match;
    }

    /// <summary>
    /// #UD: pv_emulate_forced_invalid_op. <c>ud2; .ascii "xen"</c> followed by <c>cpuid</c> runs CPUID through
    /// the PV policy and skips all seven bytes; anything else is a real #UD.
    /// </summary>
    public bool TryForcedEmulation()
    {
        var r = _vcpu.Registers;
        int n = Fetch(r.Rip);
        if (n < 7) return false;
        var bytes = _reader.Bytes;
        if (!bytes.AsSpan(0, 5).SequenceEqual(ForcedEmulationPrefix)) return false;
        if (bytes[5] != 0x0F || bytes[6] != 0xA2) return false;
        var cpuid = _vcpu.Cpu.Cpuid;
        if (cpuid == null) return false;
        var (a, b, c, d) = cpuid((uint)r.Rax, (uint)r.Rcx);
        r.Rax = a;
        r.Rbx = b;
        r.Rcx = c;
        r.Rdx = d;
        _vcpu.CompleteEmulatedInstruction(7);
        return true;
    }

    /// <summary>Read up to 15 instruction bytes at <paramref name="rip"/>, stopping at an unmapped page.</summary>
    private int Fetch(ulong rip)
    {
        var buf = _reader.Bytes;
        ulong inPage = 4096 - (rip & 0xFFF);
        int first = (int)Math.Min((ulong)buf.Length, inPage);
        if (!GuestMemory.CopyFrom(_vcpu, rip, buf.AsSpan(0, first))) return 0;
        if (first == buf.Length) return first;
        return GuestMemory.CopyFrom(_vcpu, rip + (ulong)first, buf.AsSpan(first)) ? buf.Length : first;
    }

    // ---- MSRs ------------------------------------------------------------------------------------------------

    /// <summary>guest_rdmsr for a 64-bit PV guest: the few MSRs it may read; others #GP.</summary>
    internal bool ReadMsr(uint msr, out ulong value)
    {
        var r = _vcpu.Registers;
        switch (msr)
        {
            case MsrFsBase: value = r.FsBase; return true;
            case MsrGsBase: value = r.GsBase; return true;
            case MsrShadowGsBase: value = r.KernelGsBase; return true;
            case MsrEfer: value = GuestEfer; return true;
            case MsrTsc:
                value = Time.SystemClock.Of(_vcpu.Domain.Hypervisor).ReadTsc();
                return true;
            case MsrMiscEnable: value = GuestMiscEnable; return true;
            case MsrPat: value = GuestPat; return true;
            case MsrBiosSignId: value = 0; return true; // no microcode revision to report
            default: value = 0; return false;
        }
    }

    /// <summary>guest_wrmsr for a 64-bit PV guest: segment bases (canonical only), no-op rewrites of the
    /// read-only ones; others #GP.</summary>
    internal bool WriteMsr(uint msr, ulong value)
    {
        var r = _vcpu.Registers;
        switch (msr)
        {
            case MsrFsBase:
                if (!IsCanonical(value)) return false;
                r.FsBase = value;
                return true;
            case MsrGsBase:
                if (!IsCanonical(value)) return false;
                r.GsBase = value;
                return true;
            case MsrShadowGsBase:
                if (!IsCanonical(value)) return false;
                r.KernelGsBase = value;
                return true;
            case MsrEfer: return value == GuestEfer;
            case MsrMiscEnable: return value == GuestMiscEnable;
            case MsrBiosSignId: return true; // the write that precedes a microcode-revision read is ignored
            default: return false;
        }
    }

    internal static bool IsCanonical(ulong a) => (ulong)((long)(a << 16) >> 16) == a;

    // ---- control and debug registers -------------------------------------------------------------------------

    private bool MoveControlRegister(in Instruction insn)
    {
        var r = _vcpu.Registers;
        if (insn.Op0Register.IsCR())
        {
            int cr = insn.Op0Register - Register.CR0;
            ulong value = r[ToGpr(insn.Op1Register)];
            switch (cr)
            {
                case 0:
                    // Only TS may change (Xen refuses "unmodifiable CR0 flags").
                    if (((value ^ ReadCr0()) & ~Cr0Ts) != 0) return false;
                    _vcpu.Cpu.TaskSwitched = (value & Cr0Ts) != 0;
                    return true;
                case 2:
                    _vcpu.GuestCr2 = value;
                    return true;
                case 3:
                    // new_guest_cr3: the same validation as MMUEXT_NEW_BASEPTR; a refused base is #GP.
                    return _vcpu.Domain.Hypervisor.Mmu.NewBaseptr(_vcpu, (value & 0x000F_FFFF_FFFF_F000UL) >> 12) == 0;
                case 4:
                    _vcpu.GuestCr4Bits = value & GuestCr4Writable;
                    return true;
                default:
                    return false; // CR8 does not exist for a PV guest
            }
        }
        int src = insn.Op1Register - Register.CR0;
        ulong result;
        switch (src)
        {
            case 0: result = ReadCr0(); break;
            case 2: result = _vcpu.GuestCr2; break;
            case 3: result = _vcpu.GuestTableMfn != 0 ? _vcpu.PageTableBaseFor(true) : r.Cr3; break;
            case 4: result = GuestCr4Fixed | _vcpu.GuestCr4Bits; break;
            default: return false;
        }
        r[ToGpr(insn.Op0Register)] = result;
        return true;
    }

    private ulong ReadCr0() => GuestCr0 | (_vcpu.Cpu.TaskSwitched ? Cr0Ts : 0);

    private bool MoveDebugRegister(in Instruction insn)
    {
        var r = _vcpu.Registers;
        if (insn.Op0Register.IsDR())
        {
            int dr = insn.Op0Register - Register.DR0;
            return DebugRegOp.Set(_vcpu, dr, r[ToGpr(insn.Op1Register)]) == 0;
        }
        int src = insn.Op1Register - Register.DR0;
        long v = DebugRegOp.Get(_vcpu, src);
        if (v == -XenErrno.EINVAL && src is not (0 or 1 or 2 or 3 or 6 or 7)) return false;
        r[ToGpr(insn.Op0Register)] = (ulong)v;
        return true;
    }

    private static Gpr ToGpr(Register reg) => (Gpr)(reg.GetFullRegister() - Register.RAX);

    /// <summary>Feeds the decoder from a 15-byte buffer.</summary>
    private sealed class BufferReader : CodeReader
    {
        private int _length, _position;
        public byte[] Bytes { get; } = new byte[15];

        public void Reset(int length)
        {
            _length = length;
            _position = 0;
        }

        public override int ReadByte() => _position < _length ? Bytes[_position++] : -1;
    }
}
