using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>
/// Results and status flags of the integer ALU, one instruction per row, operands in A (rax family) and B (rbx
/// family). Expected values worked out by hand from the SDM's per-instruction flag rules. Flags are written as
/// names; only the flags the SDM defines for the instruction are compared (mask column).
/// </summary>
public class AluFlagTests
{
    private const string All = "CF PF AF ZF SF OF";
    /// <summary>Shifts by a nonzero count leave AF undefined.</summary>
    private const string NoAf = "CF PF ZF SF OF";

    private static readonly Register[] A = [Register.AL, Register.AX, Register.EAX, Register.RAX];
    private static readonly Register[] B = [Register.BL, Register.BX, Register.EBX, Register.RBX];

    private static int SizeIndex(int bits) => bits switch { 8 => 0, 16 => 1, 32 => 2, _ => 3 };

    private static ulong ParseFlags(string names)
    {
        ulong f = 0;
        foreach (var n in names.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            f |= n switch
            {
                "CF" => 1UL, "PF" => 4UL, "AF" => 0x10UL, "ZF" => 0x40UL, "SF" => 0x80UL, "OF" => 0x800UL,
                _ => throw new ArgumentException(n),
            };
        }
        return f;
    }

    private static string FormatFlags(ulong f)
    {
        var names = new List<string>();
        foreach (var n in All.Split(' '))
            if ((f & ParseFlags(n)) != 0) names.Add(n);
        return string.Join(" ", names);
    }

    private static (ulong Result, string Flags) Execute(Instruction instruction, ulong a, ulong b, string flagsIn, string mask)
    {
        using var m = new GuestMachine();
        m.LoadInstructions(GuestMachine.CodeBase, instruction, Instruction.Create(Code.Int3));
        m.Regs.Rax = a;
        m.Regs.Rbx = b;
        m.Regs.Rcx = b; // shift counts come from CL
        m.Regs.Rflags = 2 | ParseFlags(flagsIn);
        m.RunToBreakpoint();
        return (m.Regs.Rax, FormatFlags(m.Regs.Rflags & ParseFlags(mask)));
    }

    [TestCase("Add", 8, 0xFFUL, 0x01UL, "", 0x00UL, "CF PF AF ZF")]
    [TestCase("Add", 8, 0x7FUL, 0x01UL, "", 0x80UL, "AF SF OF")]
    [TestCase("Add", 8, 0x80UL, 0x80UL, "", 0x00UL, "CF PF ZF OF")]
    [TestCase("Add", 16, 0x1234UL, 0x4321UL, "CF", 0x5555UL, "PF")]
    [TestCase("Add", 32, 0xFFFF_FFFFUL, 0x1UL, "", 0x0UL, "CF PF AF ZF")]
    [TestCase("Add", 64, 0x7FFF_FFFF_FFFF_FFFFUL, 0x1UL, "", 0x8000_0000_0000_0000UL, "PF AF SF OF")]
    [TestCase("Adc", 8, 0xFFUL, 0x00UL, "CF", 0x00UL, "CF PF AF ZF")]
    [TestCase("Adc", 8, 0x7FUL, 0x00UL, "CF", 0x80UL, "AF SF OF")]
    [TestCase("Adc", 64, 0xFFFF_FFFF_FFFF_FFFFUL, 0xFFFF_FFFF_FFFF_FFFFUL, "CF", 0xFFFF_FFFF_FFFF_FFFFUL, "CF PF AF SF")]
    [TestCase("Sub", 8, 0x00UL, 0x01UL, "", 0xFFUL, "CF PF AF SF")]
    [TestCase("Sub", 8, 0x80UL, 0x01UL, "", 0x7FUL, "AF OF")]
    [TestCase("Sub", 32, 0x5UL, 0x5UL, "CF", 0x0UL, "PF ZF")]
    [TestCase("Sub", 16, 0x7FFFUL, 0xFFFFUL, "", 0x8000UL, "CF PF SF OF")]
    [TestCase("Sbb", 8, 0x00UL, 0x00UL, "CF", 0xFFUL, "CF PF AF SF")]
    [TestCase("Sbb", 16, 0x8000UL, 0x0000UL, "CF", 0x7FFFUL, "PF AF OF")]
    [TestCase("Sbb", 32, 0x5UL, 0x5UL, "CF", 0xFFFF_FFFFUL, "CF PF AF SF")]
    [TestCase("And", 8, 0xF0UL, 0x0FUL, "CF OF AF", 0x00UL, "PF ZF")]
    [TestCase("Or", 32, 0x8000_0000UL, 0x1UL, "CF", 0x8000_0001UL, "SF")]
    [TestCase("Xor", 64, 0x1234UL, 0x1234UL, "", 0x0UL, "PF ZF")]
    public void BinaryOperationSetsResultAndFlags(string op, int bits, ulong a, ulong b, string flagsIn, ulong expected, string flagsOut)
    {
        var code = Enum.Parse<Code>($"{op}_rm{bits}_r{bits}");
        var (result, flags) = Execute(Instruction.Create(code, A[SizeIndex(bits)], B[SizeIndex(bits)]), a, b, flagsIn, All);
        Assert.That(result & Mask(bits), Is.EqualTo(expected));
        Assert.That(flags, Is.EqualTo(flagsOut));
    }

    [TestCase("Cmp", 64, 1UL, 2UL, "", "CF PF AF SF")]
    [TestCase("Cmp", 8, 0x80UL, 0x7FUL, "", "AF OF")]
    [TestCase("Test", 8, 0x81UL, 0x80UL, "CF OF", "SF")]
    public void CompareAndTestSetFlagsWithoutWriting(string op, int bits, ulong a, ulong b, string flagsIn, string flagsOut)
    {
        var code = Enum.Parse<Code>($"{op}_rm{bits}_r{bits}");
        var (result, flags) = Execute(Instruction.Create(code, A[SizeIndex(bits)], B[SizeIndex(bits)]), a, b, flagsIn, All);
        Assert.That(result, Is.EqualTo(a));
        Assert.That(flags, Is.EqualTo(flagsOut));
    }

    [TestCase("Inc", 8, 0x7FUL, "CF", 0x80UL, "CF AF SF OF")] // CF is preserved by inc/dec
    [TestCase("Inc", 8, 0xFFUL, "", 0x00UL, "PF AF ZF")]
    [TestCase("Dec", 8, 0x80UL, "", 0x7FUL, "AF OF")]
    [TestCase("Dec", 32, 0x1UL, "CF", 0x0UL, "CF PF ZF")]
    [TestCase("Neg", 8, 0x80UL, "", 0x80UL, "CF SF OF")]
    [TestCase("Neg", 32, 0x0UL, "CF", 0x0UL, "PF ZF")]
    [TestCase("Neg", 8, 0x01UL, "", 0xFFUL, "CF PF AF SF")]
    [TestCase("Not", 16, 0x00FFUL, "CF ZF", 0xFF00UL, "CF ZF")] // not changes no flags
    public void UnaryOperationSetsResultAndFlags(string op, int bits, ulong a, string flagsIn, ulong expected, string flagsOut)
    {
        var code = Enum.Parse<Code>($"{op}_rm{bits}");
        var (result, flags) = Execute(Instruction.Create(code, A[SizeIndex(bits)]), a, 0, flagsIn, All);
        Assert.That(result & Mask(bits), Is.EqualTo(expected));
        Assert.That(flags, Is.EqualTo(flagsOut));
    }

    // Shift/rotate by CL (= B). OF is defined for counts of 1 only; rotates define only CF and OF.
    [TestCase("Shl", 8, 0x81UL, 1UL, "", 0x02UL, NoAf, "CF OF")]
    [TestCase("Shl", 8, 0x40UL, 1UL, "", 0x80UL, NoAf, "SF OF")]
    [TestCase("Shl", 32, 0x1UL, 31UL, "", 0x8000_0000UL, "CF PF ZF SF", "PF SF")]
    [TestCase("Shl", 8, 0x01UL, 8UL, "", 0x00UL, "PF ZF SF", "PF ZF")] // CF undefined for counts >= size
    [TestCase("Shl", 8, 0x01UL, 0x20UL, "CF ZF", 0x01UL, All, "CF ZF")] // count masked to 0: nothing changes
    [TestCase("Shl", 64, 0x3UL, 0x40UL, "OF", 0x3UL, All, "OF")]      // 64-bit counts are masked to 6 bits
    [TestCase("Shl", 64, 0x3UL, 63UL, "", 0x8000_0000_0000_0000UL, "CF PF ZF SF", "CF PF SF")]
    [TestCase("Shr", 8, 0x81UL, 1UL, "", 0x40UL, NoAf, "CF OF")]
    [TestCase("Shr", 16, 0x8000UL, 15UL, "", 0x1UL, "CF PF ZF SF", "")]
    [TestCase("Sar", 8, 0x81UL, 1UL, "", 0xC0UL, NoAf, "CF PF SF")]
    [TestCase("Sar", 32, 0x8000_0000UL, 31UL, "", 0xFFFF_FFFFUL, "CF PF ZF SF", "PF SF")]
    [TestCase("Sar", 8, 0x80UL, 9UL, "", 0xFFUL, "PF ZF SF", "PF SF")]
    [TestCase("Rol", 8, 0x81UL, 1UL, "", 0x03UL, All, "CF OF")]
    [TestCase("Rol", 8, 0x81UL, 8UL, "", 0x81UL, "CF", "CF")] // count % 8 == 0 but not masked to 0: CF = LSB
    [TestCase("Rol", 16, 0x8000UL, 1UL, "ZF", 0x0001UL, All, "CF ZF OF")]
    [TestCase("Ror", 8, 0x01UL, 1UL, "", 0x80UL, All, "CF OF")]
    [TestCase("Ror", 8, 0x02UL, 1UL, "", 0x01UL, All, "")]
    [TestCase("Ror", 32, 0x1UL, 4UL, "", 0x1000_0000UL, "CF", "")]
    [TestCase("Rcl", 8, 0x80UL, 1UL, "", 0x00UL, All, "CF OF")]
    [TestCase("Rcl", 8, 0x00UL, 1UL, "CF", 0x01UL, All, "")]
    [TestCase("Rcl", 8, 0x01UL, 9UL, "", 0x01UL, "CF", "")] // 8-bit rcl counts reduce modulo 9
    [TestCase("Rcr", 8, 0x01UL, 1UL, "CF", 0x80UL, All, "CF OF")]
    [TestCase("Rcr", 16, 0x0001UL, 2UL, "", 0x8000UL, "CF", "")]
    [TestCase("Rcr", 64, 0x1UL, 1UL, "", 0x0UL, "CF OF", "CF")]
    public void ShiftAndRotateByClSetResultAndFlags(string op, int bits, ulong a, ulong count, string flagsIn,
        ulong expected, string mask, string flagsOut)
    {
        var code = Enum.Parse<Code>($"{op}_rm{bits}_CL");
        var (result, flags) = Execute(Instruction.Create(code, A[SizeIndex(bits)], Register.CL), a, count, flagsIn, mask);
        Assert.That(result & Mask(bits), Is.EqualTo(expected));
        Assert.That(flags, Is.EqualTo(flagsOut));
    }

    [TestCase(true, 32, 0x8000_0001UL, 0xC000_0000UL, 1UL, 0x0000_0003UL, "CF PF ZF SF OF", "CF PF OF")]
    [TestCase(true, 64, 0x1UL, 0x8000_0000_0000_0000UL, 4UL, 0x18UL, "CF PF ZF SF", "PF")]
    [TestCase(false, 32, 0x8000_0001UL, 0x3UL, 1UL, 0xC000_0000UL, "CF PF ZF SF OF", "CF PF SF")]
    [TestCase(false, 16, 0x1234UL, 0xABCDUL, 4UL, 0xD123UL, "CF ZF SF", "SF")]
    [TestCase(false, 64, 0xFFUL, 0x0UL, 0UL, 0xFFUL, All, "")] // count 0: nothing changes
    public void DoublePrecisionShiftSetsResultAndFlags(bool left, int bits, ulong dst, ulong src, ulong count,
        ulong expected, string mask, string flagsOut)
    {
        var code = Enum.Parse<Code>($"{(left ? "Shld" : "Shrd")}_rm{bits}_r{bits}_CL");
        using var m = new GuestMachine();
        m.LoadInstructions(GuestMachine.CodeBase,
            Instruction.Create(code, A[SizeIndex(bits)], B[SizeIndex(bits)], Register.CL), Instruction.Create(Code.Int3));
        m.Regs.Rax = dst;
        m.Regs.Rbx = src;
        m.Regs.Rcx = count;
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax & Mask(bits), Is.EqualTo(expected));
        Assert.That(FormatFlags(m.Regs.Rflags & ParseFlags(mask)), Is.EqualTo(flagsOut));
    }

    // mul/imul define only CF and OF: set when the high half is significant.
    [TestCase(false, 64, 0x8000_0000_0000_0000UL, 2UL, 0x0UL, 0x1UL, "CF OF")]
    [TestCase(false, 32, 0xFFFF_FFFFUL, 0xFFFF_FFFFUL, 0x1UL, 0xFFFF_FFFEUL, "CF OF")]
    [TestCase(false, 16, 0x100UL, 0x2UL, 0x200UL, 0x0UL, "")]
    [TestCase(true, 64, 0xFFFF_FFFF_FFFF_FFFFUL, 0xFFFF_FFFF_FFFF_FFFFUL, 0x1UL, 0x0UL, "")]
    [TestCase(true, 32, 0x8000_0000UL, 0xFFFF_FFFFUL, 0x8000_0000UL, 0x0UL, "CF OF")]
    [TestCase(true, 16, 0xFFFEUL, 0x3UL, 0xFFFAUL, 0xFFFFUL, "")] // -2 * 3 = -6 fits: high half is the sign extension
    public void OneOperandMultiplyFillsRdxRaxAndFlags(bool signed, int bits, ulong a, ulong b, ulong lo, ulong hi, string flagsOut)
    {
        var code = Enum.Parse<Code>($"{(signed ? "Imul" : "Mul")}_rm{bits}");
        using var m = new GuestMachine();
        m.LoadInstructions(GuestMachine.CodeBase, Instruction.Create(code, B[SizeIndex(bits)]), Instruction.Create(Code.Int3));
        m.Regs.Rax = a;
        m.Regs.Rbx = b;
        m.Regs.Rdx = 0xDEAD;
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax & Mask(bits), Is.EqualTo(lo));
        Assert.That(m.Regs.Rdx & Mask(bits), Is.EqualTo(hi));
        Assert.That(FormatFlags(m.Regs.Rflags & ParseFlags("CF OF")), Is.EqualTo(flagsOut));
    }

    [Test]
    public void ByteMultiplyWritesAx()
    {
        using var m = new GuestMachine();
        m.LoadInstructions(GuestMachine.CodeBase, Instruction.Create(Code.Imul_rm8, Register.BL), Instruction.Create(Code.Int3));
        m.Regs.Rax = 0x1280; // AL = -128
        m.Regs.Rbx = 0xFF;   // BL = -1
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.EqualTo(0x0080UL)); // +128 does not fit in a signed byte
        Assert.That(m.Regs.Rflags & 0x801, Is.EqualTo(0x801UL));
    }

    [TestCase(32, 0x1_0000UL, 0x1_0000UL, 0x0UL, "CF OF")]
    [TestCase(64, 0xFFFF_FFFF_FFFF_FFFFUL, 0xFFFF_FFFF_FFFF_FFFFUL, 0x1UL, "")]
    [TestCase(16, 0x4000UL, 0x2UL, 0x8000UL, "CF OF")] // +32768 overflows a signed word
    public void TwoOperandImulTruncatesAndFlagsOverflow(int bits, ulong a, ulong b, ulong expected, string flagsOut)
    {
        var code = Enum.Parse<Code>($"Imul_r{bits}_rm{bits}");
        var (result, flags) = Execute(Instruction.Create(code, A[SizeIndex(bits)], B[SizeIndex(bits)]), a, b, "", "CF OF");
        Assert.That(result & Mask(bits), Is.EqualTo(expected));
        Assert.That(flags, Is.EqualTo(flagsOut));
    }

    private static ulong Mask(int bits) => bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
}
