using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Memory;

/// <summary>
/// Owner and pseudo-physical number of every machine frame (Xen's frame table and M2P), and the free pool.
/// Frames are scrubbed when they return to the pool, so a new owner never sees an old owner's data.
/// </summary>
public sealed class FrameTable
{
    public const ulong InvalidPfn = ulong.MaxValue;
    public const ushort Free = DomId.Invalid;

    private readonly MachineMemory _memory;
    private readonly ushort[] _owner;
    private readonly ulong[] _m2p;
    private readonly ulong[] _freeStack;
    private long _freeCount;
    private readonly Lock _lock = new();
    private ulong[]? _m2pFrames; // the machine-memory copy of the M2P (M2pTable), once attached

    public FrameTable(MachineMemory memory)
    {
        _memory = memory;
        _owner = new ushort[memory.FrameCount];
        _m2p = new ulong[memory.FrameCount];
        _freeStack = new ulong[memory.FrameCount];
        // Hand out high frames first so that machine and pseudo-physical numbers differ, as on real hosts.
        for (ulong i = 0; i < memory.FrameCount; i++)
        {
            _owner[i] = Free;
            _m2p[i] = InvalidPfn;
            _freeStack[i] = i;
        }
        _freeCount = (long)memory.FrameCount;
        Pages = new PageInfoTable(memory.FrameCount);
    }

    /// <summary>PV page types and reference counts, per frame (Xen's page_info).</summary>
    public PageInfoTable Pages { get; }

    public ulong TotalFrames => _memory.FrameCount;
    public ulong FreeFrames { get { lock (_lock) return (ulong)_freeCount; } }

    /// <summary>Take <paramref name="count"/> frames for <paramref name="owner"/>, all or none.</summary>
    public bool TryAllocate(ushort owner, Span<ulong> frames)
    {
        lock (_lock)
        {
            if ((long)frames.Length > _freeCount) return false;
            for (int i = 0; i < frames.Length; i++)
            {
                var mfn = _freeStack[--_freeCount];
                _owner[mfn] = owner;
                SetM2p(mfn, InvalidPfn);
                Pages.Reset(mfn);
                frames[i] = mfn;
            }
            return true;
        }
    }

    /// <summary>
    /// Take a naturally aligned run of 2^<paramref name="order"/> free frames below frame <paramref name="limit"/> for
    /// <paramref name="owner"/> (alloc_domheap_pages with an order and MEMF_bits), the highest such run first, as the
    /// stack hands out high frames first. False when no such run is free.
    /// </summary>
    public bool TryAllocateContiguous(ushort owner, int order, ulong limit, out ulong first)
    {
        first = 0;
        ulong n = 1UL << order;
        limit = Math.Min(limit, _memory.FrameCount);
        if (limit < n) return false;
        lock (_lock)
        {
            if ((long)n > _freeCount) return false;
            for (ulong b = (limit - n) & ~(n - 1); ; b -= n)
            {
                ulong j = 0;
                while (j < n && _owner[b + j] == Free) j++;
                if (j == n)
                {
                    first = b;
                    break;
                }
                if (b == 0) return false;
            }
            // Take the run out of the free stack (rare, so a linear compaction will do).
            long kept = 0;
            for (long i = 0; i < _freeCount; i++)
            {
                ulong mfn = _freeStack[i];
                if (mfn >= first && mfn < first + n) continue;
                _freeStack[kept++] = mfn;
            }
            _freeCount = kept;
            for (ulong mfn = first; mfn < first + n; mfn++)
            {
                _owner[mfn] = owner;
                SetM2p(mfn, InvalidPfn);
                Pages.Reset(mfn);
            }
            return true;
        }
    }

    /// <summary>Return frames to the pool, scrubbed. Frames not owned by <paramref name="owner"/> are refused.</summary>
    public void Release(ushort owner, ReadOnlySpan<ulong> frames)
    {
        foreach (var mfn in frames)
        {
            if (mfn >= _memory.FrameCount) throw new ArgumentOutOfRangeException(nameof(frames), mfn, "no such frame");
            if (_owner[mfn] != owner)
                throw new InvalidOperationException($"frame 0x{mfn:x} is owned by {_owner[mfn]}, not {owner}");
            _memory.Clear(mfn);
        }
        lock (_lock)
        {
            foreach (var mfn in frames)
            {
                _owner[mfn] = Free;
                SetM2p(mfn, InvalidPfn);
                Pages.Reset(mfn);
                _freeStack[_freeCount++] = mfn;
            }
        }
    }

    public ushort OwnerOf(ulong mfn) => mfn < _memory.FrameCount ? Volatile.Read(ref _owner[mfn]) : Free;

    public bool IsOwnedBy(ulong mfn, ushort domid) => mfn < _memory.FrameCount && _owner[mfn] == domid;

    /// <summary>machine_to_phys_mapping: the guest pfn of a machine frame (MMU_MACHPHYS_UPDATE sets it).</summary>
    public ulong MachineToPhys(ulong mfn) => mfn < _memory.FrameCount ? _m2p[mfn] : InvalidPfn;

    public void SetMachineToPhys(ulong mfn, ulong pfn) => SetM2p(mfn, pfn);

    /// <summary>Keep the guest-visible read-only M2P (frames <paramref name="m2pFrames"/>, 512 entries each) in step.</summary>
    internal void AttachMachineM2p(ulong[] m2pFrames)
    {
        _m2pFrames = m2pFrames;
        for (ulong mfn = 0; mfn < _memory.FrameCount; mfn++) SetM2p(mfn, _m2p[mfn]);
    }

    private void SetM2p(ulong mfn, ulong pfn)
    {
        _m2p[mfn] = pfn;
        if (_m2pFrames is { } f) _memory.WriteUInt64((f[mfn >> 9] << 12) + ((mfn & 511) << 3), pfn);
    }
}
