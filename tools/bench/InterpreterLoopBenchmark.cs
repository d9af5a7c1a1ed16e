using BenchmarkDotNet.Attributes;
using Iced.Intel;
using Paravirt.Cpu;
using Paravirt.Cpu.Emulated;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Bench;

/// <summary>
/// `./bench micro`: BenchmarkDotNet over the interpreter's hot loop without the hypervisor — a bitwise CRC32
/// over 4 KiB (loads, shifts, xor, a data-dependent branch per bit) run on one EmulatedVcpu at CPL 3. Report
/// time per run; <see cref="InstructionsPerRun"/> converts it to guest instructions per second.
/// </summary>
[MemoryDiagnoser]
public class InterpreterLoopBenchmark : IDisposable
{
    private const ulong Code = 0x40_0000, Data = 0x60_0000;
    private const int DataBytes = 4096;
    private MachineMemory _memory = null!;
    private EmulatedVcpu _vcpu = null!;
    private ulong _next = 1;

    /// <summary>Guest instructions one <see cref="Crc32Loop"/> executes (measured in setup).</summary>
    public ulong InstructionsPerRun { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        _memory = new MachineMemory(256);
        _vcpu = new EmulatedPlatform().CreateEmulatedVcpu(_memory);
        ulong l4 = Alloc();
        var r = _vcpu.Registers;
        r.Cr3 = l4 << 12;
        r.Cs = 0xe033;
        r.Ss = 0xe02b;
        ulong codeFrame = Map(l4, Code, PageTableWalker.Present | PageTableWalker.User);
        Map(l4, Data, PageTableWalker.Present | PageTableWalker.Writable | PageTableWalker.User);

        var a = new Assembler(64);
        Label outer = a.CreateLabel(), inner = a.CreateLabel(), skip = a.CreateLabel();
        a.mov(eax, -1);
        a.xor(ecx, ecx);
        a.Label(ref outer);
        a.movzx(edx, __byte_ptr[rsi + rcx]);
        a.xor(eax, edx);
        a.mov(r8d, 8);
        a.Label(ref inner);
        a.shr(eax, 1);
        a.jae(skip);
        a.xor(eax, 0xEDB88320);
        a.Label(ref skip);
        a.dec(r8d);
        a.jne(inner);
        a.inc(ecx);
        a.cmp(ecx, DataBytes);
        a.jb(outer);
        a.int3();
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), Code);
        _memory.Write(codeFrame << 12, ms.ToArray());

        ulong before = _vcpu.InstructionsRetired;
        Crc32Loop();
        InstructionsPerRun = _vcpu.InstructionsRetired - before;
    }

    [Benchmark]
    public ulong Crc32Loop()
    {
        var r = _vcpu.Registers;
        r.Rip = Code;
        r.Rsi = Data;
        var exit = _vcpu.Run();
        if (exit.Vector != ExceptionVector.Breakpoint) throw new InvalidOperationException($"unexpected exit {exit}");
        return r.Rax;
    }

    private ulong Alloc()
    {
        ulong f = _next++;
        _memory.Clear(f);
        return f;
    }

    private ulong Map(ulong l4, ulong va, ulong flags)
    {
        ulong table = l4;
        for (int level = 4; level > 1; level--)
        {
            ulong entry = (table << 12) + (((va >> (12 + 9 * (level - 1))) & 0x1FF) << 3);
            ulong e = _memory.ReadUInt64(entry);
            if ((e & PageTableWalker.Present) == 0)
            {
                e = (Alloc() << 12) | PageTableWalker.Present | PageTableWalker.Writable | PageTableWalker.User;
                _memory.WriteUInt64(entry, e);
            }
            table = (e & PageTableWalker.AddressMask) >> 12;
        }
        ulong frame = Alloc();
        _memory.WriteUInt64((table << 12) + (((va >> 12) & 0x1FF) << 3), (frame << 12) | flags);
        return frame;
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _vcpu?.Dispose();
        _memory?.Dispose();
        GC.SuppressFinalize(this);
    }
}
