using System.Text;
using Iced.Intel;
using NUnit.Framework;

namespace Paravirt.Cpu.Tests.Differential;

/// <summary>
/// The emulated CPU against real hardware: every instruction form the harness knows (a curated table of edge
/// states per form) and seeded random straight-line streams. Hardware is this process's own CPU through
/// tests/native/cpurunner (and KVM where /dev/kvm exists, see <see cref="KvmRunnerTests"/>).
/// </summary>
public class DifferentialTests : HostDifferentialFixture
{
    /// <summary>Runs one snippet on both; returns the divergence report or null.</summary>
    private string? Compare(MachineState start, byte[] code, List<Instruction> listing, ulong undefinedFlags, ushort? fswMask = null)
    {
        var hw = start.Clone();
        var emu = start.Clone();
        Hardware.Run(hw, code);
        Emulator.Run(emu, code);
        var diff = fswMask is ushort m
            ? StateComparer.Difference(hw, emu, undefinedFlags, m)
            : StateComparer.Difference(hw, emu, undefinedFlags);
        if (diff == null) return null;
        return StateComparer.Listing(listing, hw.Rip) + diff;
    }

    [Test]
    public void EveryInstructionFormMatchesHardwareOnEdgeStates()
    {
        var failures = new StringBuilder();
        int divergent = 0, runs = 0;
        foreach (var code in StreamGenerator.Templates)
        {
            var gen = new StreamGenerator((int)code * 7919);
            for (int k = 0; k < 6; k++)
            {
                var listing = new List<Instruction>();
                var bytes = gen.Stream(1, listing, out ulong undefinedFlags, [code]);
                if (listing.Count == 0) continue;
                runs++;
                var diff = Compare(gen.RandomState(), bytes, listing, undefinedFlags);
                if (diff == null) continue;
                if (divergent++ < 25) failures.AppendLine($"{code}:").Append(diff);
                break;
            }
        }
        TestContext.Out.WriteLine($"{StreamGenerator.Templates.Length} instruction forms, {runs} runs, {divergent} divergent forms");
        Assert.That(divergent, Is.Zero, failures.ToString());
    }

    [Test]
    public void SeededRandomInstructionStreamsMatchHardware() => RunStreams(seed: 1, streams: 600, length: 32);

    /// <summary>The long run (≥ 1,000,000 instructions): PV_DIFF_INSTRUCTIONS overrides the count.</summary>
    [Test, Explicit("long run: about a million random instructions")]
    public void MillionRandomInstructionsMatchHardware()
    {
        long target = long.TryParse(Environment.GetEnvironmentVariable("PV_DIFF_INSTRUCTIONS"), out var n) ? n : 1_250_000; // faults end streams early: a little over 1,000,000 executed
        RunStreams(seed: 20261125, streams: (int)(target / 32) + 1, length: 32);
    }

    private void RunStreams(int seed, int streams, int length)
    {
        _ = Hardware;
        var gen = new StreamGenerator(seed);
        var failures = new StringBuilder();
        int divergent = 0;
        long executed = 0, faulted = 0;
        for (int s = 0; s < streams; s++)
        {
            var listing = new List<Instruction>();
            var undefinedBefore = new List<ulong>();
            var bytes = gen.Stream(length, listing, undefinedBefore, out ulong undefinedFlags);
            var start = gen.RandomState();
            var hw = start.Clone();
            var emu = start.Clone();
            Hardware.Run(hw, bytes);
            Emulator.Run(emu, bytes);
            int done = listing.FindIndex(i => i.IP == hw.Rip);
            executed += done < 0 ? listing.Count : done;
            if (hw.Vector >= 0) faulted++;
            if (done >= 0) undefinedFlags = undefinedBefore[done];
            var diff = StateComparer.Difference(hw, emu, undefinedFlags);
            if (diff == null) continue;
            if (divergent++ < 10)
            {
                failures.AppendLine($"stream {s} (seed {seed}), start gprs {string.Join(' ', start.Gpr.Select(g => g.ToString("x")))}:")
                    .Append(StateComparer.Listing(listing, hw.Rip)).Append(diff);
                failures.Append(FirstDivergence(start, bytes, listing, undefinedBefore));
            }
        }
        TestContext.Out.WriteLine($"{streams} streams, {executed} instructions executed on both, {faulted} ended in a fault, {divergent} divergent");
        Assert.That(divergent, Is.Zero, failures.ToString());
    }

    /// <summary>Shortest prefix of a divergent stream that still diverges: names the guilty instruction.</summary>
    private string FirstDivergence(MachineState start, byte[] bytes, List<Instruction> listing, List<ulong> undefinedBefore)
    {
        for (int k = 1; k <= listing.Count; k++)
        {
            int end = k < listing.Count ? (int)(listing[k].IP - MachineState.CodeVa) : bytes.Length;
            ulong undefinedAfter = k < listing.Count ? undefinedBefore[k] : ulong.MaxValue;
            var hw = start.Clone();
            var emu = start.Clone();
            Hardware.Run(hw, bytes.AsSpan(0, end));
            Emulator.Run(emu, bytes.AsSpan(0, end));
            var diff = StateComparer.Difference(hw, emu, k < listing.Count ? undefinedAfter : 0xCD5);
            if (diff == null) continue;
            var before = start.Clone();
            if (k > 1)
            {
                int prev = (int)(listing[k - 1].IP - MachineState.CodeVa);
                Hardware.Run(before, bytes.AsSpan(0, prev));
            }
            var sb = new StringBuilder($"  first divergence after instruction {k - 1}; x87 before it: fcw {before.Fcw:x4} fsw {before.Fsw:x4} ftw {before.Ftw:x2}");
            for (int i = 0; i < 8; i++) sb.Append($" st{i}={before.StSignExp(i):x4}:{before.StMantissa(i):x16}");
            sb.AppendLine().Append(StateComparer.Listing(listing.Skip(k - 1).Take(1))).Append(diff);
            return sb.ToString();
        }
        return "  (no prefix diverges alone)\n";
    }

    [Test]
    public void RepeatedStringInstructionsMatchHardware()
    {
        var failures = new StringBuilder();
        var gen = new StreamGenerator(77);
        Action<Assembler>[] programs =
        [
            a => a.rep.movsb(),
            a => a.rep.movsq(),
            a => a.rep.stosb(),
            a => a.rep.stosd(),
            a => a.repe.cmpsb(),
            a => a.repne.scasb(),
            a => a.repe.scasq(),
            a => a.lodsw(),
            a => { a.std(); a.rep.movsd(); a.cld(); },
            a => { a.std(); a.rep.stosw(); a.cld(); },
        ];
        for (int p = 0; p < programs.Length; p++)
        {
            for (int k = 0; k < 8; k++)
            {
                var asm = new Assembler(64);
                programs[p](asm);
                var writer = new MemoryStream();
                asm.Assemble(new StreamCodeWriter(writer), MachineState.CodeVa);
                var bytes = writer.ToArray();
                var state = gen.RandomState();
                // Pointers inside the sandbox (sometimes running into the guard page), small counts.
                state.Gpr[6] = MachineState.SandboxVa + (ulong)(k * 0x7F1 % 0x8000);
                state.Gpr[7] = MachineState.SandboxVa + 0x8000 + (ulong)(k * 0x3F7 % 0x7F00);
                state.Gpr[1] = k == 7 ? 0x4000 : (ulong)(k * 37 % 300);
                state.Gpr[0] = state.Sandbox[k];
                if (k % 2 == 0) Array.Copy(state.Sandbox, 0, state.Sandbox, 0x8000 + k * 0x3F7 % 0x7F00, 64);
                var diff = Compare(state, bytes, [], 0);
                if (diff != null) failures.AppendLine($"program {p} case {k}:").Append(diff);
            }
        }
        Assert.That(failures.ToString(), Is.Empty);
    }
}
