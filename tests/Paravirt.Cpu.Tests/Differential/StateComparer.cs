using System.Text;
using Iced.Intel;

namespace Paravirt.Cpu.Tests.Differential;

/// <summary>
/// Compares an emulator run against a hardware run: how the run ended (vector, RIP, error code, CR2), all 16
/// GPRs, RFLAGS' status flags and DF (minus the flags the stream left undefined), the x87 state (FCW, FSW minus
/// the masked condition codes, tags, ST0..ST7), MXCSR's control bits, XMM0..15 and every sandbox byte.
/// </summary>
internal static class StateComparer
{
    public const ulong ComparedFlags = 0x40CD5; // CF PF AF ZF SF DF OF, AC
    /// <summary>C0, C2, C3: undefined after most x87 instructions (SDM vol. 2, "FPU Flags Affected").</summary>
    public const ushort UndefinedConditionCodes = 0x4500;
    /// <summary>All of MXCSR is compared: its status flags are emulated (docs/cpu.md).</summary>
    public const uint ComparedMxcsr = 0xFFFF;

    public static string? Difference(MachineState hw, MachineState emu, ulong undefinedFlags, ushort fswMask = unchecked((ushort)~UndefinedConditionCodes))
    {
        var sb = new StringBuilder();
        if (hw.Vector != emu.Vector) sb.AppendLine($"  end: hardware vector {hw.Vector} (error 0x{hw.ErrorCode:x}, cr2 0x{hw.Cr2:x}), emulator {emu.Vector} (error 0x{emu.ErrorCode:x}, cr2 0x{emu.Cr2:x})");
        if (hw.Rip != emu.Rip) sb.AppendLine($"  rip: hardware 0x{hw.Rip:x}, emulator 0x{emu.Rip:x}");
        if (hw.Vector == 14 && emu.Vector == 14)
        {
            if (hw.Cr2 != emu.Cr2) sb.AppendLine($"  cr2: hardware 0x{hw.Cr2:x}, emulator 0x{emu.Cr2:x}");
            if ((hw.ErrorCode & 7) != (emu.ErrorCode & 7)) sb.AppendLine($"  #PF error: hardware 0x{hw.ErrorCode:x}, emulator 0x{emu.ErrorCode:x}");
        }
        else if (hw.Vector == 13 && emu.Vector == 13 && hw.ErrorCode != emu.ErrorCode)
        {
            sb.AppendLine($"  #GP error: hardware 0x{hw.ErrorCode:x}, emulator 0x{emu.ErrorCode:x}");
        }
        string[] names = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
        for (int i = 0; i < 16; i++)
            if (hw.Gpr[i] != emu.Gpr[i]) sb.AppendLine($"  {names[i]}: hardware 0x{hw.Gpr[i]:x}, emulator 0x{emu.Gpr[i]:x}");
        ulong mask = ComparedFlags & ~undefinedFlags;
        if ((hw.Rflags & mask) != (emu.Rflags & mask))
            sb.AppendLine($"  rflags (mask 0x{mask:x}): hardware 0x{hw.Rflags & mask:x}, emulator 0x{emu.Rflags & mask:x}");
        if (hw.Fcw != emu.Fcw) sb.AppendLine($"  fcw: hardware 0x{hw.Fcw:x}, emulator 0x{emu.Fcw:x}");
        if ((hw.Fsw & fswMask) != (emu.Fsw & fswMask)) sb.AppendLine($"  fsw (mask 0x{fswMask:x}): hardware 0x{hw.Fsw:x}, emulator 0x{emu.Fsw:x}");
        if (hw.Ftw != emu.Ftw) sb.AppendLine($"  ftw: hardware 0x{hw.Ftw:x}, emulator 0x{emu.Ftw:x}");
        for (int i = 0; i < 8; i++)
        {
            if (hw.StMantissa(i) != emu.StMantissa(i) || hw.StSignExp(i) != emu.StSignExp(i))
                sb.AppendLine($"  st{i}: hardware {hw.StSignExp(i):x4}:{hw.StMantissa(i):x16}, emulator {emu.StSignExp(i):x4}:{emu.StMantissa(i):x16}");
        }
        if ((hw.Mxcsr & ComparedMxcsr) != (emu.Mxcsr & ComparedMxcsr)) sb.AppendLine($"  mxcsr: hardware 0x{hw.Mxcsr:x}, emulator 0x{emu.Mxcsr:x}");
        for (int x = 0; x < 16; x++)
        {
            if (hw.Xmm(2 * x) != emu.Xmm(2 * x) || hw.Xmm(2 * x + 1) != emu.Xmm(2 * x + 1))
                sb.AppendLine($"  xmm{x}: hardware {hw.Xmm(2 * x + 1):x16}{hw.Xmm(2 * x):x16}, emulator {emu.Xmm(2 * x + 1):x16}{emu.Xmm(2 * x):x16}");
        }
        if (!hw.Sandbox.AsSpan().SequenceEqual(emu.Sandbox))
        {
            int shown = 0;
            for (int i = 0; i < hw.Sandbox.Length && shown < 4; i++)
            {
                if (hw.Sandbox[i] == emu.Sandbox[i]) continue;
                sb.AppendLine($"  sandbox+0x{i:x}: hardware {hw.Sandbox[i]:x2}, emulator {emu.Sandbox[i]:x2}");
                shown++;
                i |= 7;
            }
        }
        return sb.Length == 0 ? null : sb.ToString();
    }

    public static string Listing(IEnumerable<Instruction> instructions, ulong? faultRip = null)
    {
        var formatter = new IntelFormatter();
        var output = new StringOutput();
        var sb = new StringBuilder();
        foreach (var i in instructions)
        {
            formatter.Format(i, output);
            sb.Append(i.IP == faultRip ? "  >> " : "     ").Append($"{i.IP:x}: ").AppendLine(output.ToStringAndReset());
        }
        return sb.ToString();
    }
}
