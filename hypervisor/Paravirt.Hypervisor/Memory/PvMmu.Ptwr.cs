using Iced.Intel;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Memory;

/// <summary>
/// Writable page tables (Xen's ptwr, pv/ro-page-fault.c): a guest kernel that writes straight into one of its own
/// L1 tables (mapped read-only, as every page table is) takes a write #PF; the hypervisor decodes the faulting store,
/// checks the new entry exactly as mmu_update would and applies it, then resumes after the instruction. A store it
/// cannot emulate, or an entry that does not validate, leaves the fault to be delivered to the guest.
/// </summary>
public sealed partial class PvMmu
{
    private const uint PfPresent = (uint)PageFaultError.Present, PfWrite = (uint)PageFaultError.Write,
        PfReserved = (uint)PageFaultError.ReservedBit, PfFetch = (uint)PageFaultError.InstructionFetch;

    /// <summary>
    /// For the #PF path: true when <paramref name="exit"/> was a guest-kernel write to a validated L1 table of the
    /// domain's that has been emulated (RIP advanced past the store); false when the fault is the guest's to handle.
    /// Supports 8-byte and 4-byte <c>mov</c> stores (register or immediate), <c>xchg</c> and <c>cmpxchg</c>.
    /// </summary>
    public bool TryEmulatePageTableWrite(Vcpu v, VcpuExit exit)
    {
        if (exit.Reason != VcpuExitReason.Exception || exit.Vector != ExceptionVector.PageFault) return false;
        if ((exit.ErrorCode & (PfPresent | PfWrite | PfReserved | PfFetch)) != (PfPresent | PfWrite)) return false;
        if (!v.InKernelMode) return false;
        var d = v.Domain;
        var regs = v.Registers;
        ulong addr = exit.FaultAddress;

        Span<byte> code = stackalloc byte[15];
        int got = FetchCode(regs, code);
        if (got == 0) return false;
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(code[..got].ToArray()), regs.Rip);
        decoder.Decode(out var instr);
        if (instr.IsInvalid || instr.Op0Kind != OpKind.Memory) return false;

        int size;
        ulong value;
        switch (instr.Code)
        {
            case Code.Mov_rm64_r64: case Code.Xchg_rm64_r64: case Code.Cmpxchg_rm64_r64:
                size = 8; value = Gpr(regs, instr.Op1Register); break;
            case Code.Mov_rm32_r32: case Code.Xchg_rm32_r32: case Code.Cmpxchg_rm32_r32:
                size = 4; value = (uint)Gpr(regs, instr.Op1Register); break;
            case Code.Mov_rm64_imm32:
                size = 8; value = (ulong)(long)(int)instr.Immediate32; break;
            case Code.Mov_rm32_imm32:
                size = 4; value = instr.Immediate32; break;
            default:
                return false;
        }
        int offset = (int)(addr & 0xFFF);
        if ((offset & 7) + size > 8 || (offset & (size - 1)) != 0) return false;

        lock (_lock)
        {
            if (!Usable(d)) return false;
            // The faulting address must be mapped read-only onto an L1 table of the domain's own.
            if (!FindL1(v, addr, out ulong mapL1, out int mapIndex)) return false;
            ulong pte = ReadEntry(mapL1, mapIndex);
            if ((pte & (Present | Rw)) != Present) return false;
            ulong table = MfnOf(pte);
            if (!IsValidFrame(table) || _frames.OwnerOf(table) != d.Id || _p.TypeCount[table] <= 0
                || _p.Type[table] != PageType.L1 || (_p.Flags[table] & PageFlags.Validated) == 0) return false;

            int index = offset >> 3;
            ulong old = ReadEntry(table, index);
            int shift = (offset & 7) * 8;
            ulong mask = size == 8 ? ulong.MaxValue : 0xFFFF_FFFFUL << shift;
            ulong oldPart = (old & mask) >> shift;
            bool cmpxchg = instr.Code is Code.Cmpxchg_rm64_r64 or Code.Cmpxchg_rm32_r32;
            if (cmpxchg)
            {
                ulong expected = size == 8 ? regs.Rax : (uint)regs.Rax;
                if (oldPart != expected)
                {
                    // Failed compare: the accumulator gets the current value, ZF clear, nothing is written.
                    if (size == 8) regs.Rax = oldPart; else regs.Rax = (uint)oldPart;
                    regs.Rflags &= ~ZeroFlag;
                    regs.Rip += (ulong)instr.Length;
                    return true;
                }
            }
            ulong full = (old & ~mask) | ((value << shift) & mask);
            if (ModEntry(1, table, index, full, preserveAd: false, d, d) != 0) return false;
            if (instr.Code is Code.Xchg_rm64_r64 or Code.Xchg_rm32_r32)
                SetGpr(regs, instr.Op1Register, size == 8 ? oldPart : (uint)oldPart);
            if (cmpxchg) regs.Rflags |= ZeroFlag;
            regs.Rip += (ulong)instr.Length;
            return true;
        }
    }

    private const ulong ZeroFlag = 1UL << 6;

    /// <summary>Up to 15 instruction bytes at RIP, fetched as the guest would (ring 3, execute rights); 0 if none.</summary>
    private int FetchCode(VcpuRegisters regs, Span<byte> code)
    {
        int n = 0;
        ulong rip = regs.Rip;
        while (n < code.Length)
        {
            if (PageTableWalker.Translate(_mem, regs.Cr3, rip, write: false, user: true, fetch: true, out ulong ma) != 0) break;
            if (!_frames.IsOwnedBy(ma >> 12, _frames.OwnerOf(regs.Cr3 >> 12))) break;
            int chunk = (int)Math.Min((ulong)(code.Length - n), 4096 - (rip & 0xFFF));
            _mem.Read(ma, code.Slice(n, chunk));
            n += chunk;
            rip += (ulong)chunk;
        }
        return n;
    }

    private static int GprIndex(Register r)
    {
        var full = r.GetFullRegister();
        return full is >= Register.RAX and <= Register.R15 ? full - Register.RAX : -1;
    }

    private static ulong Gpr(VcpuRegisters regs, Register r)
    {
        int i = GprIndex(r);
        return i < 0 ? 0 : regs.Gprs[i];
    }

    private static void SetGpr(VcpuRegisters regs, Register r, ulong value)
    {
        int i = GprIndex(r);
        if (i >= 0) regs.Gprs[i] = value; // a 32-bit destination zero-extends, as value already is
    }
}
