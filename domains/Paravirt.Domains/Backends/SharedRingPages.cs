using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Paravirt.Hypervisor.Grants;

namespace Paravirt.Domains.Backends;

/// <summary>
/// The pages of a shared ring (io/ring.h) as one byte range: ring-ref (one page) or ring-ref0..N-1 for a
/// multi-page ring (ring-page-order), each mapped writable from the front-end. The front-end sees the pages
/// virtually contiguous, so an entry may straddle two pages; reads and writes here split at page edges.
/// </summary>
public sealed class SharedRingPages : IDisposable
{
    public const int PageSize = 4096;
    /// <summary>XENBUS_MAX_RING_GRANT_ORDER: the largest ring-page-order a back-end may offer.</summary>
    public const int MaxOrder = 4;

    private readonly GrantMapping[] _pages;

    private SharedRingPages(GrantMapping[] pages) => _pages = pages;

    public int PageCount => _pages.Length;
    public int Length => _pages.Length * PageSize;

    /// <summary>Map every page writable; all or nothing. Null with the first refusal's GNTST_* status.</summary>
    public static SharedRingPages? TryMap(BackendDomain backend, ushort frontend, ReadOnlySpan<uint> grefs, out short status)
    {
        if (grefs.Length == 0 || grefs.Length > 1 << MaxOrder) { status = GrantStatus.GeneralError; return null; }
        var pages = new GrantMapping[grefs.Length];
        for (int i = 0; i < grefs.Length; i++)
        {
            var m = backend.MapGrant(frontend, grefs[i], readOnly: false, out status);
            if (m == null)
            {
                for (int j = 0; j < i; j++) pages[j].Dispose();
                return null;
            }
            pages[i] = m;
        }
        status = GrantStatus.Okay;
        return new SharedRingPages(pages);
    }

    /// <summary>A 32-bit index in the first page (the sring header), read with acquire semantics.</summary>
    public uint ReadIndex(int offset) => Volatile.Read(ref IndexRef(offset));

    /// <summary>A 32-bit index in the first page, written with release semantics.</summary>
    public void WriteIndex(int offset, uint value) => Volatile.Write(ref IndexRef(offset), value);

    private ref uint IndexRef(int offset)
    {
        if ((uint)offset > PageSize - 4 || (offset & 3) != 0) throw new ArgumentOutOfRangeException(nameof(offset));
        return ref Unsafe.As<byte, uint>(ref MemoryMarshal.GetReference(_pages[0].Span[offset..]));
    }

    /// <summary>Copy <paramref name="destination"/>.Length bytes starting at <paramref name="offset"/> out of the ring.</summary>
    public void Read(int offset, Span<byte> destination)
    {
        while (destination.Length > 0)
        {
            int page = offset / PageSize, within = offset % PageSize;
            int n = Math.Min(destination.Length, PageSize - within);
            _pages[page].Span.Slice(within, n).CopyTo(destination);
            destination = destination[n..];
            offset += n;
        }
    }

    public void Write(int offset, ReadOnlySpan<byte> source)
    {
        while (source.Length > 0)
        {
            int page = offset / PageSize, within = offset % PageSize;
            int n = Math.Min(source.Length, PageSize - within);
            source[..n].CopyTo(_pages[page].Span.Slice(within, n));
            source = source[n..];
            offset += n;
        }
    }

    public void Dispose()
    {
        foreach (var p in _pages) p.Dispose();
    }
}
