using System.Buffers.Binary;

namespace Paravirt.Domains.Toolstack;

/// <summary>
/// A guest's memory as an ELF64 core file (ET_CORE, EM_X86_64): one PT_LOAD segment per run of consecutive
/// pseudo-physical frames, p_paddr the guest-physical address, so `readelf -l` and gdb's core loader can read it.
/// Pages are copied one at a time through a caller-supplied reader (a Dom0 foreign mapping).
/// </summary>
public static class CoreDump
{
    // elf.h / System V gABI constants.
    private const ushort EtCore = 4, EmX86_64 = 62;
    private const uint PtLoad = 1, PfR = 4, PfW = 2;
    private const int EhdrSize = 64, PhdrSize = 56, PageSize = 4096;

    /// <summary>Write the core of a domain whose pfn → mfn map is <paramref name="p2m"/>.</summary>
    public static void Write(Stream output, IReadOnlyList<ulong> p2m, Action<ulong, Span<byte>> readFrame)
    {
        // Every pfn has a frame in a PV domain built by our builder, so the whole p2m is one run; still, split at
        // invalid entries (~0) so a sparse map produces a correct file.
        var runs = new List<(int Start, int Count)>();
        for (int pfn = 0; pfn < p2m.Count;)
        {
            if (p2m[pfn] == ulong.MaxValue) { pfn++; continue; }
            int start = pfn;
            while (pfn < p2m.Count && p2m[pfn] != ulong.MaxValue) pfn++;
            runs.Add((start, pfn - start));
        }

        long dataOffset = AlignUp(EhdrSize + (long)PhdrSize * runs.Count, PageSize);
        var header = new byte[dataOffset];
        var h = header.AsSpan();
        h[0] = 0x7F; h[1] = (byte)'E'; h[2] = (byte)'L'; h[3] = (byte)'F';
        h[4] = 2; // ELFCLASS64
        h[5] = 1; // ELFDATA2LSB
        h[6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(h[16..], EtCore);
        BinaryPrimitives.WriteUInt16LittleEndian(h[18..], EmX86_64);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(h[32..], EhdrSize); // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(h[52..], EhdrSize);
        BinaryPrimitives.WriteUInt16LittleEndian(h[54..], PhdrSize);
        BinaryPrimitives.WriteUInt16LittleEndian(h[56..], (ushort)runs.Count);

        long offset = dataOffset;
        for (int i = 0; i < runs.Count; i++)
        {
            var p = h.Slice(EhdrSize + i * PhdrSize, PhdrSize);
            long bytes = (long)runs[i].Count * PageSize;
            BinaryPrimitives.WriteUInt32LittleEndian(p, PtLoad);
            BinaryPrimitives.WriteUInt32LittleEndian(p[4..], PfR | PfW);
            BinaryPrimitives.WriteUInt64LittleEndian(p[8..], (ulong)offset);
            BinaryPrimitives.WriteUInt64LittleEndian(p[16..], 0); // p_vaddr: a PV guest's mappings are its own
            BinaryPrimitives.WriteUInt64LittleEndian(p[24..], (ulong)runs[i].Start * PageSize); // p_paddr
            BinaryPrimitives.WriteUInt64LittleEndian(p[32..], (ulong)bytes);
            BinaryPrimitives.WriteUInt64LittleEndian(p[40..], (ulong)bytes);
            BinaryPrimitives.WriteUInt64LittleEndian(p[48..], PageSize);
            offset += bytes;
        }
        output.Write(header);

        var page = new byte[PageSize];
        foreach (var (start, count) in runs)
        {
            for (int pfn = start; pfn < start + count; pfn++)
            {
                readFrame(p2m[pfn], page);
                output.Write(page);
            }
        }
    }

    private static long AlignUp(long value, long alignment) => (value + alignment - 1) / alignment * alignment;
}
