using Iced.Intel;

namespace Paravirt.PortAnalysis;

/// <summary>
/// Decides whether a finding can become an int3 trampoline (docs/porting-guide.md, "int3 trampolines") and with
/// which <see cref="TrampolineEntry"/>: the PV equivalent must be something libpv's #BP handler can do from the
/// interrupted registers alone, exactly as the native instruction meant it.
/// </summary>
internal static class TrampolinePlanner
{
    /// <summary>The rules with a trampoline form (a given site may still not qualify).</summary>
    public static bool Covers(SensitiveRule rule) =>
        rule == SensitiveInstructions.Cli || rule == SensitiveInstructions.Sti || rule == SensitiveInstructions.Hlt
        || rule == SensitiveInstructions.Popf || rule == SensitiveInstructions.Cr2Read || rule == SensitiveInstructions.Cr3Read
        || rule == SensitiveInstructions.Cr3Write || rule == SensitiveInstructions.DebugRegister || rule == SensitiveInstructions.Rdmsr
        || rule == SensitiveInstructions.Wrmsr || rule == SensitiveInstructions.Invlpg || rule == SensitiveInstructions.CacheFlush
        || rule == SensitiveInstructions.Clts || rule == SensitiveInstructions.Cpuid;

    private const uint MsrTsc = 0x10, MsrFsBase = 0xC000_0100, MsrGsBase = 0xC000_0101, MsrKernelGsBase = 0xC000_0102;

    /// <summary>The entry for <paramref name="f"/>, or null with the reason it has none.</summary>
    public static TrampolineEntry? Plan(ScanReport report, Finding f, out string? whyNot)
    {
        whyNot = null;
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(f.Bytes), f.Address, DecoderOptions.None);
        var insn = decoder.Decode();
        if (insn.IsInvalid || insn.Length != f.Bytes.Length)
        {
            whyNot = "instruction does not decode on its own";
            return null;
        }
        byte length = (byte)insn.Length;
        var rule = f.Rule;
        if (rule == SensitiveInstructions.Cli) return new TrampolineEntry(f.Address, length, TrampolineAction.Cli);
        if (rule == SensitiveInstructions.Sti) return new TrampolineEntry(f.Address, length, TrampolineAction.Sti);
        if (rule == SensitiveInstructions.Hlt) return new TrampolineEntry(f.Address, length, TrampolineAction.Hlt);
        if (rule == SensitiveInstructions.Clts) return new TrampolineEntry(f.Address, length, TrampolineAction.Clts);
        if (rule == SensitiveInstructions.CacheFlush) return new TrampolineEntry(f.Address, length, TrampolineAction.CacheFlush);
        if (rule == SensitiveInstructions.Cpuid && insn.Mnemonic == Mnemonic.Cpuid)
            return new TrampolineEntry(f.Address, length, TrampolineAction.Cpuid);
        if (rule == SensitiveInstructions.Popf)
        {
            if (insn.Mnemonic == Mnemonic.Popfq) return new TrampolineEntry(f.Address, length, TrampolineAction.Popf);
            whyNot = "16-bit popf: only popfq is trampolined";
            return null;
        }
        if (rule == SensitiveInstructions.Cr2Read || rule == SensitiveInstructions.Cr3Read)
        {
            byte? reg = Gpr(insn.Op0Register);
            if (reg != null) return new TrampolineEntry(f.Address, length, TrampolineAction.MovFromCr, reg.Value, (byte)(insn.Op1Register - Register.CR0));
        }
        if (rule == SensitiveInstructions.Cr3Write)
        {
            byte? reg = Gpr(insn.Op1Register);
            if (reg != null) return new TrampolineEntry(f.Address, length, TrampolineAction.MovToCr, reg.Value, 3);
        }
        if (rule == SensitiveInstructions.DebugRegister)
        {
            bool write = insn.Op0Register.IsDR();
            int dr = (write ? insn.Op0Register : insn.Op1Register) - Register.DR0;
            byte? reg = Gpr(write ? insn.Op1Register : insn.Op0Register);
            if (reg != null && dr is 0 or 1 or 2 or 3 or 6 or 7)
                return new TrampolineEntry(f.Address, length, write ? TrampolineAction.MovToDr : TrampolineAction.MovFromDr, reg.Value, (byte)dr);
            whyNot = $"debug register {dr}: only DR0-DR3, DR6 and DR7 exist for set_debugreg/get_debugreg";
            return null;
        }
        if ((rule == SensitiveInstructions.Rdmsr && insn.Mnemonic == Mnemonic.Rdmsr) || (rule == SensitiveInstructions.Wrmsr && insn.Mnemonic == Mnemonic.Wrmsr))
            return PlanMsr(report, f, insn.Mnemonic == Mnemonic.Wrmsr, length, out whyNot);
        if (rule == SensitiveInstructions.Invlpg && insn.Mnemonic == Mnemonic.Invlpg)
            return PlanInvlpg(f, insn, length, out whyNot);
        whyNot = "no PV equivalent libpv's #BP handler can perform from the registers alone";
        return null;
    }

    /// <summary>rdmsr/wrmsr of an MSR with a PV call, known because <c>mov $msr, %ecx</c> comes right before it.</summary>
    private static TrampolineEntry? PlanMsr(ScanReport report, Finding f, bool write, byte length, out string? whyNot)
    {
        whyNot = null;
        if (report.Code.BranchTargets.Contains(f.Address))
        {
            whyNot = "a branch lands on it, so the MSR in ecx is not known statically";
            return null;
        }
        uint? msr = null;
        foreach (int back in (int[])[5, 6, 7])
        {
            if (f.Address < (ulong)back) continue;
            long? at = report.Image.FileOffsetOf(f.Address - (ulong)back, back);
            if (at == null) continue;
            var d = Decoder.Create(64, new ByteArrayCodeReader(report.Image.Bytes, (int)at.Value, back), f.Address - (ulong)back, DecoderOptions.None);
            var prev = d.Decode();
            if (!prev.IsInvalid && prev.Length == back && prev.Mnemonic == Mnemonic.Mov && prev.Op0Kind == OpKind.Register
                && prev.Op0Register is Register.ECX or Register.RCX && prev.Op1Kind is OpKind.Immediate32 or OpKind.Immediate32to64)
            {
                msr = (uint)prev.GetImmediate(1);
                break;
            }
        }
        if (msr == null)
        {
            whyNot = "the MSR is not loaded into ecx by the instruction right before it";
            return null;
        }
        bool ok = write ? msr is MsrFsBase or MsrGsBase or MsrKernelGsBase : msr is MsrTsc or MsrFsBase or MsrGsBase or MsrKernelGsBase;
        if (!ok)
        {
            whyNot = $"MSR 0x{msr:x} has no PV call (only the FS/GS bases{(write ? "" : " and the TSC")}): the hypervisor's emulation handles it";
            return null;
        }
        return new TrampolineEntry(f.Address, length, write ? TrampolineAction.Wrmsr : TrampolineAction.Rdmsr);
    }

    private static TrampolineEntry? PlanInvlpg(Finding f, in Instruction insn, byte length, out string? whyNot)
    {
        whyNot = null;
        if (insn.SegmentPrefix != Register.None)
        {
            whyNot = "segment override on the address";
            return null;
        }
        if (insn.IsIPRelativeMemoryOperand)
        {
            ulong target = insn.IPRelativeMemoryAddress;
            if ((long)target != (int)(long)target)
            {
                whyNot = "rip-relative address outside the top or bottom 2 GiB";
                return null;
            }
            return new TrampolineEntry(f.Address, length, TrampolineAction.Invlpg, Disp: (int)(long)target);
        }
        byte? b = insn.MemoryBase == Register.None ? TrampolineEntry.NoReg : Gpr(insn.MemoryBase);
        byte? i = insn.MemoryIndex == Register.None ? TrampolineEntry.NoReg : Gpr(insn.MemoryIndex);
        long disp = (long)insn.MemoryDisplacement64;
        if (b == null || i == null || disp != (int)disp)
        {
            whyNot = "address needs 32-bit registers or a displacement beyond 32 bits";
            return null;
        }
        return new TrampolineEntry(f.Address, length, TrampolineAction.Invlpg, Base: b.Value, Index: i.Value, Scale: (byte)insn.MemoryIndexScale, Disp: (int)disp);
    }

    /// <summary>x86 number of a 64-bit general register (0 rax ... 15 r15), or null.</summary>
    private static byte? Gpr(Register r) => r >= Register.RAX && r <= Register.R15 ? (byte)(r - Register.RAX) : null;
}
