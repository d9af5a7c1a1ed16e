using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>The x87 slice with known 80-bit results (independent of the hardware differential tests).</summary>
public class X87Tests
{
    private const ulong Data = GuestMachine.DataBase;

    private static GuestMachine Run(Action<Assembler> build, Action<GuestMachine>? setup = null)
    {
        var m = new GuestMachine();
        m.Load(a => { build(a); a.int3(); });
        m.Regs.Rbx = Data;
        setup?.Invoke(m);
        m.RunToBreakpoint();
        return m;
    }

    private static (ushort SignExp, ulong Mant) Tbyte(GuestMachine m, ulong va)
    {
        var b = m.ReadBytes(va, 10);
        return (BitConverter.ToUInt16(b, 8), BitConverter.ToUInt64(b, 0));
    }

    [Test]
    public void OneThirdIsRoundedToNearestInSixtyFourBits()
    {
        using var m = Run(a => { a.fld1(); a.fild(__dword_ptr[rbx]); a.fdivp(st1, st0); a.fstp(__tword_ptr[rbx + 16]); },
            m => m.WriteBytes(Data, BitConverter.GetBytes(3)));
        Assert.That(Tbyte(m, Data + 16), Is.EqualTo(((ushort)0x3FFD, 0xAAAA_AAAA_AAAA_AAABUL)));
        Assert.That(m.Regs.Fsw & 0x20, Is.EqualTo(0x20), "precision exception flagged");
        Assert.That(m.Regs.Fsw & 0x200, Is.Zero, "C1 describes the last instruction, the exact fstp");
    }

    [Test]
    public void SquareRootOfTwoMatchesTheExtendedConstant()
    {
        using var m = Run(a => { a.fld1(); a.fld1(); a.faddp(st1, st0); a.fsqrt(); a.fstp(__tword_ptr[rbx]); });
        Assert.That(Tbyte(m, Data), Is.EqualTo(((ushort)0x3FFF, 0xB504_F333_F9DE_6484UL)));
    }

    [Test]
    public void PrecisionControlRoundsToDoubleWhileTheExponentStaysExtended()
    {
        using var m = Run(a =>
        {
            a.fldcw(__word_ptr[rbx + 32]);
            a.fld1(); a.fild(__dword_ptr[rbx]); a.fdivp(st1, st0);
            a.fstp(__tword_ptr[rbx + 16]);
        }, m =>
        {
            m.WriteBytes(Data, BitConverter.GetBytes(3));
            m.WriteBytes(Data + 32, BitConverter.GetBytes((ushort)0x027F)); // PC = 53 bits
        });
        Assert.That(Tbyte(m, Data + 16), Is.EqualTo(((ushort)0x3FFD, 0xAAAA_AAAA_AAAA_A800UL)));
    }

    [Test]
    public void StoresToIntegerHonourRoundingControlAndFisttpTruncates()
    {
        using var m = Run(a =>
        {
            a.fld(__qword_ptr[rbx]);
            a.fist(__dword_ptr[rbx + 16]);     // nearest-even: 2.5 -> 2
            a.fisttp(__dword_ptr[rbx + 20]);   // truncation
            a.fld(__qword_ptr[rbx + 8]);
            a.fistp(__qword_ptr[rbx + 24]);    // -3.5 -> -4
            a.fld(__qword_ptr[rbx + 40]);
            a.fistp(__word_ptr[rbx + 32]);     // 1e6 does not fit: integer indefinite
        }, m =>
        {
            m.WriteBytes(Data, BitConverter.GetBytes(2.5));
            m.WriteBytes(Data + 8, BitConverter.GetBytes(-3.5));
            m.WriteBytes(Data + 40, BitConverter.GetBytes(1e6));
        });
        Assert.That(BitConverter.ToInt32(m.ReadBytes(Data + 16, 4)), Is.EqualTo(2));
        Assert.That(BitConverter.ToInt32(m.ReadBytes(Data + 20, 4)), Is.EqualTo(2));
        Assert.That(BitConverter.ToInt64(m.ReadBytes(Data + 24, 8)), Is.EqualTo(-4));
        Assert.That(BitConverter.ToUInt16(m.ReadBytes(Data + 32, 2)), Is.EqualTo(0x8000));
        Assert.That(m.Regs.Fsw & 1, Is.EqualTo(1), "invalid operation flagged");
    }

    [Test]
    public void FucomipSetsEflagsLikeUcomisdAndPops()
    {
        using var m = Run(a => { a.fld1(); a.fldz(); a.fucomip(st0, st1); a.fstp(st0); },
            m => m.Regs.Rflags = 0x2 | 0x800 | 0x80);
        Assert.That(m.Regs.Rflags & 0x8D5, Is.EqualTo(0x1UL), "0 < 1: CF only; OF, SF cleared");
        Assert.That(m.Regs.FtwAbridged, Is.Zero, "both popped");
    }

    [Test]
    public void PushingOntoAFullStackIsAnInvalidStackOverflowWithTheIndefiniteValue()
    {
        using var m = Run(a => { for (int i = 0; i < 9; i++) a.fldz(); a.fstp(__tword_ptr[rbx]); });
        Assert.That(Tbyte(m, Data), Is.EqualTo(((ushort)0xFFFF, 0xC000_0000_0000_0000UL)));
        Assert.That(m.Regs.Fsw & 0x41, Is.EqualTo(0x41), "IE and SF");
    }

    [Test]
    public void UnmaskedExceptionRaisesMathFaultAtTheNextWaitingInstruction()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.fldcw(__word_ptr[rbx]); a.fldz(); a.fld1(); a.fdivrp(st1, st0); a.wait(); a.int3(); });
        m.Regs.Rbx = Data;
        m.WriteBytes(Data, BitConverter.GetBytes((ushort)0x037B)); // ZE unmasked
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.FloatingPoint));
        Assert.That(m.Regs.Fsw & 0x8084, Is.EqualTo(0x8084), "ZE, ES and B set");
    }

    [Test]
    public void FxsaveWritesTheX87StackInStackOrder()
    {
        using var m = Run(a => { a.fld1(); a.fldpi(); a.fxsave(__[rbx]); });
        Assert.That(BitConverter.ToUInt16(m.ReadBytes(Data, 2)), Is.EqualTo(0x037F));
        Assert.That((BitConverter.ToUInt16(m.ReadBytes(Data + 2, 2)) >> 11) & 7, Is.EqualTo(6), "TOP");
        Assert.That(m.ReadBytes(Data + 4, 1)[0], Is.EqualTo(0xC0), "abridged tags of R6, R7");
        Assert.That(Tbyte(m, Data + 32), Is.EqualTo(((ushort)0x4000, 0xC90F_DAA2_2168_C235UL)), "ST0 = pi");
        Assert.That(Tbyte(m, Data + 48), Is.EqualTo(((ushort)0x3FFF, 0x8000_0000_0000_0000UL)), "ST1 = 1");
    }

    [Test]
    public void UnimplementedX87InstructionRaisesUndefinedOpcodeAndIsLoggedOnce()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.fsin(); a.int3(); });
        var first = m.Run();
        Assert.That(first.Vector, Is.EqualTo(ExceptionVector.InvalidOpcode));
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase));
        m.Run();
        Assert.That(m.Logged.Count(l => l.Contains("fsin")), Is.EqualTo(1), string.Join("\n", m.Logged));
    }
}
