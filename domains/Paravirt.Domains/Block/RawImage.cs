using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Paravirt.Domains.Block;

/// <summary>Why an image cannot serve as a disk: one line naming the file.</summary>
public sealed class BlockImageException(string message) : Exception(message);

/// <summary>
/// A raw (format=raw) disk image file: sector n is bytes n*512 .. n*512+511. Sparse files stay sparse: nothing is
/// written that the guest did not write, reads of holes give zeros, and discard punches holes where the host
/// filesystem can (fallocate PUNCH_HOLE), writing zeros otherwise. <see cref="Flush"/> is fsync.
/// </summary>
public sealed partial class RawImage : IDisposable
{
    private readonly FileStream _file;

    private RawImage(FileStream file, string path, bool readOnly)
    {
        _file = file;
        Path = path;
        ReadOnly = readOnly;
        Sectors = file.Length / Blkif.SectorSize;
    }

    public string Path { get; }
    public bool ReadOnly { get; }
    /// <summary>The disk's size in 512-byte sectors (a trailing partial sector is not part of the disk).</summary>
    public long Sectors { get; }

    public static RawImage Open(string path, bool readOnly)
    {
        if (string.IsNullOrEmpty(path) || !System.IO.Path.IsPathFullyQualified(path))
            throw new BlockImageException($"disk image path \"{path}\" is not an absolute path");
        try
        {
            if (Directory.Exists(path)) throw new BlockImageException($"disk image {path} is a directory");
            var fs = new FileStream(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite,
                readOnly ? FileShare.ReadWrite : FileShare.Read, bufferSize: 0, FileOptions.RandomAccess);
            return new RawImage(fs, path, readOnly);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new BlockImageException($"cannot open disk image {path}{(readOnly ? " read-only" : "")}: {e.Message}");
        }
    }

    private SafeFileHandle Handle => _file.SafeFileHandle;

    /// <summary>Read <paramref name="destination"/>.Length bytes at <paramref name="offset"/>; past the end of the file reads zeros.</summary>
    public void Read(Span<byte> destination, long offset)
    {
        while (destination.Length > 0)
        {
            int n = RandomAccess.Read(Handle, destination, offset);
            if (n <= 0) { destination.Clear(); return; }
            destination = destination[n..];
            offset += n;
        }
    }

    public void Write(ReadOnlySpan<byte> source, long offset)
    {
        if (ReadOnly) throw new InvalidOperationException($"{Path} is open read-only");
        RandomAccess.Write(Handle, source, offset);
    }

    /// <summary>fsync: everything written so far is on stable storage when this returns.</summary>
    public void Flush()
    {
        if (!ReadOnly) _file.Flush(flushToDisk: true);
    }

    private const int FallocFlKeepSize = 1, FallocFlPunchHole = 2;

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int Fallocate(int fd, int mode, long offset, long length);

    private bool _punchUnsupported;
    private static readonly byte[] Zeros = new byte[64 * 1024];

    /// <summary>Discard a byte range: the host may reclaim it; it reads back as zeros.</summary>
    public void Discard(long offset, long length)
    {
        if (ReadOnly) throw new InvalidOperationException($"{Path} is open read-only");
        long end = Math.Min(offset + length, _file.Length);
        if (end <= offset) return;
        if (!_punchUnsupported && OperatingSystem.IsLinux())
        {
            bool added = false;
            try
            {
                Handle.DangerousAddRef(ref added);
                if (Fallocate((int)Handle.DangerousGetHandle(), FallocFlPunchHole | FallocFlKeepSize, offset, end - offset) == 0) return;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
            finally { if (added) Handle.DangerousRelease(); }
            _punchUnsupported = true;
        }
        for (long pos = offset; pos < end; pos += Zeros.Length)
            RandomAccess.Write(Handle, Zeros.AsSpan(0, (int)Math.Min(Zeros.Length, end - pos)), pos);
    }

    public void Dispose() => _file.Dispose();
}
