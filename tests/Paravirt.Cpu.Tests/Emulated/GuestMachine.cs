using Iced.Intel;
using Paravirt.Cpu;
using Paravirt.Cpu.Emulated;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>
/// Test fixture: machine memory, 4-level page tables built by hand, and one emulated vCPU at CPL 3 (as a
/// 64-bit PV guest runs). Code is assembled with Iced at its linear address and copied into mapped frames.
/// </summary>
internal sealed class GuestMachine : IDisposable
{
    public const ulong CodeBase = 0x0040_0000;
    public const ulong DataBase = 0x0060_0000;
    public const ulong StackTop = 0x0080_0000;
    /// <summary>FLAT_RING3_CS64 / FLAT_RING3_SS64 of the Xen x86-64 PV ABI (xen-x86_64.h).</summary>
    public const ushort UserCs = 0xe033, UserSs = 0xe02b;

    public const ulong P = PageTableWalker.Present, RW = PageTableWalker.Writable, US = PageTableWalker.User,
        NX = PageTableWalker.NoExecute, PS = PageTableWalker.PageSize;

    private ulong _nextFrame = 1; // frame 0 stays unused so that a zero entry never looks like a table

    public GuestMachine(ulong frames = 4096)
    {
        Memory = new MachineMemory(frames);
        Platform = new EmulatedPlatform { Log = Logged.Add };
        L4 = AllocFrame();
        Vcpu = Platform.CreateEmulatedVcpu(Memory);
        var r = Vcpu.Registers;
        r.Cr3 = L4 << 12;
        r.Cs = UserCs;
        r.Ss = UserSs;
        r.Rsp = StackTop;
        r.Rip = CodeBase;
        // Code (read-only, executable), data and stack (writable, no-execute), all user pages.
        MapRange(CodeBase, 4, P | US);
        MapRange(DataBase, 4, P | RW | US | NX);
        MapRange(StackTop - 4 * 4096, 4, P | RW | US | NX);
    }

    public MachineMemory Memory { get; }
    public EmulatedPlatform Platform { get; }
    public EmulatedVcpu Vcpu { get; }
    public VcpuRegisters Regs => Vcpu.Registers;
    public ulong L4 { get; }
    public List<string> Logged { get; } = new();

    public ulong AllocFrame()
    {
        var f = _nextFrame++;
        Memory.Clear(f);
        return f;
    }

    /// <summary>Map one 4 KiB page; intermediate entries get P|RW|US so the leaf decides permissions.</summary>
    public ulong Map(ulong va, ulong frame, ulong flags, ulong upperFlags = P | RW | US)
    {
        ulong table = L4;
        for (int level = 4; level > 1; level--)
        {
            ulong entryAddr = (table << 12) + (((va >> (12 + 9 * (level - 1))) & 0x1FF) << 3);
            ulong e = Memory.ReadUInt64(entryAddr);
            if ((e & P) == 0)
            {
                e = (AllocFrame() << 12) | upperFlags;
                Memory.WriteUInt64(entryAddr, e);
            }
            table = (e & PageTableWalker.AddressMask) >> 12;
        }
        Memory.WriteUInt64((table << 12) + (((va >> 12) & 0x1FF) << 3), (frame << 12) | flags);
        return frame;
    }

    /// <summary>Machine address of the leaf entry mapping <paramref name="va"/> at <paramref name="level"/> (4 = L4).</summary>
    public ulong EntryAddress(ulong va, int level)
    {
        ulong table = L4;
        for (int l = 4; ; l--)
        {
            ulong entryAddr = (table << 12) + (((va >> (12 + 9 * (l - 1))) & 0x1FF) << 3);
            if (l == level) return entryAddr;
            table = (Memory.ReadUInt64(entryAddr) & PageTableWalker.AddressMask) >> 12;
        }
    }

    public void MapRange(ulong va, int pages, ulong flags)
    {
        for (int i = 0; i < pages; i++) Map(va + (ulong)i * 4096, AllocFrame(), flags);
    }

    public ulong MachineAddress(ulong va)
    {
        var err = PageTableWalker.Translate(Memory, Regs.Cr3, va, false, false, false, out var ma);
        if (err != 0) throw new InvalidOperationException($"0x{va:x} is not mapped");
        return ma;
    }

    public void WriteBytes(ulong va, ReadOnlySpan<byte> bytes)
    {
        for (int i = 0; i < bytes.Length; i++) Memory.Write(MachineAddress(va + (ulong)i), bytes.Slice(i, 1));
    }

    public byte[] ReadBytes(ulong va, int length)
    {
        var result = new byte[length];
        for (int i = 0; i < length; i++) Memory.Read(MachineAddress(va + (ulong)i), result.AsSpan(i, 1));
        return result;
    }

    public ulong ReadU64(ulong va) => BitConverter.ToUInt64(ReadBytes(va, 8));
    public void WriteU64(ulong va, ulong value) => WriteBytes(va, BitConverter.GetBytes(value));

    /// <summary>Assemble at <paramref name="va"/> (default <see cref="CodeBase"/>) and place the bytes there.</summary>
    public byte[] Load(Action<Assembler> build, ulong va = CodeBase)
    {
        var a = new Assembler(64);
        build(a);
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), va);
        var bytes = ms.ToArray();
        WriteBytes(va, bytes);
        return bytes;
    }

    /// <summary>Encode single instructions (for data-driven tables built from <see cref="Code"/> values).</summary>
    public byte[] LoadInstructions(ulong va, params Instruction[] instructions)
    {
        using var ms = new MemoryStream();
        var encoder = Encoder.Create(64, new StreamCodeWriter(ms));
        ulong ip = va;
        foreach (var i in instructions)
        {
            if (!encoder.TryEncode(i, ip, out var len, out var error)) throw new InvalidOperationException(error);
            ip += (ulong)len;
        }
        var bytes = ms.ToArray();
        WriteBytes(va, bytes);
        return bytes;
    }

    public VcpuExit Run() => Vcpu.Run();

    /// <summary>Run and require the int3 that ends test programs.</summary>
    public void RunToBreakpoint()
    {
        var exit = Run();
        if (exit.Reason != VcpuExitReason.SoftwareInterrupt || exit.Vector != ExceptionVector.Breakpoint)
            throw new InvalidOperationException($"expected int3, got {exit} at rip 0x{Regs.Rip:x}");
    }

    public void Dispose()
    {
        Vcpu.Dispose();
        Memory.Dispose();
    }
}
