using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>The SSE/SSE2 data-movement and logic slice: what gcc emits for struct copies, zeroing and masks.</summary>
public class SseTests
{
    private const ulong Data = GuestMachine.DataBase;

    private static GuestMachine Run(Action<Assembler> build, Action<GuestMachine>? setup = null)
    {
        var m = new GuestMachine();
        m.Load(a => { build(a); a.int3(); });
        setup?.Invoke(m);
        m.RunToBreakpoint();
        return m;
    }

    [Test]
    public void UnalignedAndAlignedMovesCopySixteenBytesThroughRegisters()
    {
        using var m = Run(a =>
        {
            a.movups(xmm3, __xmmword_ptr[rbx + 1]);
            a.movdqa(xmm9, xmm3);
            a.movaps(__xmmword_ptr[rbx + 0x40], xmm9);
            a.movdqu(xmm1, __xmmword_ptr[rbx + 0x40]);
        }, m =>
        {
            m.Regs.Rbx = Data;
            var bytes = new byte[17];
            for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(0x10 + i);
            m.WriteBytes(Data, bytes);
        });
        Assert.That(m.ReadBytes(Data + 0x40, 16), Is.EqualTo(Enumerable.Range(0x11, 16).Select(i => (byte)i).ToArray()));
        Assert.That(m.Regs.Xmm[2], Is.EqualTo(0x1817_1615_1413_1211UL));
        Assert.That(m.Regs.Xmm[3], Is.EqualTo(0x201F_1E1D_1C1B_1A19UL));
        Assert.That(m.Regs.Xmm[18], Is.EqualTo(m.Regs.Xmm[2]), "xmm9 low half");
    }

    [Test]
    public void AlignedMoveOfMisalignedAddressRaisesGeneralProtectionWithoutWriting()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.movaps(__xmmword_ptr[rbx], xmm0); a.int3(); });
        m.Regs.Rbx = Data + 8;
        m.Regs.Xmm[0] = ulong.MaxValue;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.GeneralProtection));
        Assert.That(exit.ErrorCode, Is.EqualTo(0UL));
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase), "restartable");
        Assert.That(m.ReadU64(Data + 8), Is.EqualTo(0UL));
    }

    [Test]
    public void SixteenByteStoreStraddlingAnUnmappedPageFaultsBeforeStoringAnything()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.movups(__xmmword_ptr[rbx], xmm0); a.int3(); });
        ulong lastMapped = Data + 3 * 4096;
        m.Regs.Rbx = lastMapped + 4096 - 8; // second half lands on the unmapped page after the data range
        m.Regs.Xmm[0] = 0x1111_1111_1111_1111;
        m.Regs.Xmm[1] = 0x2222_2222_2222_2222;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.PageFault));
        Assert.That(m.Regs.Cr2, Is.EqualTo(lastMapped + 4096));
        Assert.That(m.ReadU64(lastMapped + 4096 - 8), Is.EqualTo(0UL), "first half not stored");
    }

    [Test]
    public void MovdAndMovqZeroExtendIntoXmmAndTruncateOut()
    {
        using var m = Run(a =>
        {
            a.movd(xmm0, eax);
            a.movq(xmm1, rbx);
            a.movq(rcx, xmm1);
            a.movd(edx, xmm1);
            a.movq(xmm2, __qword_ptr[rsi]);
            a.movq(__qword_ptr[rsi + 8], xmm1);
            a.movq(xmm4, xmm1);
        }, m =>
        {
            m.Regs.Rax = 0xFFFF_FFFF_8765_4321;
            m.Regs.Rbx = 0x0123_4567_89AB_CDEF;
            m.Regs.Rsi = Data;
            m.Regs.Rdx = ulong.MaxValue;
            for (int i = 0; i < 10; i++) m.Regs.Xmm[i] = ulong.MaxValue;
            m.WriteU64(Data, 0x5555_6666_7777_8888);
        });
        Assert.That((m.Regs.Xmm[0], m.Regs.Xmm[1]), Is.EqualTo((0x8765_4321UL, 0UL)));
        Assert.That((m.Regs.Xmm[2], m.Regs.Xmm[3]), Is.EqualTo((0x0123_4567_89AB_CDEFUL, 0UL)));
        Assert.That(m.Regs.Rcx, Is.EqualTo(0x0123_4567_89AB_CDEFUL));
        Assert.That(m.Regs.Rdx, Is.EqualTo(0x89AB_CDEFUL), "32-bit GPR write zero-extends");
        Assert.That((m.Regs.Xmm[4], m.Regs.Xmm[5]), Is.EqualTo((0x5555_6666_7777_8888UL, 0UL)));
        Assert.That(m.ReadU64(Data + 8), Is.EqualTo(0x0123_4567_89AB_CDEFUL));
        Assert.That((m.Regs.Xmm[8], m.Regs.Xmm[9]), Is.EqualTo((0x0123_4567_89AB_CDEFUL, 0UL)));
    }

    [Test]
    public void BitwiseLogicCombinesBothHalves()
    {
        using var m = Run(a =>
        {
            a.movdqa(xmm1, xmm0); a.pxor(xmm1, xmm7);
            a.movdqa(xmm2, xmm0); a.por(xmm2, xmm7);
            a.movdqa(xmm3, xmm0); a.andps(xmm3, xmm7);
            a.movdqa(xmm4, xmm0); a.pandn(xmm4, xmm7);
            a.xorps(xmm5, xmm5);
            a.movdqa(xmm6, xmm0); a.andpd(xmm6, __xmmword_ptr[rsi]);
        }, m =>
        {
            (m.Regs.Xmm[0], m.Regs.Xmm[1]) = (0xFF00_FF00_0000_FFFF, 0x0F0F_0F0F_0F0F_0F0F);
            (m.Regs.Xmm[14], m.Regs.Xmm[15]) = (0x0FF0_0FF0_FFFF_0000, 0x00FF_00FF_00FF_00FF);
            (m.Regs.Xmm[10], m.Regs.Xmm[11]) = (1, 2);
            m.Regs.Rsi = Data;
            m.WriteU64(Data, 0x0FF0_0FF0_FFFF_0000);
            m.WriteU64(Data + 8, 0x00FF_00FF_00FF_00FF);
        });
        ulong a0 = 0xFF00_FF00_0000_FFFF, a1 = 0x0F0F_0F0F_0F0F_0F0F, b0 = 0x0FF0_0FF0_FFFF_0000, b1 = 0x00FF_00FF_00FF_00FF;
        Assert.That((m.Regs.Xmm[2], m.Regs.Xmm[3]), Is.EqualTo((a0 ^ b0, a1 ^ b1)));
        Assert.That((m.Regs.Xmm[4], m.Regs.Xmm[5]), Is.EqualTo((a0 | b0, a1 | b1)));
        Assert.That((m.Regs.Xmm[6], m.Regs.Xmm[7]), Is.EqualTo((a0 & b0, a1 & b1)));
        Assert.That((m.Regs.Xmm[8], m.Regs.Xmm[9]), Is.EqualTo((~a0 & b0, ~a1 & b1)));
        Assert.That((m.Regs.Xmm[10], m.Regs.Xmm[11]), Is.EqualTo((0UL, 0UL)));
        Assert.That((m.Regs.Xmm[12], m.Regs.Xmm[13]), Is.EqualTo((a0 & b0, a1 & b1)));
    }

    [Test]
    public void LdmxcsrLoadsAndStmxcsrStoresAndReservedBitsRaiseGeneralProtection()
    {
        using var m = Run(a => { a.stmxcsr(__dword_ptr[rsi]); a.ldmxcsr(__dword_ptr[rsi + 4]); },
            m => { m.Regs.Rsi = Data; m.WriteU64(Data, 0x0000_7F80_FFFF_FFFF); });
        Assert.That(m.ReadU64(Data) & 0xFFFF_FFFF, Is.EqualTo((ulong)VcpuRegisters.MxcsrDefault));
        Assert.That(m.Regs.Mxcsr, Is.EqualTo(0x7F80u));

        using var bad = new GuestMachine();
        bad.Load(a => { a.ldmxcsr(__dword_ptr[rsi]); a.int3(); });
        bad.Regs.Rsi = Data;
        bad.WriteU64(Data, 0x0001_0000);
        var exit = bad.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.GeneralProtection));
        Assert.That(bad.Regs.Mxcsr, Is.EqualTo(VcpuRegisters.MxcsrDefault));
    }

    [Test]
    public void PackedIntegerArithmeticWrapsPerLane()
    {
        using var m = Run(a =>
        {
            a.movdqa(xmm2, xmm0); a.paddb(xmm2, xmm1);
            a.movdqa(xmm3, xmm0); a.psubw(xmm3, xmm1);
            a.movdqa(xmm4, xmm0); a.paddd(xmm4, xmm1);
            a.movdqa(xmm5, xmm0); a.psubq(xmm5, xmm1);
        }, m =>
        {
            (m.Regs.Xmm[0], m.Regs.Xmm[1]) = (0x0000_0001_FFFF_FFFF, 0x8000_0000_0000_00FF);
            (m.Regs.Xmm[2], m.Regs.Xmm[3]) = (0x0000_0001_0000_0001, 0x0000_0000_0000_0002);
        });
        ulong a0 = 0x0000_0001_FFFF_FFFF, a1 = 0x8000_0000_0000_00FF, b0 = 0x0000_0001_0000_0001, b1 = 2;
        Assert.That((m.Regs.Xmm[4], m.Regs.Xmm[5]), Is.EqualTo((0x0000_0002_FFFF_FF00UL, 0x8000_0000_0000_0001UL)), "paddb");
        Assert.That((m.Regs.Xmm[6], m.Regs.Xmm[7]), Is.EqualTo((0x0000_0000_FFFF_FFFEUL, 0x8000_0000_0000_00FDUL)), "psubw");
        Assert.That((m.Regs.Xmm[8], m.Regs.Xmm[9]), Is.EqualTo((0x0000_0002_0000_0000UL, 0x8000_0000_0000_0101UL)), "paddd");
        Assert.That((m.Regs.Xmm[10], m.Regs.Xmm[11]), Is.EqualTo((a0 - b0, a1 - b1)), "psubq");
    }

    [Test]
    public void StrlenIdiomFindsTheZeroByteWithPcmpeqbAndPmovmskb()
    {
        using var m = Run(a =>
        {
            a.pxor(xmm0, xmm0);
            a.movdqu(xmm1, __xmmword_ptr[rsi]);
            a.pcmpeqb(xmm1, xmm0);
            a.pmovmskb(eax, xmm1);
            a.bsf(eax, eax);
        }, m =>
        {
            m.Regs.Rsi = Data;
            m.WriteBytes(Data, "hello, world!\0xy"u8);
        });
        Assert.That(m.Regs.Rax, Is.EqualTo(13UL));
    }

    [Test]
    public void PshufdAndUnpackRearrangeLanes()
    {
        using var m = Run(a =>
        {
            a.pshufd(xmm1, xmm0, 0b00_01_10_11);
            a.movdqa(xmm2, xmm0); a.punpcklbw(xmm2, xmm7);
            a.movdqa(xmm3, xmm0); a.punpckhdq(xmm3, xmm7);
            a.movdqa(xmm4, xmm0); a.punpcklqdq(xmm4, xmm7);
        }, m =>
        {
            (m.Regs.Xmm[0], m.Regs.Xmm[1]) = (0x3333_3333_4444_4444, 0x1111_1111_2222_2222);
            (m.Regs.Xmm[14], m.Regs.Xmm[15]) = (0xBBBB_BBBB_CCCC_CCDD, 0xEEEE_EEEE_FFFF_FFFF);
        });
        Assert.That((m.Regs.Xmm[2], m.Regs.Xmm[3]), Is.EqualTo((0x2222_2222_1111_1111UL, 0x4444_4444_3333_3333UL)));
        Assert.That(m.Regs.Xmm[4], Is.EqualTo(0xCC44_CC44_CC44_DD44UL), "punpcklbw low half");
        Assert.That((m.Regs.Xmm[6], m.Regs.Xmm[7]), Is.EqualTo((0xFFFF_FFFF_2222_2222UL, 0xEEEE_EEEE_1111_1111UL)));
        Assert.That((m.Regs.Xmm[8], m.Regs.Xmm[9]), Is.EqualTo((0x3333_3333_4444_4444UL, 0xBBBB_BBBB_CCCC_CCDDUL)));
    }

    private static ulong D(double v) => BitConverter.DoubleToUInt64Bits(v);

    [Test]
    public void ScalarDoubleArithmeticKeepsTheUpperHalf()
    {
        using var m = Run(a =>
        {
            a.movsd(xmm0, __qword_ptr[rsi]);
            a.addsd(xmm0, __qword_ptr[rsi + 8]);
            a.mulsd(xmm0, xmm0);
            a.movapd(xmm2, xmm0); a.divsd(xmm2, __qword_ptr[rsi + 8]);
            a.sqrtsd(xmm3, xmm0);
            a.minsd(xmm3, __qword_ptr[rsi]);
            a.movsd(__qword_ptr[rsi + 16], xmm2);
        }, m =>
        {
            m.Regs.Rsi = Data;
            m.WriteU64(Data, D(1.5));
            m.WriteU64(Data + 8, D(0.25));
            m.Regs.Xmm[7] = 0xABCD;
        });
        Assert.That((m.Regs.Xmm[0], m.Regs.Xmm[1]), Is.EqualTo((D(3.0625), 0UL)), "movsd from memory zeroes the top");
        Assert.That(m.ReadU64(Data + 16), Is.EqualTo(D(12.25)));
        Assert.That((m.Regs.Xmm[6], m.Regs.Xmm[7]), Is.EqualTo((D(1.5), 0xABCDUL)), "min(1.75, 1.5), top kept");
    }

    [TestCase(1.0, 2.0, 0x01UL)]
    [TestCase(2.0, 1.0, 0x00UL)]
    [TestCase(2.0, 2.0, 0x40UL)]
    [TestCase(double.NaN, 2.0, 0x45UL)]
    public void UcomisdSetsZfPfCfAndClearsTheRest(double left, double right, ulong expected)
    {
        using var m = Run(a => a.ucomisd(xmm0, xmm1), m =>
        {
            m.Regs.Xmm[0] = D(left);
            m.Regs.Xmm[2] = D(right);
            m.Regs.Rflags = 0x2 | 0x800 | 0x80 | 0x10;
        });
        Assert.That(m.Regs.Rflags & 0x8D5, Is.EqualTo(expected));
    }

    [Test]
    public void ConversionsTruncateAndReportTheIndefiniteInteger()
    {
        using var m = Run(a =>
        {
            a.cvtsi2sd(xmm0, rax);
            a.cvttsd2si(ecx, xmm1);
            a.cvttsd2si(rdx, xmm2);
            a.cvtsd2ss(xmm3, xmm0);
            a.cvtss2sd(xmm4, xmm3);
            a.cvtsi2ss(xmm5, ebx);
        }, m =>
        {
            m.Regs.Rax = unchecked((ulong)-3L);
            m.Regs.Rbx = 7;
            m.Regs.Xmm[2] = D(-2.9);
            m.Regs.Xmm[4] = D(1e300);
        });
        Assert.That(m.Regs.Xmm[0], Is.EqualTo(D(-3.0)));
        Assert.That(m.Regs.Rcx, Is.EqualTo(0xFFFF_FFFEUL), "-2.9 truncates to -2");
        Assert.That(m.Regs.Rdx, Is.EqualTo(0x8000_0000_0000_0000UL));
        Assert.That((uint)m.Regs.Xmm[6], Is.EqualTo(BitConverter.SingleToUInt32Bits(-3.0f)));
        Assert.That(m.Regs.Xmm[8], Is.EqualTo(D(-3.0)));
        Assert.That((uint)m.Regs.Xmm[10], Is.EqualTo(BitConverter.SingleToUInt32Bits(7.0f)));
    }

    [Test]
    public void FxsaveWritesTheArchitecturalLayoutAndFxrstorReadsItBack()
    {
        using var m = Run(a =>
        {
            a.fxsave64(__[rsi]);
            a.pxor(xmm0, xmm0);
            a.pxor(xmm15, xmm15);
            a.mov(__dword_ptr[rsi + 24], 0x7F80);
            a.fxrstor64(__[rsi]);
        }, m =>
        {
            m.Regs.Rsi = Data + 0x200;
            (m.Regs.Xmm[0], m.Regs.Xmm[1]) = (0x0101, 0x0202);
            (m.Regs.Xmm[30], m.Regs.Xmm[31]) = (0x3030, 0x3131);
            m.WriteBytes(Data + 0x200 + 464, Enumerable.Repeat((byte)0xEE, 48).ToArray());
        });
        ulong area = Data + 0x200;
        Assert.That(m.ReadU64(area) & 0xFFFF, Is.EqualTo(0x037FUL), "FCW");
        Assert.That(m.ReadU64(area + 28) & 0xFFFF_FFFF, Is.EqualTo(0xFFFFUL), "MXCSR_MASK");
        Assert.That(m.ReadU64(area + 160), Is.EqualTo(0x0101UL));
        Assert.That(m.ReadU64(area + 160 + 15 * 16 + 8), Is.EqualTo(0x3131UL));
        Assert.That(m.ReadBytes(area + 464, 48), Is.All.EqualTo((byte)0xEE), "available area untouched");
        Assert.That((m.Regs.Xmm[0], m.Regs.Xmm[1], m.Regs.Xmm[30], m.Regs.Xmm[31]),
            Is.EqualTo((0x0101UL, 0x0202UL, 0x3030UL, 0x3131UL)), "fxrstor reloads XMM");
        Assert.That(m.Regs.Mxcsr, Is.EqualTo(0x7F80u));
    }

    [Test]
    public void FxrstorWithReservedMxcsrBitsRaisesGeneralProtectionAndLoadsNothing()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.fxrstor64(__[rsi]); a.int3(); });
        m.Regs.Rsi = Data;
        m.WriteU64(Data + 24, 0x0002_0000);
        m.WriteU64(Data + 160, 0x1234);
        m.Regs.Xmm[0] = 0x77;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.GeneralProtection));
        Assert.That(m.Regs.Xmm[0], Is.EqualTo(0x77UL));
    }

    [Test]
    public void LaneShiftsClearOnOversizedCountsAndArithmeticShiftsFillWithSign()
    {
        using var m = Run(a =>
        {
            a.movdqa(xmm1, xmm0); a.psllw(xmm1, 4);
            a.movdqa(xmm2, xmm0); a.psrlq(xmm2, 64);
            a.movdqa(xmm3, xmm0); a.psrad(xmm3, 40);
            a.movdqa(xmm4, xmm0); a.psrld(xmm4, xmm7);
            a.movdqa(xmm5, xmm0); a.pslldq(xmm5, 3);
            a.movdqa(xmm6, xmm0); a.psrldq(xmm6, 9);
        }, m =>
        {
            (m.Regs.Xmm[0], m.Regs.Xmm[1]) = (0x8000_0001_1234_5678, 0x0102_0304_0506_0708);
            (m.Regs.Xmm[14], m.Regs.Xmm[15]) = (8, 0xFFFF); // count is the whole low quadword; high half ignored
        });
        Assert.That((m.Regs.Xmm[2], m.Regs.Xmm[3]), Is.EqualTo((0x0000_0010_2340_6780UL, 0x1020_3040_5060_7080UL)));
        Assert.That((m.Regs.Xmm[4], m.Regs.Xmm[5]), Is.EqualTo((0UL, 0UL)));
        Assert.That((m.Regs.Xmm[6], m.Regs.Xmm[7]), Is.EqualTo((0xFFFF_FFFF_0000_0000UL, 0UL)));
        Assert.That((m.Regs.Xmm[8], m.Regs.Xmm[9]), Is.EqualTo((0x0080_0000_0012_3456UL, 0x0001_0203_0005_0607UL)));
        Assert.That((m.Regs.Xmm[10], m.Regs.Xmm[11]), Is.EqualTo((0x0112_3456_7800_0000UL, 0x0405_0607_0880_0000UL)));
        Assert.That((m.Regs.Xmm[12], m.Regs.Xmm[13]), Is.EqualTo((0x0001_0203_0405_0607UL, 0UL)));
    }

    [Test]
    public void PackedFloatArithmeticWorksPerLaneAndMinReturnsTheSourceOnNaN()
    {
        using var m = Run(a =>
        {
            a.movapd(xmm1, xmm0); a.addpd(xmm1, xmm7);
            a.movapd(xmm2, xmm0); a.minpd(xmm2, xmm7);
            a.movaps(xmm3, xmm5); a.mulps(xmm3, xmm6);
        }, m =>
        {
            (m.Regs.Xmm[0], m.Regs.Xmm[1]) = (D(1.5), D(double.NaN));
            (m.Regs.Xmm[14], m.Regs.Xmm[15]) = (D(2.25), D(-4.0));
            static ulong Pair(float lo, float hi) =>
                BitConverter.SingleToUInt32Bits(lo) | (ulong)BitConverter.SingleToUInt32Bits(hi) << 32;
            (m.Regs.Xmm[10], m.Regs.Xmm[11]) = (Pair(1, 2), Pair(3, 4));
            (m.Regs.Xmm[12], m.Regs.Xmm[13]) = (Pair(0.5f, -1), Pair(10, 0.25f));
        });
        Assert.That(m.Regs.Xmm[2], Is.EqualTo(D(3.75)));
        Assert.That(double.IsNaN(BitConverter.UInt64BitsToDouble(m.Regs.Xmm[3])), Is.True);
        Assert.That((m.Regs.Xmm[4], m.Regs.Xmm[5]), Is.EqualTo((D(1.5), D(-4.0))));
        Assert.That(BitConverter.UInt32BitsToSingle((uint)m.Regs.Xmm[6]), Is.EqualTo(0.5f));
        Assert.That(BitConverter.UInt32BitsToSingle((uint)(m.Regs.Xmm[6] >> 32)), Is.EqualTo(-2f));
        Assert.That(BitConverter.UInt32BitsToSingle((uint)m.Regs.Xmm[7]), Is.EqualTo(30f));
        Assert.That(BitConverter.UInt32BitsToSingle((uint)(m.Regs.Xmm[7] >> 32)), Is.EqualTo(1f));
    }

    [Test]
    public void SignedCompareUnsignedMinMaxAndSignMasks()
    {
        using var m = Run(a =>
        {
            a.movdqa(xmm1, xmm0); a.pcmpgtb(xmm1, xmm7);
            a.movdqa(xmm2, xmm0); a.pminub(xmm2, xmm7);
            a.movdqa(xmm3, xmm0); a.pmaxub(xmm3, xmm7);
            a.movmskps(eax, xmm0);
            a.movmskpd(ecx, xmm0);
            a.movaps(xmm4, xmm0); a.unpcklps(xmm4, xmm7);
        }, m =>
        {
            (m.Regs.Xmm[0], m.Regs.Xmm[1]) = (0x8000_0000_0000_7F01, 0x0000_0000_8000_0000);
            (m.Regs.Xmm[14], m.Regs.Xmm[15]) = (0x0000_0000_0000_8002, 0x1111_1111_2222_2222);
            m.Regs.Rax = m.Regs.Rcx = ulong.MaxValue;
        });
        // Bytes (low first) of xmm0: 01 7F 00 00 00 00 00 80 | 00 00 00 80 00 00 00 00; of xmm7: 02 80 00.. | 22 22 22 22 11 11 11 11.
        Assert.That((m.Regs.Xmm[2], m.Regs.Xmm[3]), Is.EqualTo((0x0000_0000_0000_FF00UL, 0UL)), "pcmpgtb is signed");
        Assert.That((m.Regs.Xmm[4], m.Regs.Xmm[5]), Is.EqualTo((0x0000_0000_0000_7F01UL, 0x0000_0000_2200_0000UL)));
        Assert.That((m.Regs.Xmm[6], m.Regs.Xmm[7]), Is.EqualTo((0x8000_0000_0000_8002UL, 0x1111_1111_8022_2222UL)));
        Assert.That(m.Regs.Rax, Is.EqualTo(0b0110UL));
        Assert.That(m.Regs.Rcx, Is.EqualTo(0b01UL));
        Assert.That((m.Regs.Xmm[8], m.Regs.Xmm[9]), Is.EqualTo((0x0000_8002_0000_7F01UL, 0x0000_0000_8000_0000UL)));
    }

    [TestCase(0x1F80u, 2.5, 2UL)]
    [TestCase(0x1F80u, 3.5, 4UL)]
    [TestCase(0x3F80u, -2.5, 0xFFFF_FFFF_FFFF_FFFDUL)]
    [TestCase(0x5F80u, 2.1, 3UL)]
    [TestCase(0x7F80u, -2.9, 0xFFFF_FFFF_FFFF_FFFEUL)]
    public void Cvtsd2siRoundsAsMxcsrSays(uint mxcsr, double value, ulong expected)
    {
        using var m = Run(a => a.cvtsd2si(rax, xmm0), m => { m.Regs.Mxcsr = mxcsr; m.Regs.Xmm[0] = D(value); });
        Assert.That(m.Regs.Rax, Is.EqualTo(expected));
    }

    [Test]
    public void MmxFormsStayUnimplementedAndRaiseInvalidOpcode()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.pxor(mm0, mm1); a.int3(); });
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.InvalidOpcode));
        Assert.That(m.Logged, Has.Count.EqualTo(1));
    }
}
