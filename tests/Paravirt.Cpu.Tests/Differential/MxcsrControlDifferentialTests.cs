using System.Buffers.Binary;
using System.Text;
using Iced.Intel;
using NUnit.Framework;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Differential;

/// <summary>
/// SSE/SSE2 floating point under every MXCSR rounding control, with and without FZ and DAZ, against real hardware:
/// a loop runs one instruction over a sandbox full of operand pairs, each with its own MXCSR (random rounding
/// control, FZ and DAZ, every exception masked, loaded by ldmxcsr before the instruction), and leaves each pair's
/// result, MXCSR and RAX in place of its operands and control; both
/// CPUs run the same snippet on the same sandbox and every byte is compared. Operands come from classes chosen to
/// hit the rounding edges: results next to the underflow and overflow thresholds, ties, cancellation, subnormals,
/// short significands (exact results), integers beyond the format's precision and the special values.
/// </summary>
public class MxcsrControlDifferentialTests : HostDifferentialFixture
{
    private enum Domain { Double, Single, PackedDouble, PackedSingle, NarrowDouble, Int64, Int32x4, ToIntDouble, ToIntSingle }

    private sealed record Form(string Name, Domain Domain, Action<Assembler> Emit);

    private static readonly Form[] Forms =
    [
        new("addsd", Domain.Double, a => a.addsd(xmm1, xmm2)), new("subsd", Domain.Double, a => a.subsd(xmm1, xmm2)),
        new("mulsd", Domain.Double, a => a.mulsd(xmm1, xmm2)), new("divsd", Domain.Double, a => a.divsd(xmm1, xmm2)),
        new("sqrtsd", Domain.Double, a => a.sqrtsd(xmm1, xmm2)),
        new("minsd", Domain.Double, a => a.minsd(xmm1, xmm2)), new("maxsd", Domain.Double, a => a.maxsd(xmm1, xmm2)),
        new("addss", Domain.Single, a => a.addss(xmm1, xmm2)), new("subss", Domain.Single, a => a.subss(xmm1, xmm2)),
        new("mulss", Domain.Single, a => a.mulss(xmm1, xmm2)), new("divss", Domain.Single, a => a.divss(xmm1, xmm2)),
        new("sqrtss", Domain.Single, a => a.sqrtss(xmm1, xmm2)),
        new("minss", Domain.Single, a => a.minss(xmm1, xmm2)), new("maxss", Domain.Single, a => a.maxss(xmm1, xmm2)),
        new("addpd", Domain.PackedDouble, a => a.addpd(xmm1, xmm2)), new("subpd", Domain.PackedDouble, a => a.subpd(xmm1, xmm2)),
        new("mulpd", Domain.PackedDouble, a => a.mulpd(xmm1, xmm2)), new("divpd", Domain.PackedDouble, a => a.divpd(xmm1, xmm2)),
        new("sqrtpd", Domain.PackedDouble, a => a.sqrtpd(xmm1, xmm2)),
        new("minpd", Domain.PackedDouble, a => a.minpd(xmm1, xmm2)), new("maxpd", Domain.PackedDouble, a => a.maxpd(xmm1, xmm2)),
        new("addps", Domain.PackedSingle, a => a.addps(xmm1, xmm2)), new("subps", Domain.PackedSingle, a => a.subps(xmm1, xmm2)),
        new("mulps", Domain.PackedSingle, a => a.mulps(xmm1, xmm2)), new("divps", Domain.PackedSingle, a => a.divps(xmm1, xmm2)),
        new("sqrtps", Domain.PackedSingle, a => a.sqrtps(xmm1, xmm2)),
        new("minps", Domain.PackedSingle, a => a.minps(xmm1, xmm2)), new("maxps", Domain.PackedSingle, a => a.maxps(xmm1, xmm2)),
        new("cmpltsd", Domain.Double, a => a.cmpsd(xmm1, xmm2, 1)), new("cmpeqss", Domain.Single, a => a.cmpss(xmm1, xmm2, 0)),
        new("cmpnlepd", Domain.PackedDouble, a => a.cmppd(xmm1, xmm2, 6)), new("cmpeqps", Domain.PackedSingle, a => a.cmpps(xmm1, xmm2, 0)),
        new("comisd", Domain.Double, a => { a.comisd(xmm1, xmm2); a.lahf(); }),
        new("ucomiss", Domain.Single, a => { a.ucomiss(xmm1, xmm2); a.lahf(); }),
        new("cvtsd2ss", Domain.NarrowDouble, a => a.cvtsd2ss(xmm1, xmm2)),
        new("cvtpd2ps", Domain.NarrowDouble, a => a.cvtpd2ps(xmm1, xmm2)),
        new("cvtss2sd", Domain.Single, a => a.cvtss2sd(xmm1, xmm2)),
        new("cvtps2pd", Domain.PackedSingle, a => a.cvtps2pd(xmm1, xmm2)),
        new("cvtsi2sd64", Domain.Int64, a => a.cvtsi2sd(xmm1, rax)),
        new("cvtsi2ss64", Domain.Int64, a => a.cvtsi2ss(xmm1, rax)),
        new("cvtsi2ss32", Domain.Int64, a => a.cvtsi2ss(xmm1, eax)),
        new("cvtdq2ps", Domain.Int32x4, a => a.cvtdq2ps(xmm1, xmm2)),
        new("cvtsd2si64", Domain.ToIntDouble, a => a.cvtsd2si(rax, xmm2)),
        new("cvttsd2si32", Domain.ToIntDouble, a => a.cvttsd2si(eax, xmm2)),
        new("cvtss2si32", Domain.ToIntSingle, a => a.cvtss2si(eax, xmm2)),
        new("cvtpd2dq", Domain.ToIntDouble, a => a.cvtpd2dq(xmm1, xmm2)),
        new("cvtps2dq", Domain.ToIntSingle, a => a.cvtps2dq(xmm1, xmm2)),
        new("cvttps2dq", Domain.ToIntSingle, a => a.cvttps2dq(xmm1, xmm2)),
    ];

    /// <summary>A pair: a (16 bytes), b (16 bytes), MXCSR to run with (4 bytes), 12 bytes that receive RAX.</summary>
    private const int PairBase = 16, PairSize = 48, Control = 32, Rax = 40;
    private const int PairsPerRun = (MachineState.SandboxSize - PairBase) / PairSize;

    /// <summary>The loop: ldmxcsr from the pair; load a and b (and RAX from b's low quadword); the instruction;
    /// store xmm1 over a, MXCSR over the control and RAX after it; next.</summary>
    private static byte[] Snippet(Form form)
    {
        var asm = new Assembler(64);
        var loop = asm.CreateLabel();
        asm.Label(ref loop);
        asm.ldmxcsr(__dword_ptr[rsi + Control]);
        asm.movdqa(xmm1, __xmmword_ptr[rsi]);
        asm.movdqa(xmm2, __xmmword_ptr[rsi + 16]);
        asm.mov(rax, __qword_ptr[rsi + 16]);
        form.Emit(asm);
        asm.stmxcsr(__dword_ptr[rsi + Control]);
        asm.movdqa(__xmmword_ptr[rsi], xmm1);
        asm.mov(__qword_ptr[rsi + Rax], rax);
        asm.add(rsi, PairSize);
        asm.dec(ecx);
        asm.jnz(loop);
        var writer = new MemoryStream();
        asm.Assemble(new StreamCodeWriter(writer), MachineState.CodeVa);
        return writer.ToArray();
    }

    /// <summary>Every exception masked, RC <paramref name="rc"/>, FZ and DAZ each half the time.</summary>
    private static uint ControlWord(Random g, int rc) =>
        0x1F80u | (uint)rc << 13 | (g.Next(2) == 0 ? 0x8000u : 0) | (g.Next(2) == 0 ? 0x40u : 0);

    [Test]
    public void EveryRoundingControlMatchesHardwareOnRandomOperandPairs() => RunPairs(seed: 1, pairsPerForm: 2 * PairsPerRun);

    /// <summary>The long run: PV_MXCSR_PAIRS (per form, default 100,000: about 1.2 million pairs per rounding
    /// control) overrides the count.</summary>
    [Test, Explicit("long run: about 5 million operand pairs")]
    public void MillionsOfOperandPairsPerRoundingControlMatchHardware()
    {
        int perForm = int.TryParse(Environment.GetEnvironmentVariable("PV_MXCSR_PAIRS"), out var n) ? n : 100_000;
        RunPairs(seed: 20261206, pairsPerForm: perForm);
    }

    private void RunPairs(int seed, int pairsPerForm)
    {
        _ = Hardware;
        var rng = new Random(seed);
        var failures = new StringBuilder();
        var perMode = new long[4];
        long underflows = 0, overflows = 0;
        int divergent = 0;
        int runsPerForm = Math.Max(1, (pairsPerForm + PairsPerRun - 1) / PairsPerRun);
        foreach (var form in Forms)
        {
            var code = Snippet(form);
            for (int run = 0; run < runsPerForm; run++)
            {
                var start = MachineState.Initial();
                start.Gpr[6] = MachineState.SandboxVa + PairBase;
                start.Gpr[1] = PairsPerRun;
                for (int p = 0; p < PairsPerRun; p++)
                {
                    var pair = start.Sandbox.AsSpan(PairBase + p * PairSize, PairSize);
                    FillPair(rng, form.Domain, pair);
                    int rc = rng.Next(4);
                    BinaryPrimitives.WriteUInt32LittleEndian(pair[Control..], ControlWord(rng, rc));
                    perMode[rc]++;
                }
                var hw = start.Clone();
                var emu = start.Clone();
                Hardware.Run(hw, code);
                Emulator.Run(emu, code);
                for (int p = 0; p < PairsPerRun; p++)
                {
                    uint flags = BinaryPrimitives.ReadUInt32LittleEndian(hw.Sandbox.AsSpan(PairBase + p * PairSize + Control));
                    if ((flags & 0x10) != 0) underflows++;
                    if ((flags & 0x08) != 0) overflows++;
                }
                string? diff = Differences(form, start, hw, emu);
                if (diff == null) continue;
                if (divergent++ < 8) failures.Append(diff);
            }
        }
        TestContext.Out.WriteLine($"{Forms.Length} forms; operand pairs per rounding control (nearest, down, up, toward zero; " +
            $"FZ and DAZ each on half of them): {string.Join(", ", perMode)}; hardware reported underflow on {underflows}, " +
            $"overflow on {overflows}; {divergent} divergent runs");
        Assert.That(divergent, Is.Zero, failures.ToString());
    }

    [Test]
    public void UnmaskedExceptionsUnderEveryRoundingControlMatchHardware() => RunTraps(seed: 2, runsPerForm: 24);

    [Test, Explicit("long run: about 50,000 single-instruction runs")]
    public void ThousandsOfUnmaskedExceptionRunsPerFormMatchHardware() => RunTraps(seed: 20261207, runsPerForm: 1000);

    /// <summary>One pair per run, with a random MXCSR: rounding control, FZ, DAZ, sticky flags, and each exception
    /// unmasked one time in three, so #XM (with the MXCSR the handler sees) is compared too.</summary>
    private void RunTraps(int seed, int runsPerForm)
    {
        _ = Hardware;
        var rng = new Random(seed);
        var failures = new StringBuilder();
        int divergent = 0, trapped = 0, runs = 0;
        foreach (var form in Forms)
        {
            var code = Snippet(form);
            for (int run = 0; run < runsPerForm; run++)
            {
                var start = MachineState.Initial();
                start.Gpr[6] = MachineState.SandboxVa + PairBase;
                start.Gpr[1] = 1;
                var pair = start.Sandbox.AsSpan(PairBase, PairSize);
                FillPair(rng, form.Domain, pair);
                uint mxcsr = ControlWord(rng, rng.Next(4));
                for (int bit = 0; bit < 6; bit++)
                {
                    if (rng.Next(3) == 0) mxcsr &= ~(0x80u << bit);
                    if (rng.Next(8) == 0) mxcsr |= 1u << bit;
                }
                BinaryPrimitives.WriteUInt32LittleEndian(pair[Control..], mxcsr);
                var hw = start.Clone();
                var emu = start.Clone();
                Hardware.Run(hw, code);
                Emulator.Run(emu, code);
                runs++;
                if (hw.Vector == 19) trapped++;
                var diff = StateComparer.Difference(hw, emu, 0);
                if (diff == null) continue;
                if (divergent++ < 8)
                {
                    var b = start.Sandbox.AsSpan(PairBase, PairSize);
                    failures.AppendLine($"  {form.Name} mxcsr {mxcsr:x4} a {Q(b, 8):x16}:{Q(b, 0):x16} b {Q(b, 24):x16}:{Q(b, 16):x16}").Append(diff);
                }
            }
        }
        TestContext.Out.WriteLine($"{runs} runs of {Forms.Length} forms, {trapped} ended in #XM on hardware, {divergent} divergent");
        Assert.That(divergent, Is.Zero, failures.ToString());
    }

    private static string? Differences(Form form, MachineState start, MachineState hw, MachineState emu)
    {
        var sb = new StringBuilder();
        if (hw.Vector != emu.Vector || hw.Vector != -1)
            sb.AppendLine($"  end: hardware vector {hw.Vector} at 0x{hw.Rip:x}, emulator {emu.Vector} at 0x{emu.Rip:x}");
        int shown = 0;
        for (int p = 0; p < PairsPerRun && shown < 6; p++)
        {
            int off = PairBase + p * PairSize;
            var h = hw.Sandbox.AsSpan(off, PairSize);
            var e = emu.Sandbox.AsSpan(off, PairSize);
            if (h.SequenceEqual(e)) continue;
            shown++;
            var s = start.Sandbox.AsSpan(off, PairSize);
            sb.AppendLine($"  {form.Name} mxcsr {Q(s, Control) & 0xFFFF:x4} a {Q(s, 8):x16}:{Q(s, 0):x16} b {Q(s, 24):x16}:{Q(s, 16):x16}");
            sb.AppendLine($"    hardware {Q(h, 8):x16}:{Q(h, 0):x16} mxcsr {Q(h, Control) & 0xFFFF:x4} rax {Q(h, Rax):x16}");
            sb.AppendLine($"    emulator {Q(e, 8):x16}:{Q(e, 0):x16} mxcsr {Q(e, Control) & 0xFFFF:x4} rax {Q(e, Rax):x16}");
        }
        var rest = StateComparer.Difference(hw, emu, 0);
        if (shown == 0 && rest != null) sb.Append(rest);
        return sb.Length == 0 ? null : sb.ToString();
    }

    private static ulong Q(Span<byte> s, int at) => BinaryPrimitives.ReadUInt64LittleEndian(s[at..]);

    /// <summary>a and b of one pair (the first 32 bytes).</summary>
    private static void FillPair(Random g, Domain domain, Span<byte> pair)
    {
        ulong a0, a1, b0, b1;
        switch (domain)
        {
            case Domain.Double: case Domain.PackedDouble:
                (a0, b0) = PairD(g);
                (a1, b1) = PairD(g);
                break;
            case Domain.Single: case Domain.PackedSingle:
            {
                var (x0, y0) = PairS(g); var (x1, y1) = PairS(g); var (x2, y2) = PairS(g); var (x3, y3) = PairS(g);
                a0 = x0 | (ulong)x1 << 32; a1 = x2 | (ulong)x3 << 32;
                b0 = y0 | (ulong)y1 << 32; b1 = y2 | (ulong)y3 << 32;
                break;
            }
            case Domain.NarrowDouble:
                a0 = AnyD(g); a1 = AnyD(g); b0 = NearSingleRange(g); b1 = NearSingleRange(g);
                break;
            case Domain.Int64:
                a0 = AnyD(g); a1 = AnyD(g); b0 = WideInteger(g, 64); b1 = WideInteger(g, 64);
                break;
            case Domain.Int32x4:
                a0 = AnyD(g); a1 = AnyD(g);
                b0 = WideInteger(g, 32) & 0xFFFF_FFFF | WideInteger(g, 32) << 32;
                b1 = WideInteger(g, 32) & 0xFFFF_FFFF | WideInteger(g, 32) << 32;
                break;
            case Domain.ToIntDouble:
                a0 = AnyD(g); a1 = AnyD(g); b0 = NearIntegerD(g); b1 = NearIntegerD(g);
                break;
            default:
                a0 = AnyD(g); a1 = AnyD(g);
                b0 = NearIntegerS(g) | (ulong)NearIntegerS(g) << 32;
                b1 = NearIntegerS(g) | (ulong)NearIntegerS(g) << 32;
                break;
        }
        BinaryPrimitives.WriteUInt64LittleEndian(pair, a0);
        BinaryPrimitives.WriteUInt64LittleEndian(pair[8..], a1);
        BinaryPrimitives.WriteUInt64LittleEndian(pair[16..], b0);
        BinaryPrimitives.WriteUInt64LittleEndian(pair[24..], b1);
    }

    // ---- operand classes; binary64 as (significand bits, exponent) pairs, binary32 likewise ----

    private static readonly ulong[] SpecialD =
    [
        0, 0x8000_0000_0000_0000, 0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000, 0x7FF8_0000_0000_0000,
        0x7FF4_0000_0000_0001, 1, 0x8000_0000_0000_0001, 0x000F_FFFF_FFFF_FFFF, 0x0010_0000_0000_0000,
        0x7FEF_FFFF_FFFF_FFFF, 0xFFEF_FFFF_FFFF_FFFF, 0x3FF0_0000_0000_0000,
    ];

    private static readonly uint[] SpecialS =
    [
        0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0x7FA0_0001, 1, 0x8000_0001, 0x007F_FFFF, 0x0080_0000,
        0x7F7F_FFFF, 0xFF7F_FFFF, 0x3F80_0000,
    ];

    /// <summary>A significand of <paramref name="bits"/> bits (hidden bit included): random, short (a few
    /// significant bits, for exact results and ties) or all ones.</summary>
    private static ulong Significand(Random g, int bits)
    {
        ulong top = 1UL << (bits - 1);
        return g.Next(6) switch
        {
            0 => top | (ulong)(uint)g.Next(0, 16) << (bits - 5),
            1 => top | (1UL << (bits - 1)) - 1,
            2 => top | (uint)g.Next(0, 8),
            _ => top | (ulong)g.NextInt64() & (top - 1),
        };
    }

    private static ulong Sign(Random g) => (ulong)g.Next(2) << 63;

    /// <summary>±significand * 2^e (e the exponent of the leading bit), as binary64 bits; subnormal or out of
    /// range exponents are left to the host conversion (ScaleB rounds them).</summary>
    private static ulong MakeD(Random g, int e)
    {
        double m = Significand(g, 53) * Math.Pow(2, -52);
        return BitConverter.DoubleToUInt64Bits(Math.ScaleB(m, e)) | Sign(g);
    }

    private static ulong AnyD(Random g) => g.Next(6) switch
    {
        0 => (ulong)g.NextInt64() | Sign(g),
        1 => SpecialD[g.Next(SpecialD.Length)],
        2 => (ulong)g.NextInt64(1, 1L << 52) >> g.Next(52) | Sign(g),
        3 => BitConverter.DoubleToUInt64Bits(g.Next(-1000, 1000) / 8.0),
        _ => MakeD(g, g.Next(-1022, 1024)),
    };

    private static (ulong, ulong) PairD(Random g)
    {
        switch (g.Next(9))
        {
            case 0: return (AnyD(g), AnyD(g));
            case 1: case 2:
            {
                // Product or quotient next to the underflow threshold (exponent -1022) or into the subnormals.
                int t = g.Next(-1080, -1016), e1 = g.Next(-1000, 1000);
                int e2 = g.Next(2) == 0 ? t - e1 : e1 - t;
                if (e2 is < -1022 or > 1023) return (MakeD(g, e1), MakeD(g, Math.Clamp(e2, -1022, 1023)));
                return (MakeD(g, e1), MakeD(g, e2));
            }
            case 3:
            {
                // Product or quotient next to the overflow threshold.
                int t = g.Next(1019, 1026), e1 = g.Next(0, 1023);
                int e2 = g.Next(2) == 0 ? t - e1 : e1 - t;
                return (MakeD(g, e1), MakeD(g, Math.Clamp(e2, -1022, 1023)));
            }
            case 4:
            {
                // Sum near the largest finite value.
                ulong big = 0x7FEF_FFFF_FFFF_FFFF - (ulong)g.Next(0, 4);
                ulong sign = Sign(g);
                return (big | sign, MakeD(g, g.Next(965, 1024)) & 0x7FFF_FFFF_FFFF_FFFF | (g.Next(4) == 0 ? ~sign & 1UL << 63 : sign));
            }
            case 5:
            {
                // a and a tie or a few units away: halfway sums, cancellation, tiny differences.
                ulong a = g.Next(3) == 0 ? MakeD(g, g.Next(-1030, -1000)) : MakeD(g, g.Next(-60, 60));
                double ad = BitConverter.UInt64BitsToDouble(a);
                double ulp = Math.BitIncrement(Math.Abs(ad)) - Math.Abs(ad);
                double b = g.Next(3) switch
                {
                    0 => ulp * (g.Next(1, 8) / 2.0) * (g.Next(2) == 0 ? 1 : -1),
                    1 => -ad + ulp * g.Next(-3, 4),
                    _ => ad * Math.Pow(2, -g.Next(50, 56)) * (g.Next(2) == 0 ? 1 : -1),
                };
                return (a, BitConverter.DoubleToUInt64Bits(b));
            }
            case 6:
                // Subnormals and the smallest normals, both signs.
                return ((ulong)g.NextInt64(0, 1L << 54) >> g.Next(2) | Sign(g), (ulong)g.NextInt64(0, 1L << 54) >> g.Next(2) | Sign(g));
            case 7:
            {
                int e = g.Next(-40, 40);
                return (MakeD(g, e), MakeD(g, e + g.Next(-60, 60)));
            }
            default:
                return (SpecialD[g.Next(SpecialD.Length)], AnyD(g));
        }
    }

    private static uint SignS(Random g) => (uint)g.Next(2) << 31;

    private static uint MakeS(Random g, int e)
    {
        double m = Significand(g, 24) * Math.Pow(2, -23);
        // Exponents below the normal range: build the subnormal by hand (the conversion would round).
        if (e < -126)
        {
            int shift = -126 - e;
            uint sig = shift > 24 ? 0 : (uint)(Significand(g, 24) >> shift);
            return (sig == 0 ? 1u : sig) | SignS(g);
        }
        return BitConverter.SingleToUInt32Bits((float)Math.ScaleB(m, e)) | SignS(g);
    }

    private static uint AnyS(Random g) => g.Next(6) switch
    {
        0 => (uint)g.Next() ^ (uint)g.Next(2) << 31,
        1 => SpecialS[g.Next(SpecialS.Length)],
        2 => (uint)g.Next(1, 1 << 23) >> g.Next(23) | SignS(g),
        3 => BitConverter.SingleToUInt32Bits(g.Next(-1000, 1000) / 8f),
        _ => MakeS(g, g.Next(-126, 128)),
    };

    private static (uint, uint) PairS(Random g)
    {
        switch (g.Next(9))
        {
            case 0: return (AnyS(g), AnyS(g));
            case 1: case 2:
            {
                int t = g.Next(-153, -120), e1 = g.Next(-100, 100);
                int e2 = g.Next(2) == 0 ? t - e1 : e1 - t;
                return (MakeS(g, e1), MakeS(g, Math.Clamp(e2, -126, 127)));
            }
            case 3:
            {
                int t = g.Next(123, 130), e1 = g.Next(0, 127);
                int e2 = g.Next(2) == 0 ? t - e1 : e1 - t;
                return (MakeS(g, e1), MakeS(g, Math.Clamp(e2, -126, 127)));
            }
            case 4:
            {
                uint big = 0x7F7F_FFFF - (uint)g.Next(0, 4);
                uint sign = SignS(g);
                return (big | sign, MakeS(g, g.Next(98, 128)) & 0x7FFF_FFFF | (g.Next(4) == 0 ? ~sign & 0x8000_0000 : sign));
            }
            case 5:
            {
                uint a = g.Next(3) == 0 ? MakeS(g, g.Next(-130, -110)) : MakeS(g, g.Next(-30, 30));
                float af = BitConverter.UInt32BitsToSingle(a);
                float ulp = MathF.BitIncrement(MathF.Abs(af)) - MathF.Abs(af);
                float b = g.Next(3) switch
                {
                    0 => ulp * (g.Next(1, 8) / 2f) * (g.Next(2) == 0 ? 1 : -1),
                    1 => -af + ulp * g.Next(-3, 4),
                    _ => af * MathF.Pow(2, -g.Next(21, 27)) * (g.Next(2) == 0 ? 1 : -1),
                };
                return (a, BitConverter.SingleToUInt32Bits(b));
            }
            case 6:
                return ((uint)g.Next(0, 1 << 25) >> g.Next(2) | SignS(g), (uint)g.Next(0, 1 << 25) >> g.Next(2) | SignS(g));
            case 7:
            {
                int e = g.Next(-20, 20);
                return (MakeS(g, e), MakeS(g, e + g.Next(-30, 30)));
            }
            default:
                return (SpecialS[g.Next(SpecialS.Length)], AnyS(g));
        }
    }

    /// <summary>Doubles for cvtsd2ss/cvtpd2ps: around binary32's underflow and overflow thresholds, ties at
    /// 24 bits, double denormals, anything.</summary>
    private static ulong NearSingleRange(Random g)
    {
        switch (g.Next(5))
        {
            case 0: return AnyD(g);
            case 1: return MakeD(g, g.Next(-155, -120));
            case 2: return MakeD(g, g.Next(124, 130));
            case 3:
            {
                // Significand bits below binary32's precision: exactly half, just above or just below.
                ulong d = MakeD(g, g.Next(-152, 130)) & ~0x1FFF_FFFFUL;
                return d | (ulong)(g.Next(4) switch { 0 => 0x1000_0000, 1 => 0x1000_0001, 2 => 0x0FFF_FFFF, _ => 0 });
            }
            default: return (ulong)g.NextInt64(1, 1L << 52) >> g.Next(52) | Sign(g);
        }
    }

    /// <summary>Integers of random width (and just past the 24/53-bit limits), both signs.</summary>
    private static ulong WideInteger(Random g, int width)
    {
        int bits = g.Next(4) == 0 ? g.Next(23, 27) : g.Next(4) == 0 ? g.Next(52, 56) : g.Next(1, width + 1);
        bits = Math.Min(bits, width);
        ulong v = (ulong)g.NextInt64() >> (64 - bits) | 1UL << (bits - 1);
        if (g.Next(3) == 0) v &= ~((1UL << Math.Max(0, bits - 26)) - 1) | 1UL << Math.Max(0, bits - 26);
        if (g.Next(2) == 0) v = 0 - v;
        return width == 32 ? (uint)v : v;
    }

    /// <summary>Values next to integers and halves (the rounding of cvt*2si), denormals, out of range.</summary>
    private static ulong NearIntegerD(Random g)
    {
        double k = g.Next(3) == 0 ? g.NextInt64(-(1L << 40), 1L << 40) : g.Next(-5, 6);
        double v = g.Next(6) switch
        {
            0 => k + 0.5,
            1 => Math.BitIncrement(k + 0.5),
            2 => Math.BitDecrement(k + 0.5),
            3 => k + 0.25 * g.Next(1, 4),
            4 => BitConverter.UInt64BitsToDouble(AnyD(g)),
            _ => k,
        };
        return BitConverter.DoubleToUInt64Bits(v);
    }

    private static uint NearIntegerS(Random g)
    {
        float k = g.Next(-5000, 5000);
        float v = g.Next(6) switch
        {
            0 => k + 0.5f,
            1 => MathF.BitIncrement(k + 0.5f),
            2 => MathF.BitDecrement(k + 0.5f),
            3 => k + 0.25f * g.Next(1, 4),
            4 => BitConverter.UInt32BitsToSingle(AnyS(g)),
            _ => k,
        };
        return BitConverter.SingleToUInt32Bits(v);
    }
}
