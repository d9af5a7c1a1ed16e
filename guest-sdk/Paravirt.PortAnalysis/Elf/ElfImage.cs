using System.Buffers.Binary;
using System.Text;

namespace Paravirt.PortAnalysis.Elf;

/// <summary>An ELF section header (ELF-64 gABI, "Sections"), with its name resolved.</summary>
public sealed record ElfSection(int Index, string Name, uint Type, ulong Flags, ulong Address, ulong FileOffset, ulong Size)
{
    public const uint Sht_Nobits = 8, Sht_Symtab = 2, Sht_Dynsym = 11;
    public const ulong Shf_Alloc = 0x2, Shf_ExecInstr = 0x4;

    public const uint Sht_Null = 0;

    public bool IsExecutable => (Flags & Shf_ExecInstr) != 0 && (Flags & Shf_Alloc) != 0 && HasFileBytes;
    /// <summary>Occupies bytes of the file (and so was range-checked): not SHT_NULL, not SHT_NOBITS.</summary>
    public bool HasFileBytes => HasBytes(Type);
    internal static bool HasBytes(uint type) => type != Sht_Nobits && type != Sht_Null;
}

/// <summary>An ELF program header (gABI, "Program Header").</summary>
public sealed record ElfSegment(int Index, uint Type, uint Flags, ulong FileOffset, ulong VirtualAddress, ulong FileSize, ulong MemorySize)
{
    public const uint Pt_Load = 1, Pf_X = 1;

    public bool IsExecutableLoad => Type == Pt_Load && (Flags & Pf_X) != 0;
}

/// <summary>A symbol from .symtab or .dynsym (gABI, "Symbol Table").</summary>
public sealed record ElfSymbol(string Name, ulong Value, ulong Size, byte Type, byte Binding, ushort SectionIndex)
{
    public const byte Stt_NoType = 0, Stt_Object = 1, Stt_Func = 2, Stt_Section = 3, Stt_File = 4;
    public const ushort Shn_Undef = 0, Shn_LoReserve = 0xff00;

    /// <summary>Defined in a real section (not undefined, absolute or common).</summary>
    public bool IsDefined => SectionIndex != Shn_Undef && SectionIndex < Shn_LoReserve;
}

/// <summary>
/// A read-only view of an x86-64 ELF64 little-endian executable or object: sections, segments and symbols. Every
/// offset, count and size read from the file is checked against the file before use, so a truncated or hostile
/// file gives an <see cref="ElfFormatException"/> and nothing else.
/// </summary>
public sealed class ElfImage
{
    private const ushort Em_X86_64 = 62;
    private const int Ehdr64Size = 64, Phdr64Size = 56, Shdr64Size = 64, Sym64Size = 24;
    /// <summary>Upper bounds on table sizes: far above any real kernel, low enough that a forged count cannot make us allocate gigabytes.</summary>
    private const int MaxSections = 65_280, MaxSegments = 65_535, MaxSymbols = 4_000_000;

    private ElfImage(byte[] bytes, ushort type, ulong entry, IReadOnlyList<ElfSection> sections, IReadOnlyList<ElfSegment> segments, IReadOnlyList<ElfSymbol> symbols)
    {
        Bytes = bytes;
        FileType = type;
        Entry = entry;
        Sections = sections;
        Segments = segments;
        Symbols = symbols;
    }

    /// <summary>The whole file.</summary>
    public byte[] Bytes { get; }
    /// <summary>e_type: 1 relocatable, 2 executable, 3 shared object.</summary>
    public ushort FileType { get; }
    public ulong Entry { get; }
    public IReadOnlyList<ElfSection> Sections { get; }
    public IReadOnlyList<ElfSegment> Segments { get; }
    /// <summary>Symbols of .symtab, or of .dynsym when there is no .symtab; empty for a stripped file.</summary>
    public IReadOnlyList<ElfSymbol> Symbols { get; }

    public static ElfImage Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new ElfFormatException($"{path}: cannot read: {e.Message}");
        }
        return Parse(bytes);
    }

    public static ElfImage Parse(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        var f = bytes.AsSpan();
        if (f.Length < 4 || f[0] != 0x7f || f[1] != (byte)'E' || f[2] != (byte)'L' || f[3] != (byte)'F')
            throw new ElfFormatException("not an ELF file (bad magic)");
        if (f.Length < Ehdr64Size)
            throw new ElfFormatException($"truncated ELF header: file is {f.Length} bytes, the ELF64 header needs {Ehdr64Size}");
        if (f[4] != 2) throw new ElfFormatException($"not a 64-bit ELF (EI_CLASS {f[4]}, expected 2)");
        if (f[5] != 1) throw new ElfFormatException($"not a little-endian ELF (EI_DATA {f[5]}, expected 1)");
        ushort type = U16(f, 16), machine = U16(f, 18);
        if (machine != Em_X86_64) throw new ElfFormatException($"not an x86-64 ELF (e_machine {machine}, expected {Em_X86_64})");
        ulong entry = U64(f, 24), phoff = U64(f, 32), shoff = U64(f, 40);
        ushort phentsize = U16(f, 54), phnum = U16(f, 56), shentsize = U16(f, 58), shnum = U16(f, 60), shstrndx = U16(f, 62);

        var segments = new List<ElfSegment>();
        if (phnum != 0)
        {
            if (phentsize < Phdr64Size) throw new ElfFormatException($"bad e_phentsize {phentsize} (expected at least {Phdr64Size})");
            CheckTable(f, "program header table", phoff, phnum, phentsize);
            for (int i = 0; i < Math.Min((int)phnum, MaxSegments); i++)
            {
                var p = f.Slice((int)(phoff + (ulong)i * phentsize), Phdr64Size);
                var seg = new ElfSegment(i, U32(p, 0), U32(p, 4), U64(p, 8), U64(p, 16), U64(p, 32), U64(p, 40));
                if (seg.Type == ElfSegment.Pt_Load)
                {
                    CheckRange(f, $"segment {i}", seg.FileOffset, seg.FileSize);
                    if (seg.VirtualAddress + seg.FileSize < seg.VirtualAddress)
                        throw new ElfFormatException($"segment {i} (0x{seg.FileSize:x} bytes at address 0x{seg.VirtualAddress:x}) wraps around the address space");
                }
                segments.Add(seg);
            }
        }

        var sections = new List<ElfSection>();
        var symbols = new List<ElfSymbol>();
        if (shnum != 0 || shoff != 0)
        {
            if (shentsize < Shdr64Size) throw new ElfFormatException($"bad e_shentsize {shentsize} (expected at least {Shdr64Size})");
            int count = shnum;
            if (count == 0)
            {
                // Extended numbering (gABI): the real count lives in section 0's sh_size.
                CheckTable(f, "section header table", shoff, 1, shentsize);
                ulong real = U64(f, (int)shoff + 32);
                if (real > MaxSections) throw new ElfFormatException($"section count {real} is implausible (limit {MaxSections})");
                count = (int)real;
            }
            CheckTable(f, "section header table", shoff, (ulong)count, shentsize);
            var raw = new (uint Name, uint Type, ulong Flags, ulong Addr, ulong Off, ulong Size, uint Link, ulong EntSize)[count];
            for (int i = 0; i < count; i++)
            {
                var s = f.Slice((int)(shoff + (ulong)i * shentsize), Shdr64Size);
                raw[i] = (U32(s, 0), U32(s, 4), U64(s, 8), U64(s, 16), U64(s, 24), U64(s, 32), U32(s, 40), U64(s, 56));
                if (ElfSection.HasBytes(raw[i].Type))
                    CheckRange(f, $"section {i}", raw[i].Off, raw[i].Size);
                if ((raw[i].Flags & ElfSection.Shf_Alloc) != 0 && raw[i].Addr + raw[i].Size < raw[i].Addr)
                    throw new ElfFormatException($"section {i} (0x{raw[i].Size:x} bytes at address 0x{raw[i].Addr:x}) wraps around the address space");
            }
            int strndx = shstrndx == 0xffff && count > 0 ? (int)U32(f, (int)shoff + 40) : shstrndx;
            bool haveNames = strndx > 0 && strndx < count && ElfSection.HasBytes(raw[strndx].Type);
            for (int i = 0; i < count; i++)
            {
                string name = haveNames ? CString(f, raw[strndx].Off, raw[strndx].Size, raw[i].Name, $"name of section {i}") : "";
                sections.Add(new ElfSection(i, name, raw[i].Type, raw[i].Flags, raw[i].Addr, raw[i].Off, raw[i].Size));
            }

            // .symtab when present (it is a superset of .dynsym), else .dynsym.
            int symIndex = Array.FindIndex(raw, r => r.Type == ElfSection.Sht_Symtab);
            if (symIndex < 0) symIndex = Array.FindIndex(raw, r => r.Type == ElfSection.Sht_Dynsym);
            if (symIndex >= 0)
            {
                var sym = raw[symIndex];
                if (sym.EntSize != 0 && sym.EntSize < Sym64Size)
                    throw new ElfFormatException($"symbol table (section {symIndex}) has sh_entsize {sym.EntSize}, expected {Sym64Size}");
                ulong entSize = sym.EntSize == 0 ? Sym64Size : sym.EntSize;
                if (sym.Link == 0 || sym.Link >= (uint)count || !ElfSection.HasBytes(raw[sym.Link].Type))
                    throw new ElfFormatException($"symbol table (section {symIndex}) links to string table {sym.Link}, which is not a valid section");
                var str = raw[sym.Link];
                ulong n = sym.Size / entSize;
                if (n > MaxSymbols) throw new ElfFormatException($"symbol table holds {n} symbols (limit {MaxSymbols})");
                for (ulong i = 1; i < n; i++)
                {
                    var e = f.Slice((int)(sym.Off + i * entSize), Sym64Size);
                    byte info = e[4];
                    string name = CString(f, str.Off, str.Size, U32(e, 0), $"name of symbol {i}");
                    symbols.Add(new ElfSymbol(name, U64(e, 8), U64(e, 16), (byte)(info & 0xf), (byte)(info >> 4), U16(e, 6)));
                }
            }
        }
        if (sections.Count == 0 && segments.Count == 0)
            throw new ElfFormatException("ELF file has neither section headers nor program headers: nothing to analyse");
        return new ElfImage(bytes, type, entry, sections, segments, symbols);
    }

    /// <summary>The file offset of <paramref name="length"/> bytes at virtual address <paramref name="address"/>, from the section or segment that holds them, or null.</summary>
    public long? FileOffsetOf(ulong address, int length)
    {
        foreach (var s in Sections)
        {
            if (s.HasFileBytes && (s.Flags & ElfSection.Shf_Alloc) != 0 && address >= s.Address && address - s.Address <= s.Size && (ulong)length <= s.Size - (address - s.Address))
                return (long)(s.FileOffset + (address - s.Address));
        }
        foreach (var p in Segments)
        {
            if (p.Type == ElfSegment.Pt_Load && address >= p.VirtualAddress && address - p.VirtualAddress <= p.FileSize && (ulong)length <= p.FileSize - (address - p.VirtualAddress))
                return (long)(p.FileOffset + (address - p.VirtualAddress));
        }
        return null;
    }

    private static void CheckTable(ReadOnlySpan<byte> f, string what, ulong offset, ulong count, ulong entrySize)
    {
        if (offset > (ulong)f.Length || count * entrySize > (ulong)f.Length - offset)
            throw new ElfFormatException($"truncated: {what} ({count} entries of {entrySize} bytes at offset 0x{offset:x}) runs past the end of the {f.Length}-byte file");
    }

    private static void CheckRange(ReadOnlySpan<byte> f, string what, ulong offset, ulong size)
    {
        if (offset > (ulong)f.Length || size > (ulong)f.Length - offset)
            throw new ElfFormatException($"truncated: {what} (0x{size:x} bytes at offset 0x{offset:x}) runs past the end of the {f.Length}-byte file");
    }

    private static string CString(ReadOnlySpan<byte> f, ulong tableOffset, ulong tableSize, uint index, string what)
    {
        if (index >= tableSize) throw new ElfFormatException($"{what}: string index {index} is outside its {tableSize}-byte string table");
        var table = f.Slice((int)tableOffset, (int)tableSize)[(int)index..];
        int end = table.IndexOf((byte)0);
        if (end < 0) throw new ElfFormatException($"{what}: string at index {index} is not NUL-terminated");
        return Encoding.UTF8.GetString(table[..end]);
    }

    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b[o..]);
    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}
