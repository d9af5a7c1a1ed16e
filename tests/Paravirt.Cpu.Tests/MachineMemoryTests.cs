using NUnit.Framework;
using Paravirt.Cpu;

namespace Paravirt.Cpu.Tests;

public class MachineMemoryTests
{
    [Test]
    public void FramesStartZeroedAndKeepWhatIsWritten()
    {
        using var memory = new MachineMemory(16);
        Assert.That(memory.ReadUInt64(5 * 4096 + 8), Is.Zero);
        memory.WriteUInt64(5 * 4096 + 8, 0x1122334455667788);
        Assert.That(memory.FrameForRead(5)[8], Is.EqualTo(0x88));
    }

    [Test]
    public void WritesBumpTheFrameGeneration()
    {
        using var memory = new MachineMemory(4);
        var before = memory.WriteGeneration(2);
        memory.Write(2 * 4096 + 100, new byte[] { 1, 2, 3 });
        Assert.That(memory.WriteGeneration(2), Is.Not.EqualTo(before));
    }

    [Test]
    public void AccessOutsideMachineMemoryIsRejected()
    {
        using var memory = new MachineMemory(4);
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.ReadUInt64(4 * 4096 - 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.FrameForWrite(4));
    }

    [Test]
    public void CpuWritesBumpTheGenerationOnlyOfFramesHoldingCode()
    {
        using var memory = new MachineMemory(4);
        var data = memory.WriteGeneration(1);
        Assert.That(memory.NoteCpuWrite(1), Is.False);
        Assert.That(memory.WriteGeneration(1), Is.EqualTo(data));
        memory.MarkHoldsCode(2);
        var code = memory.WriteGeneration(2);
        Assert.That(memory.NoteCpuWrite(2), Is.True);
        Assert.That(memory.WriteGeneration(2), Is.Not.EqualTo(code));
    }
}
