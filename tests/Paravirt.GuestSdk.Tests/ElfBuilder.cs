using System.Buffers.Binary;
using System.Text;

namespace Paravirt.GuestSdk.Tests;

/// <summary>
/// Writes minimal x86-64 ELF64 executables around raw code bytes, for tests that need code the C toolchain would not
/// produce (branches into padding, stripped images, no section headers). Layout: ELF header, one PT_LOAD (R-X) for
/// the code at <see cref="Base"/>, then optionally .text/.symtab/.strtab/.shstrtab section headers.
/// </summary>
internal sealed class ElfBuilder
{
    public const ulong Base = 0xffffffff80000000;
    private const int CodeOffset = 0x1000;

    public required byte[] Code { get; init; }
    public List<(string Name, ulong Offset, ulong Size, byte Type)> Symbols { get; } = [];
    public bool SectionHeaders { get; init; } = true;

    public byte[] Build()
    {
        var strtab = new MemoryStream();
        strtab.WriteByte(0);
        var symtab = new MemoryStream();
        symtab.Write(new byte[24]);
        foreach (var (name, offset, size, type) in Symbols)
        {
            var e = new byte[24];
            BinaryPrimitives.WriteUInt32LittleEndian(e, (uint)strtab.Length);
            e[4] = (byte)(0x10 | type);     // STB_GLOBAL
            BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(6), 1);  // section 1: .text
            BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(8), Base + offset);
            BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(16), size);
            symtab.Write(e);
            strtab.Write(Encoding.ASCII.GetBytes(name + "\0"));
        }
        byte[] shstr = Encoding.ASCII.GetBytes("\0.text\0.symtab\0.strtab\0.shstrtab\0");

        var f = new MemoryStream();
        f.Write(new byte[CodeOffset]);
        f.Write(Code);
        long symOff = Align(f), strOff, shstrOff, shOff = 0;
        f.Write(symtab.ToArray());
        strOff = f.Length;
        f.Write(strtab.ToArray());
        shstrOff = f.Length;
        f.Write(shstr);
        if (SectionHeaders)
        {
            shOff = Align(f);
            f.Write(new byte[64]);
            f.Write(Shdr(1, 1, 0x6, Base, CodeOffset, (ulong)Code.Length, 0, 0));
            f.Write(Shdr(7, 2, 0, 0, (ulong)symOff, (ulong)symtab.Length, 3, 24));
            f.Write(Shdr(15, 3, 0, 0, (ulong)strOff, (ulong)strtab.Length, 0, 0));
            f.Write(Shdr(23, 3, 0, 0, (ulong)shstrOff, (ulong)shstr.Length, 0, 0));
        }
        var b = f.ToArray();
        var h = b.AsSpan();
        h[0] = 0x7f; h[1] = (byte)'E'; h[2] = (byte)'L'; h[3] = (byte)'F';
        h[4] = 2; h[5] = 1; h[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(h[16..], 2);        // ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(h[18..], 62);       // EM_X86_64
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(h[24..], Base);
        BinaryPrimitives.WriteUInt64LittleEndian(h[32..], 64);       // e_phoff
        BinaryPrimitives.WriteUInt64LittleEndian(h[40..], (ulong)shOff);
        BinaryPrimitives.WriteUInt16LittleEndian(h[52..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(h[54..], 56);
        BinaryPrimitives.WriteUInt16LittleEndian(h[56..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(h[58..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(h[60..], (ushort)(SectionHeaders ? 5 : 0));
        BinaryPrimitives.WriteUInt16LittleEndian(h[62..], (ushort)(SectionHeaders ? 4 : 0));
        var p = h.Slice(64, 56);
        BinaryPrimitives.WriteUInt32LittleEndian(p, 1);              // PT_LOAD
        BinaryPrimitives.WriteUInt32LittleEndian(p[4..], 5);         // R-X
        BinaryPrimitives.WriteUInt64LittleEndian(p[8..], CodeOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(p[16..], Base);
        BinaryPrimitives.WriteUInt64LittleEndian(p[24..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(p[32..], (ulong)Code.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(p[40..], (ulong)Code.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(p[48..], 0x1000);
        return b;
    }

    private static long Align(MemoryStream f)
    {
        while (f.Length % 8 != 0) f.WriteByte(0);
        return f.Length;
    }

    private static byte[] Shdr(uint name, uint type, ulong flags, ulong addr, ulong offset, ulong size, uint link, ulong entsize)
    {
        var s = new byte[64];
        BinaryPrimitives.WriteUInt32LittleEndian(s, name);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(4), type);
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(8), flags);
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(16), addr);
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(24), offset);
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(32), size);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(40), link);
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(48), 16);
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(56), entsize);
        return s;
    }
}
