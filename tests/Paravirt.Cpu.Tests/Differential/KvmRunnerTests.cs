using System.Text;
using Iced.Intel;
using NUnit.Framework;

namespace Paravirt.Cpu.Tests.Differential;

/// <summary>The differential comparison against KVM (real hardware in a VM) where /dev/kvm exists.</summary>
[NonParallelizable]
public class KvmRunnerTests
{
    [Test]
    public void RandomInstructionStreamsMatchKvm()
    {
        using var kvm = KvmRunner.TryCreate(out var why);
        if (kvm == null) Assert.Ignore(why);
        using var emulator = new EmulatorRunner();
        var gen = new StreamGenerator(4242);
        var failures = new StringBuilder();
        int divergent = 0;
        for (int s = 0; s < 300; s++)
        {
            var listing = new List<Instruction>();
            var undefinedBefore = new List<ulong>();
            var bytes = gen.Stream(32, listing, undefinedBefore, out ulong undefinedFlags);
            var start = gen.RandomState();
            var hw = start.Clone();
            var emu = start.Clone();
            kvm.Run(hw, bytes);
            emulator.Run(emu, bytes);
            int done = listing.FindIndex(i => i.IP == hw.Rip);
            if (done >= 0) undefinedFlags = undefinedBefore[done];
            var diff = StateComparer.Difference(hw, emu, undefinedFlags);
            if (diff != null && divergent++ < 10) failures.Append(StateComparer.Listing(listing, hw.Rip)).Append(diff);
        }
        Assert.That(divergent, Is.Zero, failures.ToString());
    }
}
