using System.Buffers.Binary;
using System.IO.Compression;

namespace Paravirt.Hypervisor.Boot;

/// <summary>
/// A boot module (the ramdisk) as Xen's builder places it (xg_dom_core.c xc_dom_build_module, xc_dom_check_gzip):
/// a gzip blob is inflated into a segment sized from the length its trailer announces, plus 16 bytes of slack; a
/// blob that does not inflate is handed over as it is. The segment is the larger of that size and the blob's.
/// </summary>
public sealed class RamdiskImage
{
    /// <summary>Largest module accepted (XC_DOM_DECOMPRESS_MAX is 1 GiB; we take less, like the kernel).</summary>
    public const int MaxBytes = KernelImage.MaxImageBytes;

    private RamdiskImage(byte[] contents, ulong segmentBytes, bool inflated)
    {
        Contents = contents;
        SegmentBytes = segmentBytes;
        Inflated = inflated;
    }

    /// <summary>The bytes that go into guest memory (inflated, or the blob as given).</summary>
    public byte[] Contents { get; }
    /// <summary>How many bytes of guest memory the module segment takes before page rounding.</summary>
    public ulong SegmentBytes { get; }
    /// <summary>True when the blob was gzip and was inflated.</summary>
    public bool Inflated { get; }

    /// <summary>Read a ramdisk file, refusing one larger than <see cref="MaxBytes"/> before reading it.</summary>
    public static byte[] ReadFile(string path)
    {
        try
        {
            long length = new FileInfo(path).Length;
            if (length > MaxBytes)
                throw new DomainBuildException($"ramdisk {path} is {length} bytes, larger than {MaxBytes >> 20} MiB");
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DomainBuildException($"cannot read ramdisk {path}: {e.Message}");
        }
    }

    public static RamdiskImage Prepare(byte[] blob, string name)
    {
        if (blob.Length > MaxBytes)
            throw new DomainBuildException($"{name}: ramdisk of {blob.Length} bytes is larger than {MaxBytes >> 20} MiB");
        ulong announced = AnnouncedGunzipLength(blob);
        if (announced == 0) return new RamdiskImage(blob, (ulong)blob.Length, false);

        ulong segment = Math.Max(announced, (ulong)blob.Length);
        if (segment > MaxBytes)
        {
            // xc_dom_build_module: too large inflated, so try the smaller of the two; the blob itself fits.
            return new RamdiskImage(blob, (ulong)blob.Length, false);
        }
        var inflated = TryGunzip(blob, (int)announced);
        return inflated != null
            ? new RamdiskImage(inflated, segment, true)
            : new RamdiskImage(blob, segment, false);
    }

    /// <summary>
    /// xc_dom_check_gzip: 0 unless the blob starts with the gzip magic; otherwise the trailer's ISIZE plus 16, or 0
    /// when that is implausibly large.
    /// </summary>
    private static ulong AnnouncedGunzipLength(byte[] blob)
    {
        if (blob.Length < 6 || blob[0] != 0x1f || blob[1] != 0x8b) return 0;
        ulong isize = BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(blob.Length - 4));
        if (isize > 1UL << 30) return 0; // XC_DOM_DECOMPRESS_MAX
        return isize + 16;
    }

    /// <summary>Inflate into at most <paramref name="capacity"/> bytes; null if the stream is corrupt or larger.</summary>
    private static byte[]? TryGunzip(byte[] blob, int capacity)
    {
        try
        {
            using var gz = new GZipStream(new MemoryStream(blob, writable: false), CompressionMode.Decompress);
            var buffer = new byte[capacity];
            int total = 0;
            while (true)
            {
                if (total == capacity)
                    return gz.ReadByte() < 0 ? buffer : null; // more than announced: not what the trailer said
                int n = gz.Read(buffer, total, capacity - total);
                if (n == 0) break;
                total += n;
            }
            Array.Resize(ref buffer, total);
            return buffer;
        }
        catch (InvalidDataException) { return null; }
    }
}
