using System.Buffers.Binary;
using System.Text;

namespace Paravirt.Hypervisor.Tests;

/// <summary>Writes small ELF64 images with chosen Xen notes, for loader and builder tests.</summary>
internal sealed class TestElf
{
    public ushort Machine = 62;
    public byte Class = 2;
    public ulong VirtBase = 0xffffffff80000000;
    public ulong Entry = 0xffffffff80000000;
    public ulong? HypercallPage = 0xffffffff80001000;
    public int CodeBytes = 0x3000;
    public ulong BssBytes = 0x1000;
    public bool XenNotes = true;
    public string Loader = "generic";
    public string XenVersion = "xen-3.0";
    public string? Features;
    /// <summary>Write the VIRT_BASE note (PADDR_OFFSET is written regardless).</summary>
    public bool VirtBaseNote = true;
    /// <summary>More Xen notes (type, desc), after the standard ones.</summary>
    public List<(uint Type, byte[] Desc)> ExtraNotes { get; } = [];
    /// <summary>Put the notes in an SHT_NOTE section only (no PT_NOTE segment), as libelf's fallback reads them.</summary>
    public bool NotesInSectionOnly;
    public byte[]? Code { get; set; }

    public byte[] Build()
    {
        var notes = new MemoryStream();
        if (XenNotes)
        {
            Note(notes, 6, Str("Paravirt"));
            Note(notes, 5, Str(XenVersion));
            Note(notes, 8, Str(Loader));
            if (VirtBaseNote) Note(notes, 3, U64(VirtBase));
            Note(notes, 4, U64(VirtBase));
            Note(notes, 1, U64(Entry));
            if (HypercallPage is { } hp) Note(notes, 2, U64(hp));
            if (Features != null) Note(notes, 10, Str(Features));
            foreach (var (type, desc) in ExtraNotes) Note(notes, type, desc);
        }
        var noteBytes = notes.ToArray();
        const int ehsize = 64, phentsize = 56, phnum = 2;
        int noteOff = ehsize + phentsize * phnum;
        int codeOff = (noteOff + noteBytes.Length + 0xFFF) & ~0xFFF;
        int shOff = codeOff + CodeBytes;
        var image = new byte[shOff + (NotesInSectionOnly ? 128 : 0)];
        var s = image.AsSpan();
        s[0] = 0x7f; s[1] = (byte)'E'; s[2] = (byte)'L'; s[3] = (byte)'F'; s[4] = Class; s[5] = 1; s[6] = 1;
        W16(s, 16, 2); W16(s, 18, Machine); W32(s, 20, 1); W64(s, 24, Entry); W64(s, 32, ehsize);
        W16(s, 52, ehsize); W16(s, 54, phentsize); W16(s, 56, phnum);
        // PT_LOAD: code at VirtBase (paddr = vaddr, PADDR_OFFSET = VIRT_BASE so virt_offset is 0).
        var ph = s.Slice(ehsize, phentsize);
        W32(ph, 0, 1); W32(ph, 4, 7); W64(ph, 8, (ulong)codeOff); W64(ph, 16, VirtBase); W64(ph, 24, VirtBase);
        W64(ph, 32, (ulong)CodeBytes); W64(ph, 40, (ulong)CodeBytes + BssBytes); W64(ph, 48, 0x1000);
        ph = s.Slice(ehsize + phentsize, phentsize);
        if (NotesInSectionOnly)
        {
            // The second program header becomes PT_NULL; section 1 is the SHT_NOTE section.
            W64(s, 40, (ulong)shOff); W16(s, 58, 64); W16(s, 60, 2);
            var sh = s.Slice(shOff + 64, 64);
            W32(sh, 4, 7); W64(sh, 24, (ulong)noteOff); W64(sh, 32, (ulong)noteBytes.Length); W64(sh, 48, 4);
            noteBytes.CopyTo(s[noteOff..]);
            if (Code != null) Code.CopyTo(s[codeOff..]);
            else for (int i = 0; i < CodeBytes; i++) s[codeOff + i] = (byte)(i * 7 + 3);
            return image;
        }
        W32(ph, 0, 4); W32(ph, 4, 4); W64(ph, 8, (ulong)noteOff); W64(ph, 32, (ulong)noteBytes.Length);
        W64(ph, 40, (ulong)noteBytes.Length); W64(ph, 48, 4);
        noteBytes.CopyTo(s[noteOff..]);
        if (Code != null) Code.CopyTo(s[codeOff..]);
        else for (int i = 0; i < CodeBytes; i++) s[codeOff + i] = (byte)(i * 7 + 3);
        return image;
    }

    public static byte[] Str(string v) => Encoding.ASCII.GetBytes(v + "\0");
    public static byte[] U64(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return b; }
    public static byte[] U32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }

    private static void Note(Stream s, uint type, byte[] desc)
    {
        var hdr = new byte[12];
        W32(hdr, 0, 4); W32(hdr, 4, (uint)desc.Length); W32(hdr, 8, type);
        s.Write(hdr); s.Write("Xen\0"u8);
        s.Write(desc);
        for (int pad = (4 - desc.Length % 4) % 4; pad > 0; pad--) s.WriteByte(0);
    }

    private static void W16(Span<byte> s, int o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(s[o..], v);
    private static void W32(Span<byte> s, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(s[o..], v);
    private static void W64(Span<byte> s, int o, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(s[o..], v);
}
