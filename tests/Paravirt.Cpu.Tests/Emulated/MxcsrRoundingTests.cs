using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>
/// SSE/SSE2 results and MXCSR flags under the MXCSR controls: rounding control (nearest 1F80, down 3F80, up 5F80,
/// toward zero 7F80), flush-to-zero (8000) and denormals-are-zero (0040). Every expected result and MXCSR was read
/// from hardware (the operation between ldmxcsr and stmxcsr, xmm1 = a, xmm2 = b, upper lanes zero).
/// </summary>
public class MxcsrRoundingTests
{
    private static readonly Dictionary<string, Action<Assembler>> Ops = new()
    {
        ["addsd"] = a => a.addsd(xmm1, xmm2), ["subsd"] = a => a.subsd(xmm1, xmm2), ["mulsd"] = a => a.mulsd(xmm1, xmm2),
        ["divsd"] = a => a.divsd(xmm1, xmm2), ["sqrtsd"] = a => a.sqrtsd(xmm1, xmm2), ["minsd"] = a => a.minsd(xmm1, xmm2),
        ["maxsd"] = a => a.maxsd(xmm1, xmm2), ["addss"] = a => a.addss(xmm1, xmm2), ["mulss"] = a => a.mulss(xmm1, xmm2),
        ["divss"] = a => a.divss(xmm1, xmm2), ["cmpeqsd"] = a => a.cmpsd(xmm1, xmm2, 0),
        ["comisd"] = a => a.comisd(xmm1, xmm2),
        ["cvtsd2ss"] = a => a.cvtsd2ss(xmm1, xmm2), ["cvtss2sd"] = a => a.cvtss2sd(xmm1, xmm2),
        ["cvtsi2ssl"] = a => { a.movq(rax, xmm2); a.cvtsi2ss(xmm1, eax); },
        ["cvtsi2ssq"] = a => { a.movq(rax, xmm2); a.cvtsi2ss(xmm1, rax); },
        ["cvtsi2sdq"] = a => { a.movq(rax, xmm2); a.cvtsi2sd(xmm1, rax); },
        ["cvtdq2ps"] = a => a.cvtdq2ps(xmm1, xmm2), ["cvtsd2si"] = a => a.cvtsd2si(rax, xmm2),
    };

    /// <summary>Runs "op" with xmm1 = a, xmm2 = b (upper quadwords zero) from MXCSR <paramref name="mxcsr"/>: the
    /// result (xmm1's low quadword; RAX for cvtsd2si; the status flags for comisd) and the final MXCSR, or the MXCSR
    /// the #XM handler would see.</summary>
    private static (ulong Result, uint Mxcsr, bool Trapped) Run(string op, uint mxcsr, ulong a, ulong b)
    {
        using var m = new GuestMachine();
        m.Load(asm => { Ops[op](asm); asm.int3(); });
        m.Regs.Mxcsr = mxcsr;
        m.Regs.Xmm[2] = a; m.Regs.Xmm[3] = 0;
        m.Regs.Xmm[4] = b; m.Regs.Xmm[5] = 0;
        m.Regs.Gprs[0] = 0;
        var exit = m.Run();
        if (exit.Vector == ExceptionVector.SimdFloatingPoint) return (m.Regs.Xmm[2], m.Regs.Mxcsr, true);
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.Breakpoint), "ran to the int3");
        ulong result = op switch
        {
            "cvtsd2si" => m.Regs.Gprs[0],
            "comisd" => m.Regs.Rflags & 0x8D5,
            _ => m.Regs.Xmm[2],
        };
        return (result, m.Regs.Mxcsr, false);
    }

    private static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData("addsd", 0x1F80u, 0x3FF0000000000000UL, 0x3CA0000000000000UL, 0x3FF0000000000000UL, 0x1FA0u).SetName("SumHalfwayBetweenNeighboursRoundsNearest");
        yield return new TestCaseData("addsd", 0x1F80u, 0xBFF0000000000000UL, 0xBCA0000000000000UL, 0xBFF0000000000000UL, 0x1FA0u).SetName("NegativeSumHalfwayBetweenNeighboursRoundsNearest");
        yield return new TestCaseData("divsd", 0x1F80u, 0x3FF0000000000000UL, 0x4008000000000000UL, 0x3FD5555555555555UL, 0x1FA0u).SetName("QuotientOneThirdRoundsNearest");
        yield return new TestCaseData("divsd", 0x1F80u, 0xC000000000000000UL, 0x4008000000000000UL, 0xBFE5555555555555UL, 0x1FA0u).SetName("NegativeQuotientRoundsNearest");
        yield return new TestCaseData("sqrtsd", 0x1F80u, 0x0UL, 0x4000000000000000UL, 0x3FF6A09E667F3BCDUL, 0x1FA0u).SetName("SquareRootOfTwoRoundsNearest");
        yield return new TestCaseData("mulsd", 0x1F80u, 0x7FEFFFFFFFFFFFFFUL, 0x4000000000000000UL, 0x7FF0000000000000UL, 0x1FA8u).SetName("ProductOverflowRoundsNearest");
        yield return new TestCaseData("mulsd", 0x1F80u, 0xFFEFFFFFFFFFFFFFUL, 0x4000000000000000UL, 0xFFF0000000000000UL, 0x1FA8u).SetName("NegativeProductOverflowRoundsNearest");
        yield return new TestCaseData("mulsd", 0x1F80u, 0x20B01B8DEF9E5187UL, 0x1F4FC94266515BC9UL, 0x0010000000000000UL, 0x1FA0u).SetName("ProductJustBelowSmallestNormalRoundsNearest");
        yield return new TestCaseData("mulsd", 0x1F80u, 0xA0B01B8DEF9E5187UL, 0x1F4FC94266515BC9UL, 0x8010000000000000UL, 0x1FA0u).SetName("NegativeProductJustBelowSmallestNormalRoundsNearest");
        yield return new TestCaseData("mulsd", 0x1F80u, 0x10000000000000UL, 0x3FD5555555555555UL, 0x0005555555555555UL, 0x1FB0u).SetName("SubnormalProductRoundsNearest");
        yield return new TestCaseData("addss", 0x1F80u, 0x3F800000UL, 0x33800000UL, 0x000000003F800000UL, 0x1FA0u).SetName("SingleSumRoundsNearest");
        yield return new TestCaseData("divss", 0x1F80u, 0xBF800000UL, 0x40400000UL, 0x00000000BEAAAAABUL, 0x1FA0u).SetName("SingleQuotientRoundsNearest");
        yield return new TestCaseData("mulss", 0x1F80u, 0x7F7FFFFFUL, 0x40000000UL, 0x000000007F800000UL, 0x1FA8u).SetName("SingleProductOverflowRoundsNearest");
        yield return new TestCaseData("mulss", 0x1F80u, 0x21A1E58FUL, 0x1E4A6691UL, 0x0000000000800000UL, 0x1FA0u).SetName("SingleProductJustBelowSmallestNormalRoundsNearest");
        yield return new TestCaseData("cvtsd2ss", 0x1F80u, 0x0UL, 0x3FB999999999999AUL, 0x000000003DCCCCCDUL, 0x1FA0u).SetName("NarrowingTenthRoundsNearest");
        yield return new TestCaseData("cvtsd2ss", 0x1F80u, 0x0UL, 0xC8078287F49C4A1DUL, 0x00000000FF800000UL, 0x1FA8u).SetName("NarrowingPastSingleRangeRoundsNearest");
        yield return new TestCaseData("cvtsi2ssl", 0x1F80u, 0x0UL, 0x1000001UL, 0x000000004B800000UL, 0x1FA0u).SetName("Integer2Pow24Plus1ToSingleRoundsNearest");
        yield return new TestCaseData("cvtsi2sdq", 0x1F80u, 0x0UL, 0x7FFFFFFFFFFFFFFFUL, 0x43E0000000000000UL, 0x1FA0u).SetName("LargestInt64ToDoubleRoundsNearest");
        yield return new TestCaseData("cvtsi2ssq", 0x1F80u, 0x0UL, 0x8000000000000001UL, 0x00000000DF000000UL, 0x1FA0u).SetName("NegativeInt64ToSingleRoundsNearest");
        yield return new TestCaseData("cvtdq2ps", 0x1F80u, 0x0UL, 0x100000181000001UL, 0x4B800000CEFE0000UL, 0x1FA0u).SetName("PackedIntegerToSingleRoundsNearest");
        yield return new TestCaseData("subsd", 0x1F80u, 0x3FF8000000000000UL, 0x3FF8000000000000UL, 0x0000000000000000UL, 0x1F80u).SetName("ExactCancellationSignRoundingNearest");
        yield return new TestCaseData("addsd", 0x3F80u, 0x3FF0000000000000UL, 0x3CA0000000000000UL, 0x3FF0000000000000UL, 0x3FA0u).SetName("SumHalfwayBetweenNeighboursRoundsDown");
        yield return new TestCaseData("addsd", 0x3F80u, 0xBFF0000000000000UL, 0xBCA0000000000000UL, 0xBFF0000000000001UL, 0x3FA0u).SetName("NegativeSumHalfwayBetweenNeighboursRoundsDown");
        yield return new TestCaseData("divsd", 0x3F80u, 0x3FF0000000000000UL, 0x4008000000000000UL, 0x3FD5555555555555UL, 0x3FA0u).SetName("QuotientOneThirdRoundsDown");
        yield return new TestCaseData("divsd", 0x3F80u, 0xC000000000000000UL, 0x4008000000000000UL, 0xBFE5555555555556UL, 0x3FA0u).SetName("NegativeQuotientRoundsDown");
        yield return new TestCaseData("sqrtsd", 0x3F80u, 0x0UL, 0x4000000000000000UL, 0x3FF6A09E667F3BCCUL, 0x3FA0u).SetName("SquareRootOfTwoRoundsDown");
        yield return new TestCaseData("mulsd", 0x3F80u, 0x7FEFFFFFFFFFFFFFUL, 0x4000000000000000UL, 0x7FEFFFFFFFFFFFFFUL, 0x3FA8u).SetName("ProductOverflowRoundsDown");
        yield return new TestCaseData("mulsd", 0x3F80u, 0xFFEFFFFFFFFFFFFFUL, 0x4000000000000000UL, 0xFFF0000000000000UL, 0x3FA8u).SetName("NegativeProductOverflowRoundsDown");
        yield return new TestCaseData("mulsd", 0x3F80u, 0x20B01B8DEF9E5187UL, 0x1F4FC94266515BC9UL, 0x000FFFFFFFFFFFFFUL, 0x3FB0u).SetName("ProductJustBelowSmallestNormalRoundsDown");
        yield return new TestCaseData("mulsd", 0x3F80u, 0xA0B01B8DEF9E5187UL, 0x1F4FC94266515BC9UL, 0x8010000000000000UL, 0x3FA0u).SetName("NegativeProductJustBelowSmallestNormalRoundsDown");
        yield return new TestCaseData("mulsd", 0x3F80u, 0x10000000000000UL, 0x3FD5555555555555UL, 0x0005555555555555UL, 0x3FB0u).SetName("SubnormalProductRoundsDown");
        yield return new TestCaseData("addss", 0x3F80u, 0x3F800000UL, 0x33800000UL, 0x000000003F800000UL, 0x3FA0u).SetName("SingleSumRoundsDown");
        yield return new TestCaseData("divss", 0x3F80u, 0xBF800000UL, 0x40400000UL, 0x00000000BEAAAAABUL, 0x3FA0u).SetName("SingleQuotientRoundsDown");
        yield return new TestCaseData("mulss", 0x3F80u, 0x7F7FFFFFUL, 0x40000000UL, 0x000000007F7FFFFFUL, 0x3FA8u).SetName("SingleProductOverflowRoundsDown");
        yield return new TestCaseData("mulss", 0x3F80u, 0x21A1E58FUL, 0x1E4A6691UL, 0x00000000007FFFFFUL, 0x3FB0u).SetName("SingleProductJustBelowSmallestNormalRoundsDown");
        yield return new TestCaseData("cvtsd2ss", 0x3F80u, 0x0UL, 0x3FB999999999999AUL, 0x000000003DCCCCCCUL, 0x3FA0u).SetName("NarrowingTenthRoundsDown");
        yield return new TestCaseData("cvtsd2ss", 0x3F80u, 0x0UL, 0xC8078287F49C4A1DUL, 0x00000000FF800000UL, 0x3FA8u).SetName("NarrowingPastSingleRangeRoundsDown");
        yield return new TestCaseData("cvtsi2ssl", 0x3F80u, 0x0UL, 0x1000001UL, 0x000000004B800000UL, 0x3FA0u).SetName("Integer2Pow24Plus1ToSingleRoundsDown");
        yield return new TestCaseData("cvtsi2sdq", 0x3F80u, 0x0UL, 0x7FFFFFFFFFFFFFFFUL, 0x43DFFFFFFFFFFFFFUL, 0x3FA0u).SetName("LargestInt64ToDoubleRoundsDown");
        yield return new TestCaseData("cvtsi2ssq", 0x3F80u, 0x0UL, 0x8000000000000001UL, 0x00000000DF000000UL, 0x3FA0u).SetName("NegativeInt64ToSingleRoundsDown");
        yield return new TestCaseData("cvtdq2ps", 0x3F80u, 0x0UL, 0x100000181000001UL, 0x4B800000CEFE0000UL, 0x3FA0u).SetName("PackedIntegerToSingleRoundsDown");
        yield return new TestCaseData("subsd", 0x3F80u, 0x3FF8000000000000UL, 0x3FF8000000000000UL, 0x8000000000000000UL, 0x3F80u).SetName("ExactCancellationSignRoundingDown");
        yield return new TestCaseData("addsd", 0x5F80u, 0x3FF0000000000000UL, 0x3CA0000000000000UL, 0x3FF0000000000001UL, 0x5FA0u).SetName("SumHalfwayBetweenNeighboursRoundsUp");
        yield return new TestCaseData("addsd", 0x5F80u, 0xBFF0000000000000UL, 0xBCA0000000000000UL, 0xBFF0000000000000UL, 0x5FA0u).SetName("NegativeSumHalfwayBetweenNeighboursRoundsUp");
        yield return new TestCaseData("divsd", 0x5F80u, 0x3FF0000000000000UL, 0x4008000000000000UL, 0x3FD5555555555556UL, 0x5FA0u).SetName("QuotientOneThirdRoundsUp");
        yield return new TestCaseData("divsd", 0x5F80u, 0xC000000000000000UL, 0x4008000000000000UL, 0xBFE5555555555555UL, 0x5FA0u).SetName("NegativeQuotientRoundsUp");
        yield return new TestCaseData("sqrtsd", 0x5F80u, 0x0UL, 0x4000000000000000UL, 0x3FF6A09E667F3BCDUL, 0x5FA0u).SetName("SquareRootOfTwoRoundsUp");
        yield return new TestCaseData("mulsd", 0x5F80u, 0x7FEFFFFFFFFFFFFFUL, 0x4000000000000000UL, 0x7FF0000000000000UL, 0x5FA8u).SetName("ProductOverflowRoundsUp");
        yield return new TestCaseData("mulsd", 0x5F80u, 0xFFEFFFFFFFFFFFFFUL, 0x4000000000000000UL, 0xFFEFFFFFFFFFFFFFUL, 0x5FA8u).SetName("NegativeProductOverflowRoundsUp");
        yield return new TestCaseData("mulsd", 0x5F80u, 0x20B01B8DEF9E5187UL, 0x1F4FC94266515BC9UL, 0x0010000000000000UL, 0x5FA0u).SetName("ProductJustBelowSmallestNormalRoundsUp");
        yield return new TestCaseData("mulsd", 0x5F80u, 0xA0B01B8DEF9E5187UL, 0x1F4FC94266515BC9UL, 0x800FFFFFFFFFFFFFUL, 0x5FB0u).SetName("NegativeProductJustBelowSmallestNormalRoundsUp");
        yield return new TestCaseData("mulsd", 0x5F80u, 0x10000000000000UL, 0x3FD5555555555555UL, 0x0005555555555556UL, 0x5FB0u).SetName("SubnormalProductRoundsUp");
        yield return new TestCaseData("addss", 0x5F80u, 0x3F800000UL, 0x33800000UL, 0x000000003F800001UL, 0x5FA0u).SetName("SingleSumRoundsUp");
        yield return new TestCaseData("divss", 0x5F80u, 0xBF800000UL, 0x40400000UL, 0x00000000BEAAAAAAUL, 0x5FA0u).SetName("SingleQuotientRoundsUp");
        yield return new TestCaseData("mulss", 0x5F80u, 0x7F7FFFFFUL, 0x40000000UL, 0x000000007F800000UL, 0x5FA8u).SetName("SingleProductOverflowRoundsUp");
        yield return new TestCaseData("mulss", 0x5F80u, 0x21A1E58FUL, 0x1E4A6691UL, 0x0000000000800000UL, 0x5FA0u).SetName("SingleProductJustBelowSmallestNormalRoundsUp");
        yield return new TestCaseData("cvtsd2ss", 0x5F80u, 0x0UL, 0x3FB999999999999AUL, 0x000000003DCCCCCDUL, 0x5FA0u).SetName("NarrowingTenthRoundsUp");
        yield return new TestCaseData("cvtsd2ss", 0x5F80u, 0x0UL, 0xC8078287F49C4A1DUL, 0x00000000FF7FFFFFUL, 0x5FA8u).SetName("NarrowingPastSingleRangeRoundsUp");
        yield return new TestCaseData("cvtsi2ssl", 0x5F80u, 0x0UL, 0x1000001UL, 0x000000004B800001UL, 0x5FA0u).SetName("Integer2Pow24Plus1ToSingleRoundsUp");
        yield return new TestCaseData("cvtsi2sdq", 0x5F80u, 0x0UL, 0x7FFFFFFFFFFFFFFFUL, 0x43E0000000000000UL, 0x5FA0u).SetName("LargestInt64ToDoubleRoundsUp");
        yield return new TestCaseData("cvtsi2ssq", 0x5F80u, 0x0UL, 0x8000000000000001UL, 0x00000000DEFFFFFFUL, 0x5FA0u).SetName("NegativeInt64ToSingleRoundsUp");
        yield return new TestCaseData("cvtdq2ps", 0x5F80u, 0x0UL, 0x100000181000001UL, 0x4B800001CEFDFFFFUL, 0x5FA0u).SetName("PackedIntegerToSingleRoundsUp");
        yield return new TestCaseData("subsd", 0x5F80u, 0x3FF8000000000000UL, 0x3FF8000000000000UL, 0x0000000000000000UL, 0x5F80u).SetName("ExactCancellationSignRoundingUp");
        yield return new TestCaseData("addsd", 0x7F80u, 0x3FF0000000000000UL, 0x3CA0000000000000UL, 0x3FF0000000000000UL, 0x7FA0u).SetName("SumHalfwayBetweenNeighboursRoundsTowardZero");
        yield return new TestCaseData("addsd", 0x7F80u, 0xBFF0000000000000UL, 0xBCA0000000000000UL, 0xBFF0000000000000UL, 0x7FA0u).SetName("NegativeSumHalfwayBetweenNeighboursRoundsTowardZero");
        yield return new TestCaseData("divsd", 0x7F80u, 0x3FF0000000000000UL, 0x4008000000000000UL, 0x3FD5555555555555UL, 0x7FA0u).SetName("QuotientOneThirdRoundsTowardZero");
        yield return new TestCaseData("divsd", 0x7F80u, 0xC000000000000000UL, 0x4008000000000000UL, 0xBFE5555555555555UL, 0x7FA0u).SetName("NegativeQuotientRoundsTowardZero");
        yield return new TestCaseData("sqrtsd", 0x7F80u, 0x0UL, 0x4000000000000000UL, 0x3FF6A09E667F3BCCUL, 0x7FA0u).SetName("SquareRootOfTwoRoundsTowardZero");
        yield return new TestCaseData("mulsd", 0x7F80u, 0x7FEFFFFFFFFFFFFFUL, 0x4000000000000000UL, 0x7FEFFFFFFFFFFFFFUL, 0x7FA8u).SetName("ProductOverflowRoundsTowardZero");
        yield return new TestCaseData("mulsd", 0x7F80u, 0xFFEFFFFFFFFFFFFFUL, 0x4000000000000000UL, 0xFFEFFFFFFFFFFFFFUL, 0x7FA8u).SetName("NegativeProductOverflowRoundsTowardZero");
        yield return new TestCaseData("mulsd", 0x7F80u, 0x20B01B8DEF9E5187UL, 0x1F4FC94266515BC9UL, 0x000FFFFFFFFFFFFFUL, 0x7FB0u).SetName("ProductJustBelowSmallestNormalRoundsTowardZero");
        yield return new TestCaseData("mulsd", 0x7F80u, 0xA0B01B8DEF9E5187UL, 0x1F4FC94266515BC9UL, 0x800FFFFFFFFFFFFFUL, 0x7FB0u).SetName("NegativeProductJustBelowSmallestNormalRoundsTowardZero");
        yield return new TestCaseData("mulsd", 0x7F80u, 0x10000000000000UL, 0x3FD5555555555555UL, 0x0005555555555555UL, 0x7FB0u).SetName("SubnormalProductRoundsTowardZero");
        yield return new TestCaseData("addss", 0x7F80u, 0x3F800000UL, 0x33800000UL, 0x000000003F800000UL, 0x7FA0u).SetName("SingleSumRoundsTowardZero");
        yield return new TestCaseData("divss", 0x7F80u, 0xBF800000UL, 0x40400000UL, 0x00000000BEAAAAAAUL, 0x7FA0u).SetName("SingleQuotientRoundsTowardZero");
        yield return new TestCaseData("mulss", 0x7F80u, 0x7F7FFFFFUL, 0x40000000UL, 0x000000007F7FFFFFUL, 0x7FA8u).SetName("SingleProductOverflowRoundsTowardZero");
        yield return new TestCaseData("mulss", 0x7F80u, 0x21A1E58FUL, 0x1E4A6691UL, 0x00000000007FFFFFUL, 0x7FB0u).SetName("SingleProductJustBelowSmallestNormalRoundsTowardZero");
        yield return new TestCaseData("cvtsd2ss", 0x7F80u, 0x0UL, 0x3FB999999999999AUL, 0x000000003DCCCCCCUL, 0x7FA0u).SetName("NarrowingTenthRoundsTowardZero");
        yield return new TestCaseData("cvtsd2ss", 0x7F80u, 0x0UL, 0xC8078287F49C4A1DUL, 0x00000000FF7FFFFFUL, 0x7FA8u).SetName("NarrowingPastSingleRangeRoundsTowardZero");
        yield return new TestCaseData("cvtsi2ssl", 0x7F80u, 0x0UL, 0x1000001UL, 0x000000004B800000UL, 0x7FA0u).SetName("Integer2Pow24Plus1ToSingleRoundsTowardZero");
        yield return new TestCaseData("cvtsi2sdq", 0x7F80u, 0x0UL, 0x7FFFFFFFFFFFFFFFUL, 0x43DFFFFFFFFFFFFFUL, 0x7FA0u).SetName("LargestInt64ToDoubleRoundsTowardZero");
        yield return new TestCaseData("cvtsi2ssq", 0x7F80u, 0x0UL, 0x8000000000000001UL, 0x00000000DEFFFFFFUL, 0x7FA0u).SetName("NegativeInt64ToSingleRoundsTowardZero");
        yield return new TestCaseData("cvtdq2ps", 0x7F80u, 0x0UL, 0x100000181000001UL, 0x4B800000CEFDFFFFUL, 0x7FA0u).SetName("PackedIntegerToSingleRoundsTowardZero");
        yield return new TestCaseData("subsd", 0x7F80u, 0x3FF8000000000000UL, 0x3FF8000000000000UL, 0x0000000000000000UL, 0x7F80u).SetName("ExactCancellationSignRoundingTowardZero");
        yield return new TestCaseData("addsd", 0x7F80u, 0x7FEFFFFFFFFFFFFFUL, 0x7C98000000000000UL, 0x7FEFFFFFFFFFFFFFUL, 0x7FA0u).SetName("SumJustPastLargestFiniteTowardZeroIsLargestFiniteWithoutOverflow");
        yield return new TestCaseData("addsd", 0x7F80u, 0x7FEFFFFFFFFFFFFFUL, 0x7CA0000000000000UL, 0x7FEFFFFFFFFFFFFFUL, 0x7FA8u).SetName("SumReachingTwoToThe1024TowardZeroOverflows");
        yield return new TestCaseData("subsd", 0x3F80u, 0xFFEFFFFFFFFFFFFFUL, 0x7C98000000000000UL, 0xFFF0000000000000UL, 0x3FA8u).SetName("NegativeSumJustPastLargestFiniteRoundingDownOverflowsToInfinity");
        yield return new TestCaseData("addsd", 0x3F80u, 0x0UL, 0x8000000000000000UL, 0x8000000000000000UL, 0x3F80u).SetName("SumOfOppositeZerosRoundingDownIsNegativeZero");
        yield return new TestCaseData("addsd", 0x3F80u, 0x0UL, 0x0UL, 0x0000000000000000UL, 0x3F80u).SetName("SumOfPositiveZerosRoundingDownIsPositiveZero");
        yield return new TestCaseData("mulsd", 0x9F80u, 0x10000000000000UL, 0x3FE0000000000000UL, 0x0000000000000000UL, 0x9FB0u).SetName("FlushToZeroReplacesExactTinyProductWithZero");
        yield return new TestCaseData("subsd", 0x9F80u, 0x18000000000000UL, 0x10000000000000UL, 0x0000000000000000UL, 0x9FB0u).SetName("FlushToZeroReplacesExactTinyDifferenceWithZero");
        yield return new TestCaseData("mulsd", 0x9F80u, 0x8010000000000000UL, 0x3FD0000000000000UL, 0x8000000000000000UL, 0x9FB0u).SetName("FlushToZeroKeepsTheSignOfTheTinyResult");
        yield return new TestCaseData("mulsd", 0x9F80u, 0x20B01B8DEF9E5187UL, 0x1F4FC94266515BC9UL, 0x0010000000000000UL, 0x9FA0u).SetName("FlushToZeroLeavesResultThatRoundsToSmallestNormal");
        yield return new TestCaseData("mulsd", 0xDF80u, 0x20B01B8DEF9E5187UL, 0x1F4FC94266515BC9UL, 0x0010000000000000UL, 0xDFA0u).SetName("FlushToZeroRoundingUpLeavesResultThatRoundsToSmallestNormal");
        yield return new TestCaseData("mulsd", 0xBF80u, 0x20B01B8DEF9E5187UL, 0x1F4FC94266515BC9UL, 0x0000000000000000UL, 0xBFB0u).SetName("FlushToZeroRoundingDownFlushesResultBelowSmallestNormal");
        yield return new TestCaseData("cvtsd2ss", 0x9F80u, 0x0UL, 0x3800000000000000UL, 0x0000000000000000UL, 0x9FB0u).SetName("FlushToZeroAppliesToNarrowing");
        yield return new TestCaseData("minsd", 0x9F80u, 0x1UL, 0x3UL, 0x0000000000000001UL, 0x9F82u).SetName("FlushToZeroDoesNotTouchMinimum");
        yield return new TestCaseData("addsd", 0x9F80u, 0x1UL, 0x0UL, 0x0000000000000000UL, 0x9FB2u).SetName("FlushToZeroAddingDenormalToZeroFlushesAndReportsDenormal");
        yield return new TestCaseData("mulss", 0x9F80u, 0x800000UL, 0x3F000000UL, 0x0000000000000000UL, 0x9FB0u).SetName("FlushToZeroSingleProduct");
        yield return new TestCaseData("addsd", 0x1FC0u, 0x1UL, 0x3FF0000000000000UL, 0x3FF0000000000000UL, 0x1FC0u).SetName("DenormalsAreZeroMakesSumWithOneExact");
        yield return new TestCaseData("minsd", 0x1FC0u, 0x0UL, 0x1UL, 0x0000000000000000UL, 0x1FC0u).SetName("DenormalsAreZeroMinimumReturnsTheZeroedSource");
        yield return new TestCaseData("minsd", 0x1FC0u, 0x8000000000000001UL, 0x5UL, 0x0000000000000000UL, 0x1FC0u).SetName("DenormalsAreZeroMinimumOfOppositeDenormalsReturnsZeroedSource");
        yield return new TestCaseData("maxsd", 0x1FC0u, 0x5UL, 0x8000000000000001UL, 0x8000000000000000UL, 0x1FC0u).SetName("DenormalsAreZeroMaximumReturnsNegativeZeroForNegativeDenormalSource");
        yield return new TestCaseData("cmpeqsd", 0x1FC0u, 0x1UL, 0x0UL, 0xFFFFFFFFFFFFFFFFUL, 0x1FC0u).SetName("DenormalsAreZeroCompareEqualsZero");
        yield return new TestCaseData("comisd", 0x1FC0u, 0x1UL, 0x8000000000000003UL, 0x40UL, 0x1FC0u).SetName("DenormalsAreZeroComisdReportsEqual");
        yield return new TestCaseData("cvtss2sd", 0x1FC0u, 0x0UL, 0x80000001UL, 0x8000000000000000UL, 0x1FC0u).SetName("DenormalsAreZeroWideningDenormalGivesSignedZero");
        yield return new TestCaseData("cvtsd2ss", 0x1FC0u, 0x0UL, 0x1UL, 0x0000000000000000UL, 0x1FC0u).SetName("DenormalsAreZeroNarrowingDoubleDenormalIsExactZero");
        yield return new TestCaseData("cvtsd2si", 0x5FC0u, 0x0UL, 0x1UL, 0x0000000000000000UL, 0x5FC0u).SetName("DenormalsAreZeroConversionToIntegerRoundingUpGivesZero");
        yield return new TestCaseData("sqrtsd", 0x1FC0u, 0x0UL, 0x8000000000000001UL, 0x8000000000000000UL, 0x1FC0u).SetName("DenormalsAreZeroSquareRootOfNegativeDenormalIsNegativeZero");
        yield return new TestCaseData("divsd", 0x1FC0u, 0x3FF0000000000000UL, 0x1UL, 0x7FF0000000000000UL, 0x1FC4u).SetName("DenormalsAreZeroDivisionByDenormalDividesByZero");
        yield return new TestCaseData("divsd", 0x1FC0u, 0x1UL, 0x1UL, 0xFFF8000000000000UL, 0x1FC1u).SetName("DenormalsAreZeroDenormalOverDenormalIsInvalid");
        yield return new TestCaseData("mulss", 0x1FC0u, 0x1UL, 0x3F800000UL, 0x0000000000000000UL, 0x1FC0u).SetName("DenormalsAreZeroSingleProductOfDenormalsIsZero");
        yield return new TestCaseData("addsd", 0x3FC0u, 0x1UL, 0x8000000000000000UL, 0x8000000000000000UL, 0x3FC0u).SetName("DenormalsAreZeroOppositeZeroedDenormalsRoundingDownSumToNegativeZero");
    }

    [TestCaseSource(nameof(Cases))]
    public void OperationGivesTheHardwareResultAndFlags(string op, uint mxcsr, ulong a, ulong b, ulong result, uint expectedMxcsr)
    {
        var (r, mx, trapped) = Run(op, mxcsr, a, b);
        Assert.That(trapped, Is.False, "no #XM with every exception masked");
        Assert.That((r, mx), Is.EqualTo((result, expectedMxcsr)));
    }

    private static IEnumerable<TestCaseData> TrapCases()
    {
        // (op, MXCSR before, a, b, MXCSR the #XM handler sees): read from hardware in a SIGFPE handler.
        yield return new TestCaseData("mulsd", 0x9780u, 0x0010000000000000UL, 0x3FE0000000000000UL, 0x9790u).SetName("FlushToZeroDoesNotApplyWithUnderflowUnmasked");
        yield return new TestCaseData("mulsd", 0xB780u, 0x20B01B8DEF9E5187UL, 0x1F4FC94266515BC9UL, 0xB7B0u).SetName("UnmaskedUnderflowJudgesTininessWithTheRoundingControl");
        yield return new TestCaseData("addsd", 0x5780u, 0x0010000000000001UL, 0x8010000000000000UL, 0x5790u).SetName("UnmaskedUnderflowTrapsOnExactTinyDifferenceRoundingUp");
        yield return new TestCaseData("divss", 0x1B80u, 0xE6F5DE6EUL, 0x00008000UL, 0x1B8Au).SetName("UnmaskedOverflowOfExactUnboundedQuotientReportsNoInexact");
        yield return new TestCaseData("divss", 0x7B80u, 0xE6F5DE6EUL, 0x00008000UL, 0x7B8Au).SetName("UnmaskedOverflowTowardZeroStillTraps");
        yield return new TestCaseData("mulsd", 0x5B80u, 0x4000000000000000UL, 0x7FE0000000000000UL, 0x5B88u).SetName("UnmaskedOverflowOfExactProductRoundingUpReportsOnlyOverflow");
        yield return new TestCaseData("cvtsd2ss", 0x1B80u, 0UL, 0x47F0000000000000UL, 0x1B88u).SetName("UnmaskedOverflowOfExactNarrowingReportsOnlyOverflow");
        yield return new TestCaseData("cvtsd2ss", 0x7B80u, 0UL, 0x47F0000000000001UL, 0x7BA8u).SetName("UnmaskedOverflowOfInexactNarrowingReportsInexactToo");
        yield return new TestCaseData("addsd", 0x1E80u, 1UL, 0x3FF0000000000000UL, 0x1E82u).SetName("UnmaskedDenormalOperandTrapsWithoutDenormalsAreZero");
        yield return new TestCaseData("addsd", 0x0FA0u, 0x3FF0000000000000UL, 0x3BC79CA10C924223UL, 0x0FA0u).SetName("UnmaskedInexactTrapsWithInexactAlreadySet");
        yield return new TestCaseData("mulss", 0x0FA0u, 0x3F800001UL, 0x3F800001UL, 0x0FA0u).SetName("UnmaskedInexactSingleProductTrapsWithInexactAlreadySet");
    }

    [TestCaseSource(nameof(TrapCases))]
    public void UnmaskedExceptionUnderControlsTrapsAsHardwareDoes(string op, uint mxcsr, ulong a, ulong b, uint expected)
    {
        var (r, mx, trapped) = Run(op, mxcsr, a, b);
        Assert.That(trapped, Is.True, "#XM");
        Assert.That(mx, Is.EqualTo(expected));
        Assert.That(r, Is.EqualTo(a), "destination not written");
    }

    [Test]
    public void DenormalsAreZeroSuppressesAnUnmaskedDenormalOperandException()
    {
        var (r, mx, trapped) = Run("addsd", 0x1EC0, 1, 0x3FF0_0000_0000_0000);
        Assert.That(trapped, Is.False);
        Assert.That((r, mx), Is.EqualTo((0x3FF0_0000_0000_0000UL, 0x1EC0u)));
    }
}
