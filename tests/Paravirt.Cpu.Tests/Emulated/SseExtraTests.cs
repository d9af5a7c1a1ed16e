using Iced.Intel;
using NUnit.Framework;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>The rest of the SSE2 baseline: compares, shuffles, conversions, saturating and multiplying ops.</summary>
public class SseExtraTests
{
    private static GuestMachine Run(Action<Assembler> build, Action<GuestMachine> setup)
    {
        var m = new GuestMachine();
        m.Load(a => { build(a); a.int3(); });
        setup(m);
        m.RunToBreakpoint();
        return m;
    }

    private static ulong D(double v) => BitConverter.DoubleToUInt64Bits(v);

    [Test]
    public void CmpsdPredicatesTreatNaNAsUnordered()
    {
        using var m = Run(a =>
        {
            a.movapd(xmm1, xmm0); a.cmpsd(xmm1, xmm2, 1);   // lt: 1 < 2
            a.movapd(xmm3, xmm0); a.cmpsd(xmm3, xmm4, 4);   // neq with NaN: true
            a.movapd(xmm5, xmm0); a.cmpsd(xmm5, xmm4, 0);   // eq with NaN: false
        }, m =>
        {
            m.Regs.Xmm[0] = D(1); m.Regs.Xmm[1] = 0x1234;
            m.Regs.Xmm[4] = D(2);
            m.Regs.Xmm[8] = D(double.NaN);
        });
        Assert.That(m.Regs.Xmm[2], Is.EqualTo(ulong.MaxValue));
        Assert.That(m.Regs.Xmm[3], Is.EqualTo(0x1234UL), "upper half kept");
        Assert.That(m.Regs.Xmm[6], Is.EqualTo(ulong.MaxValue));
        Assert.That(m.Regs.Xmm[10], Is.Zero);
    }

    [Test]
    public void ShufpsAndPshuflwPickLanesByImmediate()
    {
        using var m = Run(a => { a.shufps(xmm0, xmm1, 0b00_01_10_11); a.pshuflw(xmm2, xmm1, 0b00_00_00_11); }, m =>
        {
            m.Regs.Xmm[0] = 0x0000_0001_0000_0000; m.Regs.Xmm[1] = 0x0000_0003_0000_0002;
            m.Regs.Xmm[2] = 0x0000_0005_0000_0004; m.Regs.Xmm[3] = 0x0000_0007_0000_0006;
        });
        Assert.That(m.Regs.Xmm[0], Is.EqualTo(0x0000_0002_0000_0003UL));
        Assert.That(m.Regs.Xmm[1], Is.EqualTo(0x0000_0004_0000_0005UL));
        Assert.That(m.Regs.Xmm[4], Is.EqualTo(0x0004_0004_0004_0000UL));
        Assert.That(m.Regs.Xmm[5], Is.EqualTo(0x0000_0007_0000_0006UL));
    }

    [Test]
    public void PackedConversionsRoundOrTruncateAndOutOfRangeGivesIndefinite()
    {
        using var m = Run(a => { a.cvttpd2dq(xmm0, xmm1); a.cvtpd2dq(xmm2, xmm1); a.cvtdq2pd(xmm3, xmm0); }, m =>
        {
            m.Regs.Xmm[2] = D(-2.5); m.Regs.Xmm[3] = D(3e10);
        });
        Assert.That(m.Regs.Xmm[0], Is.EqualTo(0x8000_0000_FFFF_FFFEUL));
        Assert.That(m.Regs.Xmm[1], Is.Zero);
        Assert.That(m.Regs.Xmm[4], Is.EqualTo(0x8000_0000_FFFF_FFFEUL), "nearest-even: -2.5 -> -2");
        Assert.That(m.Regs.Xmm[6], Is.EqualTo(D(-2)));
        Assert.That(m.Regs.Xmm[7], Is.EqualTo(D(int.MinValue)));
    }

    [Test]
    public void SaturatingArithmeticAndPacksClamp()
    {
        using var m = Run(a => { a.paddsw(xmm0, xmm1); a.psubusb(xmm2, xmm3); a.packuswb(xmm4, xmm5); a.pmaddwd(xmm6, xmm7); }, m =>
        {
            m.Regs.Xmm[0] = 0x7FFF; m.Regs.Xmm[2] = 1;                // paddsw: words 32767 + 1
            m.Regs.Xmm[4] = 0x10; m.Regs.Xmm[6] = 0x20;                 // psubusb: bytes 0x10 - 0x20
            m.Regs.Xmm[8] = 0x0001_0000_FFFF_0100;                      // packuswb: words 256, -1, 0, 1
            m.Regs.Xmm[12] = 0x0003_0002; m.Regs.Xmm[14] = 0x0005_0004; // pmaddwd
        });
        Assert.That(m.Regs.Xmm[0] & 0xFFFF, Is.EqualTo(0x7FFFUL), "32767 + 1 saturates");
        Assert.That(m.Regs.Xmm[4] & 0xFF, Is.Zero, "0x10 - 0x20 clamps to 0");
        Assert.That(m.Regs.Xmm[8], Is.EqualTo(0x0100_00FFUL), "256, -1, 0, 1 -> 255, 0, 0, 1");
        Assert.That(m.Regs.Xmm[12], Is.EqualTo(2UL * 4 + 3 * 5));
    }
}
