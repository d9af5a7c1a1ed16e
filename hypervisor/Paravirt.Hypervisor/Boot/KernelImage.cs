using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Paravirt.Hypervisor.Boot;

/// <summary>One PT_LOAD segment: where its bytes go (by ELF physical address) and how many.</summary>
public readonly record struct LoadSegment(ulong PhysAddr, ulong VirtAddr, long FileOffset, ulong FileSize, ulong MemSize);

/// <summary>
/// An x86-64 ELF kernel with its Xen notes, parsed and checked the way libelf does for a PV guest
/// (xen/common/libelf/libelf-dominfo.c: elf_xen_parse, elf_xen_note_check, elf_xen_addr_calc_check).
/// All addresses are validated here so the builder can trust them.
/// </summary>
public sealed class KernelImage
{
    public const ulong Unset = ulong.MaxValue;
    /// <summary>Largest decompressed kernel accepted (XC_DOM_DECOMPRESS_MAX is 1 GiB; we take less).</summary>
    public const int MaxImageBytes = 256 << 20;

    private const int EM_X86_64 = 62, PT_LOAD = 1, PT_NOTE = 4, ET_EXEC = 2, ET_DYN = 3;

    public required byte[] Image { get; init; }
    public required IReadOnlyList<LoadSegment> Segments { get; init; }
    public required IReadOnlyDictionary<XenElfNote, object> Notes { get; init; }
    public ulong VirtBase { get; private init; }
    public ulong VirtEntry { get; private init; }
    public ulong VirtHypercallPage { get; private init; }
    public ulong VirtKernelStart { get; private init; }
    public ulong VirtKernelEnd { get; private init; }
    /// <summary>virt_base - elf_paddr_offset: add to an ELF physical address to get its virtual address.</summary>
    public ulong VirtOffset { get; private init; }
    public ulong PhysStart { get; private init; }
    public string GuestOs => Notes.TryGetValue(XenElfNote.GuestOs, out var v) ? (string)v : "";
    /// <summary>PAE_MODE as written ("yes", "bimodal", ...); only meaningful to 32-bit guests, kept for the record.</summary>
    public string PaeMode => Notes.TryGetValue(XenElfNote.PaeMode, out var v) ? (string)v : "";
    /// <summary>XENFEAT_* the kernel requires ("!name" in the FEATURES note).</summary>
    public IReadOnlySet<int> RequiredFeatures { get; private init; } = new HashSet<int>();
    /// <summary>XENFEAT_* bitmap (submap 0) the kernel can use: FEATURES names plus the SUPPORTED_FEATURES note.</summary>
    public uint SupportedFeatures { get; private init; }
    /// <summary>INIT_P2M: where the kernel wants its p2m list mapped (outside the initial mapping); <see cref="Unset"/> if absent.</summary>
    public ulong P2mBase { get; private init; } = Unset;
    /// <summary>MOD_START_PFN non-zero: the ramdisk goes unmapped, after the initial mapping, and mod_start is its pfn.</summary>
    public bool UnmappedInitrd { get; private init; }

    /// <summary>Read a kernel file: gzip-compressed images are inflated, as Xen's xc_dom_try_gunzip does.</summary>
    public static KernelImage Load(string path)
    {
        byte[] bytes;
        try
        {
            long length = new FileInfo(path).Length;
            if (length > MaxImageBytes)
                throw new DomainBuildException($"kernel {path} is {length} bytes, larger than {MaxImageBytes >> 20} MiB");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DomainBuildException($"cannot read kernel {path}: {e.Message}");
        }
        return Parse(bytes, path);
    }

    public static KernelImage Parse(byte[] bytes, string name)
    {
        bytes = MaybeGunzip(bytes, name);
        if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
            throw new DomainBuildException($"{name}: not an ELF image");
        if (bytes[4] != 2 || bytes[5] != 1)
            throw new DomainBuildException($"{name}: not a 64-bit little-endian ELF image (class {bytes[4]}, data {bytes[5]})");
        var s = bytes.AsSpan();
        ushort type = U16(s, 16), machine = U16(s, 18);
        if (machine != EM_X86_64)
            throw new DomainBuildException($"{name}: not an x86-64 kernel (ELF machine {machine})");
        if (type != ET_EXEC && type != ET_DYN)
            throw new DomainBuildException($"{name}: not an executable ELF image (type {type})");
        ulong entry = U64(s, 24), phoff = U64(s, 32);
        ushort phentsize = U16(s, 54), phnum = U16(s, 56);
        if (phnum == 0 || phentsize < 56 || phoff > (ulong)bytes.Length || (ulong)phnum * phentsize > (ulong)bytes.Length - phoff)
            throw new DomainBuildException($"{name}: ELF program headers out of bounds");

        var segments = new List<LoadSegment>();
        var notes = new Dictionary<XenElfNote, object>();
        bool sawXenNote = false;
        int noteCount = 0;
        for (int i = 0; i < phnum; i++)
        {
            var ph = s.Slice((int)phoff + i * phentsize, 56);
            uint ptype = U32(ph, 0), pflags = U32(ph, 4);
            ulong off = U64(ph, 8), vaddr = U64(ph, 16), paddr = U64(ph, 24), filesz = U64(ph, 32), memsz = U64(ph, 40);
            if (ptype == PT_LOAD && (pflags & 7) != 0)
            {
                if (filesz > memsz || off > (ulong)bytes.Length || filesz > (ulong)bytes.Length - off)
                    throw new DomainBuildException($"{name}: PT_LOAD segment {i} out of bounds");
                if (memsz > MaxImageBytes || paddr + memsz < paddr)
                    throw new DomainBuildException($"{name}: PT_LOAD segment {i} too large (0x{memsz:x} bytes)");
                segments.Add(new LoadSegment(paddr, vaddr, (long)off, filesz, memsz));
            }
            else if (ptype == PT_NOTE && off != 0) // libelf skips note segments with p_offset 0 (a binutils quirk)
            {
                if (off > (ulong)bytes.Length || filesz > (ulong)bytes.Length - off)
                    throw new DomainBuildException($"{name}: PT_NOTE segment {i} out of bounds");
                sawXenNote |= ParseNotes(s.Slice((int)off, (int)filesz), notes, ref noteCount, name);
            }
        }
        if (segments.Count == 0) throw new DomainBuildException($"{name}: no loadable segments");
        // elf_xen_parse: without Xen notes in note segments, fall back to SHT_NOTE sections.
        if (!sawXenNote) sawXenNote = ParseNoteSections(s, notes, ref noteCount, name);

        // elf_xen_note_check
        if (!sawXenNote)
            throw new DomainBuildException($"{name}: not a Xen-ELF image: no Xen ELF notes found");
        string loader = notes.TryGetValue(XenElfNote.Loader, out var l) ? (string)l : "";
        string guestOs = notes.TryGetValue(XenElfNote.GuestOs, out var g) ? (string)g : "";
        string xenVer = notes.TryGetValue(XenElfNote.XenVersion, out var x) ? (string)x : "";
        if (!loader.StartsWith("generic", StringComparison.Ordinal) && !guestOs.StartsWith("linux", StringComparison.Ordinal))
            throw new DomainBuildException($"{name}: will only load images built for the generic loader or Linux images (not '{loader}' and '{guestOs}')");
        if (!xenVer.StartsWith("xen-3.0", StringComparison.Ordinal))
            throw new DomainBuildException($"{name}: will only load images built for Xen v3.0 (not '{xenVer}')");

        var (supported, required) = ParseFeatures(notes, name);
        foreach (var nr in required)
            if (XenFeature.WhyUnavailable(nr) is { } why)
                throw new DomainBuildException($"{name}: kernel requires feature '{XenFeature.NameOf(nr)}', which this domain cannot have: {why}");

        // elf_xen_addr_calc_check
        ulong pstart = segments.Min(sg => sg.PhysAddr), pend = segments.Max(sg => sg.PhysAddr + sg.MemSize);
        if (Num(notes, XenElfNote.PaddrOffset) != Unset && Num(notes, XenElfNote.VirtBase) == Unset)
            throw new DomainBuildException($"{name}: ELF_PADDR_OFFSET set, VIRT_BASE unset");
        ulong virtBase = Num(notes, XenElfNote.VirtBase) is var vb && vb != Unset ? vb : 0;
        ulong paddrOffset = Num(notes, XenElfNote.PaddrOffset) is var po && po != Unset ? po : 0;
        ulong virtOffset = virtBase - paddrOffset;
        ulong kstart = pstart + virtOffset, kend = pend + virtOffset;
        ulong ventry = Num(notes, XenElfNote.Entry) is var ve && ve != Unset ? ve : entry;
        ulong hypercall = Num(notes, XenElfNote.HypercallPage);
        if (kstart > kend || ventry < kstart || ventry > kend || virtBase > kstart)
            throw new DomainBuildException($"{name}: ELF start or entries are out of bounds (virt_base 0x{virtBase:x}, kernel 0x{kstart:x}-0x{kend:x}, entry 0x{ventry:x})");
        if (hypercall != Unset && (hypercall < kstart || hypercall >= kend || (hypercall & 0xFFF) != 0))
            throw new DomainBuildException($"{name}: hypercall page 0x{hypercall:x} is outside the kernel or not page aligned");
        if ((virtBase & 0xFFF) != 0)
            throw new DomainBuildException($"{name}: virt_base 0x{virtBase:x} is not page aligned");
        ulong p2mBase = Num(notes, XenElfNote.InitP2m);
        if (p2mBase != Unset && p2mBase >= kstart && p2mBase < kend)
            throw new DomainBuildException($"{name}: P->M table base 0x{p2mBase:x} is out of bounds (inside the kernel 0x{kstart:x}-0x{kend:x})");
        // xc_dom_alloc_segment pads from virt_base to the kernel: the kernel must start on a page boundary.
        if ((kstart & 0xFFF) != 0)
            throw new DomainBuildException($"{name}: kernel start 0x{kstart:x} is not page aligned");

        return new KernelImage
        {
            Image = bytes, Segments = segments, Notes = notes, VirtBase = virtBase, VirtEntry = ventry,
            VirtHypercallPage = hypercall, VirtKernelStart = kstart, VirtKernelEnd = kend, VirtOffset = virtOffset,
            PhysStart = pstart, RequiredFeatures = required, SupportedFeatures = supported, P2mBase = p2mBase,
            UnmappedInitrd = Num(notes, XenElfNote.ModStartPfn) is var msp && msp != Unset && msp != 0,
        };
    }

    private static ulong Num(Dictionary<XenElfNote, object> notes, XenElfNote n) =>
        notes.TryGetValue(n, out var v) && v is ulong u ? u : Unset;

    /// <summary>
    /// libelf's features parse (elf_xen_parse_features): '|'-separated names, "!name" required (and so supported), a
    /// plain name supported, unknown plain names ignored; an unknown required name refuses the kernel. The
    /// SUPPORTED_FEATURES note ORs its bitmap into the supported set.
    /// </summary>
    private static (uint Supported, HashSet<int> Required) ParseFeatures(Dictionary<XenElfNote, object> notes, string name)
    {
        uint supported = 0;
        var required = new HashSet<int>();
        if (notes.TryGetValue(XenElfNote.Features, out var f))
            foreach (var token in ((string)f).Split('|'))
            {
                if (token.Length == 0) continue;
                bool isRequired = token[0] == '!';
                string feature = isRequired ? token[1..] : token;
                // libelf copies at most 63 characters of a name: a longer one can never match a known feature.
                if (token.Length <= 63 && XenFeature.ByName.TryGetValue(feature, out int nr))
                {
                    supported |= 1u << nr;
                    if (isRequired) required.Add(nr);
                }
                else if (isRequired)
                    throw new DomainBuildException($"{name}: kernel requires unknown feature '{Printable(feature)}'");
            }
        if (notes.TryGetValue(XenElfNote.SupportedFeatures, out var bitmap))
            supported |= (uint)(ulong)bitmap;
        return (supported, required);
    }

    private static string Printable(string s)
    {
        var clean = new string(s.Select(c => c is >= ' ' and < (char)127 ? c : '?').ToArray());
        return clean.Length > 64 ? clean[..64] + "..." : clean;
    }

    /// <summary>The SHT_NOTE sections' notes, used when no note segment carried a Xen note.</summary>
    private static bool ParseNoteSections(ReadOnlySpan<byte> s, Dictionary<XenElfNote, object> notes, ref int noteCount, string name)
    {
        const int SHT_NOTE = 7, ShdrSize = 64;
        ulong shoff = U64(s, 40);
        ushort shentsize = U16(s, 58), shnum = U16(s, 60);
        if (shoff == 0 || shnum == 0) return false;
        if (shentsize < ShdrSize || shoff > (ulong)s.Length || (ulong)shnum * shentsize > (ulong)s.Length - shoff)
            throw new DomainBuildException($"{name}: ELF section headers out of bounds");
        bool any = false;
        for (int i = 1; i < shnum; i++)
        {
            var sh = s.Slice((int)shoff + i * shentsize, ShdrSize);
            if (U32(sh, 4) != SHT_NOTE) continue;
            ulong off = U64(sh, 24), size = U64(sh, 32);
            if (off > (ulong)s.Length || size > (ulong)s.Length - off)
                throw new DomainBuildException($"{name}: SHT_NOTE section {i} out of bounds");
            any |= ParseNotes(s.Slice((int)off, (int)size), notes, ref noteCount, name);
        }
        return any;
    }

    /// <summary>ELF_MAX_TOTAL_NOTE_COUNT: libelf gives up on an image with more notes than this.</summary>
    private const int MaxTotalNotes = 65536;

    /// <summary>Parse ELF notes; keeps the "Xen" ones. Returns whether any Xen note was seen.</summary>
    private static bool ParseNotes(ReadOnlySpan<byte> data, Dictionary<XenElfNote, object> notes, ref int noteCount, string name)
    {
        bool any = false;
        int pos = 0;
        while (pos + 12 <= data.Length)
        {
            if (++noteCount > MaxTotalNotes)
                throw new DomainBuildException($"{name}: too many ELF notes (more than {MaxTotalNotes})");
            uint namesz = U32(data, pos), descsz = U32(data, pos + 4), type = U32(data, pos + 8);
            long nameStart = pos + 12, descStart = nameStart + Align4(namesz), next = descStart + Align4(descsz);
            if (namesz > (uint)data.Length || descsz > (uint)data.Length || next > data.Length)
                throw new DomainBuildException($"{name}: malformed ELF note at offset {pos}");
            var noteName = data.Slice((int)nameStart, (int)namesz);
            var desc = data.Slice((int)descStart, (int)descsz);
            if (noteName.SequenceEqual("Xen\0"u8))
            {
                any = true;
                var kind = (XenElfNote)type;
                switch (kind)
                {
                    case XenElfNote.Entry or XenElfNote.HypercallPage or XenElfNote.VirtBase or XenElfNote.PaddrOffset
                        or XenElfNote.HvStartLow or XenElfNote.InitP2m or XenElfNote.ModStartPfn
                        or XenElfNote.Phys32Entry or XenElfNote.L1MfnValid or XenElfNote.SuspendCancel:
                        // elf_note_numeric: a value of 1, 2, 4 or 8 bytes; any other size reads as 0.
                        notes[kind] = desc.Length switch
                        {
                            1 => (ulong)desc[0], 2 => U16(desc, 0), 4 => U32(desc, 0), 8 => U64(desc, 0), _ => 0UL,
                        };
                        break;
                    case XenElfNote.SupportedFeatures:
                        // elf_note_numeric_array of 32-bit words; XENFEAT_NR_SUBMAPS is 1, so only the first counts.
                        notes[kind] = desc.Length >= 4 ? (ulong)U32(desc, 0) : 0UL;
                        break;
                    case XenElfNote.XenVersion or XenElfNote.GuestOs or XenElfNote.GuestVersion or XenElfNote.Loader
                        or XenElfNote.PaeMode or XenElfNote.Features or XenElfNote.BsdSymtab:
                        int nul = desc.IndexOf((byte)0);
                        notes[kind] = Encoding.ASCII.GetString(nul >= 0 ? desc[..nul] : desc);
                        break;
                }
            }
            pos = (int)next;
        }
        return any;
    }

    private static byte[] MaybeGunzip(byte[] bytes, string name)
    {
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return bytes;
        try
        {
            using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var output = new MemoryStream();
            var buffer = new byte[81920];
            int n;
            while ((n = gz.Read(buffer)) > 0)
            {
                if (output.Length + n > MaxImageBytes)
                    throw new DomainBuildException($"{name}: decompressed image larger than {MaxImageBytes >> 20} MiB");
                output.Write(buffer, 0, n);
            }
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new DomainBuildException($"{name}: corrupt gzip image: {e.Message}");
        }
    }

    private static long Align4(uint v) => (v + 3L) & ~3L;
    private static ushort U16(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt16LittleEndian(s[o..]);
    private static uint U32(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt32LittleEndian(s[o..]);
    private static ulong U64(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt64LittleEndian(s[o..]);
}
