using System.Buffers.Binary;
using System.Text;
using Paravirt.PortAnalysis.Elf;

namespace Paravirt.PortAnalysis;

/// <summary>pv_trampoline.action (guest-sdk/include/paravirt/trampoline.h): what libpv's #BP handler does instead.</summary>
public enum TrampolineAction : byte
{
    Cli = 1, Sti = 2, Hlt = 3, Popf = 4, MovFromCr = 5, MovToCr = 6, Rdmsr = 7, Wrmsr = 8, Invlpg = 9,
    CacheFlush = 10, Clts = 11, MovFromDr = 12, MovToDr = 13, Cpuid = 14,
}

/// <summary>One struct pv_trampoline (24 bytes): the int3's address and how to replay the original instruction.</summary>
public readonly record struct TrampolineEntry(ulong Address, byte Length, TrampolineAction Action, byte Reg = TrampolineEntry.NoReg,
    byte Arg = 0, byte Base = TrampolineEntry.NoReg, byte Index = TrampolineEntry.NoReg, byte Scale = 1, int Disp = 0)
{
    /// <summary>PV_TRAMP_NO_REG.</summary>
    public const byte NoReg = 0xff;
}

/// <summary>
/// The side table libpv links into every kernel (<c>pv_trampoline_table</c> in .data: magic "PVTRAMP1", capacity,
/// count, then capacity entries of 24 bytes, sorted by address), located through the symbol table. The layout is
/// pinned here and by _Static_assert in trampoline.h; TrampolineTableTests checks it against a built libpv kernel.
/// </summary>
public sealed class TrampolineTable
{
    public const string Symbol = "pv_trampoline_table";
    public const int HeaderSize = 16, EntrySize = 24;
    public static ReadOnlySpan<byte> Magic => "PVTRAMP1"u8;

    /// <summary>File offset of the table's first byte.</summary>
    public long FileOffset { get; }
    public ulong Address { get; }
    public int Capacity { get; }
    public IReadOnlyList<TrampolineEntry> Entries { get; }

    private TrampolineTable(long fileOffset, ulong address, int capacity, IReadOnlyList<TrampolineEntry> entries)
    {
        FileOffset = fileOffset;
        Address = address;
        Capacity = capacity;
        Entries = entries;
    }

    /// <summary>The image's table, or null with the reason (no libpv, stripped, not in the file, corrupt).</summary>
    public static TrampolineTable? Find(ElfImage image, out string? whyNot)
    {
        ArgumentNullException.ThrowIfNull(image);
        var sym = image.Symbols.FirstOrDefault(s => s.Name == Symbol && s.IsDefined && s.Type == ElfSymbol.Stt_Object);
        if (sym == null)
        {
            whyNot = $"no {Symbol} in the image (link libpv, and do not strip the symbol table)";
            return null;
        }
        long? at = image.FileOffsetOf(sym.Value, HeaderSize);
        if (at == null)
        {
            whyNot = $"{Symbol} has no bytes in the file";
            return null;
        }
        var b = image.Bytes.AsSpan((int)at.Value);
        if (!b[..8].SequenceEqual(Magic))
        {
            whyNot = $"{Symbol} does not start with \"{Encoding.ASCII.GetString(Magic)}\"";
            return null;
        }
        uint capacity = BinaryPrimitives.ReadUInt32LittleEndian(b[8..]), count = BinaryPrimitives.ReadUInt32LittleEndian(b[12..]);
        if (capacity == 0 || capacity > 1 << 20 || count > capacity
            || (ulong)HeaderSize + (ulong)capacity * EntrySize > sym.Size
            || image.FileOffsetOf(sym.Value, HeaderSize + (int)capacity * EntrySize) == null)
        {
            whyNot = $"{Symbol} is corrupt (capacity {capacity}, count {count}, {sym.Size} bytes)";
            return null;
        }
        var entries = new List<TrampolineEntry>((int)count);
        for (int i = 0; i < (int)count; i++)
        {
            var e = b.Slice(HeaderSize + i * EntrySize, EntrySize);
            entries.Add(new TrampolineEntry(BinaryPrimitives.ReadUInt64LittleEndian(e), e[12], (TrampolineAction)e[13], e[14], e[15], e[16], e[17], e[18],
                BinaryPrimitives.ReadInt32LittleEndian(e[8..])));
        }
        whyNot = null;
        return new TrampolineTable(at.Value, sym.Value, (int)capacity, entries);
    }

    /// <summary>Write <paramref name="entries"/> (sorted here) as the table's contents into <paramref name="output"/>.</summary>
    public void Write(byte[] output, IEnumerable<TrampolineEntry> entries)
    {
        var sorted = entries.OrderBy(e => e.Address).ToList();
        if (sorted.Count > Capacity) throw new InvalidOperationException($"{sorted.Count} trampolines in a table for {Capacity}");
        var b = output.AsSpan((int)FileOffset, HeaderSize + Capacity * EntrySize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], (uint)sorted.Count);
        b[HeaderSize..].Clear();
        for (int i = 0; i < sorted.Count; i++)
        {
            var e = b.Slice(HeaderSize + i * EntrySize, EntrySize);
            var t = sorted[i];
            BinaryPrimitives.WriteUInt64LittleEndian(e, t.Address);
            BinaryPrimitives.WriteInt32LittleEndian(e[8..], t.Disp);
            e[12] = t.Length;
            e[13] = (byte)t.Action;
            e[14] = t.Reg;
            e[15] = t.Arg;
            e[16] = t.Base;
            e[17] = t.Index;
            e[18] = t.Scale;
        }
    }
}
