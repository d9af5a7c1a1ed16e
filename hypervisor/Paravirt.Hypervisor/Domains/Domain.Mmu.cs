namespace Paravirt.Hypervisor;

/// <summary>The PV MMU and memory_op state Xen keeps per domain (tot_pages accounting, the e820, teardown).</summary>
public sealed partial class Domain
{
    private readonly HashSet<ulong> _extraFrames = [];
    private readonly HashSet<ulong> _releasedFrames = [];

    /// <summary>Frames given to the domain after creation (increase_reservation, populate_physmap).</summary>
    internal HashSet<ulong> ExtraFrames => _extraFrames;
    /// <summary>Frames of the creation-time P2M the domain gave back (decrease_reservation).</summary>
    internal HashSet<ulong> ReleasedFrames => _releasedFrames;

    /// <summary>d->tot_pages: the frames the domain owns as memory (not shared_info or grant frames).</summary>
    public ulong TotalPages
    {
        get { lock (Hypervisor.Mmu.SyncRoot) return (ulong)P2m.Length - (ulong)_releasedFrames.Count + (ulong)_extraFrames.Count; }
    }

    /// <summary>The pseudo-physical memory map XENMEM_memory_map returns (XENMEM_set_memory_map); null = none set.</summary>
    public Memory.E820Entry[]? MemoryMap { get; internal set; }

    /// <summary>Set once the MMU let go of the domain's mappings (domain_relinquish_resources); no MMU op succeeds after.</summary>
    internal bool MmuRelinquished { get; set; }

    /// <summary>Every frame the domain owns as memory, for the final release.</summary>
    internal List<ulong> OwnedMemoryFrames()
    {
        lock (Hypervisor.Mmu.SyncRoot)
        {
            var list = new List<ulong>(P2m.Length + _extraFrames.Count);
            foreach (var mfn in P2m)
                if (!_releasedFrames.Contains(mfn)) list.Add(mfn);
            list.AddRange(_extraFrames);
            return list;
        }
    }
}
