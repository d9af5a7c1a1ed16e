using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Memory;

/// <summary>The typed halves of XENMEM_increase/decrease_reservation and XENMEM_populate_physmap for a PV domain.</summary>
public sealed partial class PvMmu
{
    /// <summary>
    /// alloc_domheap_pages for one 4 KiB extent: a scrubbed frame for <paramref name="d"/>, within max_pages.
    /// -ENOMEM when the domain is at its limit or the host is out of frames.
    /// </summary>
    public int AllocateFrame(Domain d, out ulong mfn)
    {
        mfn = 0;
        lock (_lock)
        {
            if (!Usable(d) || d.IsManaged) return -XenErrno.EINVAL;
            if (d.TotalPages + 1 > d.MaxPages) return -XenErrno.ENOMEM;
            Span<ulong> one = stackalloc ulong[1];
            if (!_frames.TryAllocate(d.Id, one)) return -XenErrno.ENOMEM;
            mfn = one[0];
            _mem.Clear(mfn);
            if (!d.ReleasedFrames.Remove(mfn)) d.ExtraFrames.Add(mfn);
            return 0;
        }
    }

    /// <summary>
    /// alloc_domheap_pages for an extent of 2^<paramref name="order"/> machine-contiguous, naturally aligned frames
    /// below frame <paramref name="limit"/> (XENMEMF_address_bits), scrubbed, within max_pages. -ENOMEM when the
    /// domain is at its limit or no such run is free.
    /// </summary>
    public int AllocateExtent(Domain d, int order, ulong limit, out ulong first)
    {
        first = 0;
        if (order == 0 && limit >= _mem.FrameCount) return AllocateFrame(d, out first);
        lock (_lock)
        {
            if (!Usable(d) || d.IsManaged) return -XenErrno.EINVAL;
            ulong n = 1UL << order;
            if (d.TotalPages + n > d.MaxPages) return -XenErrno.ENOMEM;
            if (!_frames.TryAllocateContiguous(d.Id, order, limit, out first)) return -XenErrno.ENOMEM;
            for (ulong mfn = first; mfn < first + n; mfn++)
            {
                _mem.Clear(mfn);
                if (!d.ReleasedFrames.Remove(mfn)) d.ExtraFrames.Add(mfn);
            }
            return 0;
        }
    }

    /// <summary>
    /// guest_remove_page for a PV domain: give frame <paramref name="mfn"/> back to the pool, scrubbed. It must be
    /// the domain's ordinary memory (-EINVAL for shared_info or grant-table frames, -ENXIO for a frame that is not
    /// its own). Unlike Xen, which frees a still-referenced frame when its last reference goes, a frame that is still
    /// mapped, typed or pinned is refused (-EBUSY), so no page table can ever point at a frame that changed hands.
    /// </summary>
    public int ReleaseFrame(Domain d, ulong mfn)
    {
        lock (_lock)
        {
            if (!Usable(d)) return -XenErrno.EINVAL;
            if (!IsValidFrame(mfn) || _frames.OwnerOf(mfn) != d.Id) return -XenErrno.ENXIO;
            if ((_p.Flags[mfn] & PageFlags.Special) != 0 || mfn == d.SharedInfoMfn) return -XenErrno.EINVAL;
            if (_p.Count[mfn] != 0 || _p.TypeCount[mfn] != 0) return -XenErrno.EBUSY;
            // A translation the domain cached before its last mapping went may still name the frame: flush before
            // it can belong to someone else (Xen: the TLB-flush filter on allocation).
            Flush(d, null, null, null);
            if (!d.ExtraFrames.Remove(mfn)) d.ReleasedFrames.Add(mfn);
            _frames.Release(d.Id, [mfn]);
            return 0;
        }
    }

    /// <summary>XENMEM_set_memory_map (privileged, or a domain for itself).</summary>
    public void SetMemoryMap(Domain d, E820Entry[] map) => d.MemoryMap = map;
}
