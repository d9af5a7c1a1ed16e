using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>
/// MXCSR exception status flags and #XM of SSE/SSE2 floating point. Expected flags were read from hardware (_mm_getcsr after
/// each operation, MXCSR 0x1F80): IE 01, DE 02, ZE 04, OE 08, UE 10, PE 20.
/// </summary>
public class MxcsrFlagTests
{
    private const ulong Den = 1, SNaN = 0x7FF0_0000_0000_0001, QNaN = 0x7FF8_0000_0000_0000, Inf = 0x7FF0_0000_0000_0000;
    private const ulong MinNormal = 0x0010_0000_0000_0000, MinusDen = 0x8000_0000_0000_0001;
    private static ulong D(double v) => BitConverter.DoubleToUInt64Bits(v);
    private static ulong S(float v) => BitConverter.SingleToUInt32Bits(v);


    private static readonly Dictionary<string, Action<Assembler>> Ops = new()
    {
        ["addsd"] = a => a.addsd(xmm1, xmm2), ["subsd"] = a => a.subsd(xmm1, xmm2), ["mulsd"] = a => a.mulsd(xmm1, xmm2),
        ["divsd"] = a => a.divsd(xmm1, xmm2), ["sqrtsd"] = a => a.sqrtsd(xmm1, xmm2), ["minsd"] = a => a.minsd(xmm1, xmm2),
        ["addss"] = a => a.addss(xmm1, xmm2), ["mulss"] = a => a.mulss(xmm1, xmm2), ["divss"] = a => a.divss(xmm1, xmm2),
        ["sqrtss"] = a => a.sqrtss(xmm1, xmm2),
        ["addpd"] = a => a.addpd(xmm1, xmm2), ["mulpd"] = a => a.mulpd(xmm1, xmm2), ["divps"] = a => a.divps(xmm1, xmm2),
        ["maxpd"] = a => a.maxpd(xmm1, xmm2),
        ["comisd"] = a => a.comisd(xmm1, xmm2), ["ucomisd"] = a => a.ucomisd(xmm1, xmm2),
        ["cmpltsd"] = a => a.cmpsd(xmm1, xmm2, 1), ["cmpeqsd"] = a => a.cmpsd(xmm1, xmm2, 0),
        ["cmpltps"] = a => a.cmpps(xmm1, xmm2, 1),
        ["cvtsd2ss"] = a => a.cvtsd2ss(xmm1, xmm2), ["cvtss2sd"] = a => a.cvtss2sd(xmm1, xmm2),
        ["cvtdq2ps"] = a => a.cvtdq2ps(xmm1, xmm2), ["cvttps2dq"] = a => a.cvttps2dq(xmm1, xmm2),
        ["cvtpd2ps"] = a => a.cvtpd2ps(xmm1, xmm2), ["cvtps2pd"] = a => a.cvtps2pd(xmm1, xmm2),
        ["cvtpd2dq"] = a => a.cvtpd2dq(xmm1, xmm2),
        ["divpd"] = a => a.divpd(xmm1, xmm2), ["sqrtpd"] = a => a.sqrtpd(xmm1, xmm2),
        ["cvttsd2si"] = a => a.cvttsd2si(eax, xmm2), ["cvtsd2si64"] = a => a.cvtsd2si(rax, xmm2),
    };

    /// <summary>xmm1 = a (both halves), xmm2 = b (both halves): the operation "op xmm1, xmm2".</summary>
    private static uint Run(string op, ulong a, ulong b, uint mxcsr = 0x1F80)
    {
        using var m = new GuestMachine();
        m.Load(asm => { Ops[op](asm); asm.int3(); });
        m.Regs.Mxcsr = mxcsr;
        m.Regs.Xmm[2] = a; m.Regs.Xmm[3] = a;
        m.Regs.Xmm[4] = b; m.Regs.Xmm[5] = b;
        m.RunToBreakpoint();
        return m.Regs.Mxcsr & 0x3F;
    }

    private static IEnumerable<TestCaseData> DoubleCases()
    {
        yield return new TestCaseData("divsd", Den, 0UL, 0x04u).SetName("DenormalOverZeroRaisesOnlyDivideByZero");
        yield return new TestCaseData("divsd", D(1), 0UL, 0x04u).SetName("OneOverZeroRaisesDivideByZero");
        yield return new TestCaseData("divsd", Inf, 0UL, 0x00u).SetName("InfinityOverZeroIsExact");
        yield return new TestCaseData("divsd", D(0), D(0), 0x01u).SetName("ZeroOverZeroIsInvalid");
        yield return new TestCaseData("divsd", D(1), D(3), 0x20u).SetName("OneThirdIsInexact");
        yield return new TestCaseData("divsd", D(1), D(4), 0x00u).SetName("OneQuarterIsExact");
        yield return new TestCaseData("addsd", SNaN, Den, 0x01u).SetName("SignallingNaNOperandRaisesOnlyInvalid");
        yield return new TestCaseData("addsd", QNaN, Den, 0x00u).SetName("QuietNaNOperandRaisesNothing");
        yield return new TestCaseData("addsd", Den, Den, 0x02u).SetName("DenormalSumIsExactButRaisesDenormal");
        yield return new TestCaseData("addsd", D(1), D(1e-20), 0x20u).SetName("LostLowBitsOfSumAreInexact");
        yield return new TestCaseData("addsd", D(1.5), D(0.25), 0x00u).SetName("RepresentableSumIsExact");
        yield return new TestCaseData("subsd", Inf, Inf, 0x01u).SetName("InfinityMinusInfinityIsInvalid");
        yield return new TestCaseData("mulsd", MinNormal, D(0.5), 0x00u).SetName("ExactSubnormalProductDoesNotUnderflow");
        yield return new TestCaseData("mulsd", MinNormal, D(1.0 / 3), 0x30u).SetName("InexactSubnormalProductUnderflows");
        yield return new TestCaseData("mulsd", D(1e-200), D(1e-200), 0x30u).SetName("ProductRoundedToZeroUnderflows");
        yield return new TestCaseData("mulsd", D(1e308), D(1e308), 0x28u).SetName("ProductOverflowRaisesOverflowAndInexact");
        yield return new TestCaseData("mulsd", 0UL, Inf, 0x01u).SetName("ZeroTimesInfinityIsInvalid");
        yield return new TestCaseData("mulsd", Den, Inf, 0x02u).SetName("DenormalTimesInfinityRaisesDenormal");
        yield return new TestCaseData("mulsd", Den, 0UL, 0x02u).SetName("DenormalTimesZeroRaisesDenormal");
        yield return new TestCaseData("mulsd", D(1 + Math.Pow(2, -30)), D(1 + Math.Pow(2, -30)), 0x20u).SetName("ProductNeedingMoreThan53BitsIsInexact");
        yield return new TestCaseData("sqrtsd", 0UL, MinusDen, 0x01u).SetName("SqrtOfNegativeDenormalIsOnlyInvalid");
        yield return new TestCaseData("sqrtsd", 0UL, D(-0.0), 0x00u).SetName("SqrtOfMinusZeroIsExact");
        yield return new TestCaseData("sqrtsd", 0UL, D(2), 0x20u).SetName("SqrtOfTwoIsInexact");
        yield return new TestCaseData("sqrtsd", 0UL, D(2.25), 0x00u).SetName("SqrtOfSquareIsExact");
        yield return new TestCaseData("sqrtsd", 0UL, 4UL, 0x02u).SetName("SqrtOfDenormalSquareRaisesOnlyDenormal");
        yield return new TestCaseData("sqrtsd", 0UL, 2UL, 0x22u).SetName("SqrtOfDenormalNonSquareIsInexact");
        yield return new TestCaseData("minsd", QNaN, D(1), 0x01u).SetName("MinWithQuietNaNIsInvalid");
        yield return new TestCaseData("minsd", Den, D(1), 0x02u).SetName("MinWithDenormalRaisesDenormal");
        yield return new TestCaseData("comisd", QNaN, D(1), 0x01u).SetName("ComisdWithQuietNaNIsInvalid");
        yield return new TestCaseData("ucomisd", QNaN, D(1), 0x00u).SetName("UcomisdWithQuietNaNRaisesNothing");
        yield return new TestCaseData("ucomisd", SNaN, Den, 0x01u).SetName("UcomisdWithSignallingNaNIsOnlyInvalid");
        yield return new TestCaseData("ucomisd", Den, D(1), 0x02u).SetName("UcomisdWithDenormalRaisesDenormal");
        yield return new TestCaseData("cmpltsd", QNaN, D(1), 0x01u).SetName("CmpltWithQuietNaNIsInvalid");
        yield return new TestCaseData("cmpeqsd", QNaN, D(1), 0x00u).SetName("CmpeqWithQuietNaNRaisesNothing");
        yield return new TestCaseData("cmpeqsd", SNaN, D(1), 0x01u).SetName("CmpeqWithSignallingNaNIsInvalid");
        yield return new TestCaseData("cvtsd2ss", 0UL, Den, 0x32u).SetName("NarrowingDenormalRaisesDenormalUnderflowInexact");
        yield return new TestCaseData("cvtsd2ss", 0UL, SNaN, 0x01u).SetName("NarrowingSignallingNaNIsInvalid");
        yield return new TestCaseData("cvtsd2ss", 0UL, D(1e300), 0x28u).SetName("NarrowingHugeValueOverflows");
        yield return new TestCaseData("cvtsd2ss", 0UL, D(0.1), 0x20u).SetName("NarrowingTenthIsInexact");
        yield return new TestCaseData("cvtsd2ss", 0UL, D(0.5), 0x00u).SetName("NarrowingHalfIsExact");
        yield return new TestCaseData("cvtss2sd", 0UL, (ulong)S(1e-40f), 0x02u).SetName("WideningDenormalSingleRaisesDenormal");
        yield return new TestCaseData("cvttsd2si", 0UL, D(1.5), 0x20u).SetName("TruncatingFractionIsInexact");
        yield return new TestCaseData("cvttsd2si", 0UL, D(3e9), 0x01u).SetName("OutOfRangeConversionIsInvalid");
        yield return new TestCaseData("cvttsd2si", 0UL, Den, 0x20u).SetName("TruncatingDenormalIsInexactWithoutDenormal");
        yield return new TestCaseData("cvtsd2si64", 0UL, QNaN, 0x01u).SetName("ConvertingNaNToIntegerIsInvalid");
        yield return new TestCaseData("cvtsd2si64", 0UL, D(-42), 0x00u).SetName("ConvertingIntegralValueIsExact");
        yield return new TestCaseData("addss", (ulong)S(1), (ulong)S(1e-10f), 0x20u).SetName("SingleSumLosingBitsIsInexact");
        yield return new TestCaseData("mulss", (ulong)S(1e30f), (ulong)S(1e30f), 0x28u).SetName("SingleProductOverflows");
        yield return new TestCaseData("mulss", (ulong)S(1e-30f), (ulong)S(1e-10f), 0x30u).SetName("SingleProductUnderflows");
        yield return new TestCaseData("mulss", (ulong)S(1.5f), (ulong)S(2f), 0x00u).SetName("SingleProductIsExact");
        yield return new TestCaseData("divss", (ulong)S(1), 0UL, 0x04u).SetName("SingleDivideByZero");
        yield return new TestCaseData("sqrtss", 0UL, (ulong)S(-1f), 0x01u).SetName("SingleSqrtOfNegativeIsInvalid");
        yield return new TestCaseData("sqrtss", 0UL, 0x7F80_0001UL, 0x01u).SetName("SingleSqrtOfSignallingNaNIsInvalid");
        yield return new TestCaseData("addpd", D(1), D(1e-20), 0x20u).SetName("PackedDoubleSumIsInexact");
        yield return new TestCaseData("mulpd", D(1e308), D(1e308), 0x28u).SetName("PackedDoubleProductOverflows");
        yield return new TestCaseData("divps", S(1) | (ulong)S(1) << 32, S(3) | (ulong)S(0) << 32, 0x24u).SetName("PackedSingleLanesAccumulateFlags");
        yield return new TestCaseData("maxpd", QNaN, D(1), 0x01u).SetName("PackedMaxWithQuietNaNIsInvalid");
        yield return new TestCaseData("cmpltps", 0x7FC0_0000UL, S(1), 0x01u).SetName("PackedCmpltWithQuietNaNIsInvalid");
        yield return new TestCaseData("cvtdq2ps", 0UL, 16777217UL | 3UL << 32, 0x20u).SetName("PackedIntegerBeyond24BitsToSingleIsInexact");
        yield return new TestCaseData("cvtdq2ps", 0UL, 4UL | 3UL << 32, 0x00u).SetName("PackedSmallIntegersToSingleAreExact");
        yield return new TestCaseData("cvttps2dq", 0UL, 0x7FC0_0000UL | (ulong)S(2.5f) << 32, 0x21u).SetName("PackedTruncationOfNaNAndFractionIsInvalidAndInexact");
        yield return new TestCaseData("cvtpd2ps", 0UL, D(1e300), 0x28u).SetName("PackedNarrowingOfHugeValueOverflows");
        yield return new TestCaseData("cvtps2pd", 0UL, (ulong)S(1e-40f), 0x02u).SetName("PackedWideningOfDenormalRaisesDenormal");
        yield return new TestCaseData("cvtpd2dq", 0UL, D(0.5), 0x20u).SetName("PackedRoundingOfHalfIsInexact");
    }

    [TestCaseSource(nameof(DoubleCases))]
    public void OperationRaisesTheHardwareStatusFlags(string op, ulong a, ulong b, uint expected)
    {
        Assert.That(Run(op, a, b), Is.EqualTo(expected));
    }

    private static IEnumerable<TestCaseData> TrapCases()
    {
        // (op, a in both lanes, b low lane, b high lane, MXCSR before, MXCSR the handler sees): read from hardware
        // in a SIGFPE handler (the saved MXCSR), destination left untouched in every case.
        yield return new TestCaseData("divsd", D(1), 0UL, 0UL, 0x1D80u, 0x1D84u).SetName("UnmaskedDivideByZeroRaisesSimdException");
        yield return new TestCaseData("addsd", D(1), D(1e-20), D(1e-20), 0x0F80u, 0x0FA0u).SetName("UnmaskedInexactRaisesSimdException");
        yield return new TestCaseData("divpd", D(1), 0UL, D(3), 0x1D80u, 0x1D84u).SetName("UnmaskedPreComputationExceptionSuppressesOtherLanesPostComputationFlags");
        yield return new TestCaseData("divpd", D(1), 0UL, D(3), 0x0F80u, 0x0FA4u).SetName("UnmaskedInexactReportsEveryLanesFlags");
        yield return new TestCaseData("mulsd", MinNormal, D(0.5), D(0.5), 0x1780u, 0x1790u).SetName("UnmaskedUnderflowTrapsOnExactTinyResult");
        yield return new TestCaseData("mulsd", D(1e-200), D(1e-200), D(1e-200), 0x1780u, 0x17B0u).SetName("UnmaskedUnderflowOfInexactResultReportsInexactToo");
        yield return new TestCaseData("mulsd", 0x1F6C_294C_6900_0000UL, 0x9FD2_4440_0000_0000UL, 0x9FD2_4440_0000_0000UL, 0x1780u, 0x1790u).SetName("UnmaskedUnderflowJudgesInexactOnTheUnboundedResult");
        yield return new TestCaseData("cvtsd2ss", 0UL, 0x21UL, 0x21UL, 0x1780u, 0x1792u).SetName("UnmaskedUnderflowOfNarrowedDenormalIsExactAtUnboundedExponent");
        yield return new TestCaseData("mulsd", D(1e308), D(1e308), D(1e308), 0x1B80u, 0x1BA8u).SetName("UnmaskedOverflowReportsOverflowAndInexact");
        yield return new TestCaseData("sqrtpd", 0UL, D(-1), D(2), 0x1F00u, 0x1F01u).SetName("UnmaskedInvalidDropsInexactOfOtherLane");
        yield return new TestCaseData("addsd", D(1), Den, Den, 0x1E80u, 0x1E82u).SetName("UnmaskedDenormalReportsOnlyDenormal");
    }

    [TestCaseSource(nameof(TrapCases))]
    public void UnmaskedExceptionDeliversSimdFloatingPointFaultWithoutWriting(string op, ulong a, ulong bLo, ulong bHi, uint mxcsr, uint expected)
    {
        using var m = new GuestMachine();
        m.Load(asm => { Ops[op](asm); asm.int3(); });
        m.Regs.Mxcsr = mxcsr;
        m.Regs.Xmm[2] = a; m.Regs.Xmm[3] = a;
        m.Regs.Xmm[4] = bLo; m.Regs.Xmm[5] = bHi;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.SimdFloatingPoint));
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase), "restartable");
        Assert.That(m.Regs.Mxcsr, Is.EqualTo(expected));
        Assert.That((m.Regs.Xmm[2], m.Regs.Xmm[3]), Is.EqualTo((a, a)), "destination not written");
    }

    [Test]
    public void UnmaskedExceptionThatDoesNotOccurDoesNotTrap()
    {
        Assert.That(Run("divsd", D(1), D(4), 0x0000), Is.EqualTo(0u));
    }

    [Test]
    public void StatusFlagsAreStickyAndNeverCleared()
    {
        Assert.That(Run("addsd", D(1.5), D(0.25), 0x1F80 | 0x3F), Is.EqualTo(0x3Fu));
        Assert.That(Run("divsd", D(1), D(3), 0x1F80 | 0x04), Is.EqualTo(0x24u));
    }
}
