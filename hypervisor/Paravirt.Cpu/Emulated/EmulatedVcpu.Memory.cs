using System.Runtime.CompilerServices;

namespace Paravirt.Cpu.Emulated;

/// <summary>Linear-address accesses: a software TLB over <see cref="PageTableWalker.TranslateAndMark"/>.</summary>
public sealed unsafe partial class EmulatedVcpu
{
    private const int TlbBits = 9, TlbSize = 1 << TlbBits;
    /// <summary>Tag bit 1 is never set in a lookup tag (page base | user bit), so this never matches.</summary>
    private const ulong TlbInvalid = 2;

    /// <summary>One 4 KiB data translation. Tags are (linear page | user bit) per access kind, or
    /// <see cref="TlbInvalid"/>. A write tag implies the walk set the Dirty bit, as the hardware TLB does.</summary>
    private struct TlbEntry
    {
        public ulong ReadTag, WriteTag, MachinePage;
    }

    /// <summary>One 4 KiB instruction translation. Kept apart from data (as hardware's ITLB/DTLB) so a code page
    /// and a data page that share an index do not evict each other on every block.</summary>
    private struct ItlbEntry
    {
        public ulong Tag, MachinePage;
    }

    /// <summary>Frames the executing block was decoded from (see <see cref="NoteStore"/>).</summary>
    private ulong _currentFrame = NoFrame, _currentFrame2 = NoFrame;

    private TlbEntry* _tlb;
    private ItlbEntry* _itlb;
    private ulong _cr3 = ulong.MaxValue;
    private ulong _userBit;
    /// <summary>The access being made uses the stack segment: a non-canonical address is #SS(0), not #GP(0).</summary>
    private bool _stackAccess;
    /// <summary>Some TLB entry came from a 2 MiB or 1 GiB page: invlpg then has to drop more than one slot.</summary>
    private bool _largePagesCached;

    private enum Access { Read, Write, Fetch }

    /// <summary>
    /// Drop every cached translation. Between runs (or from inside the vCPU's own thread) it takes effect at once.
    /// From another thread while <see cref="Run"/> executes it is applied at the next block boundary (within
    /// a few dozen instructions); a caller that must know it has happened kicks the vCPU and waits for Run to
    /// return, as Xen waits for flush IPIs.
    /// </summary>
    public void FlushTlb()
    {
        Interlocked.Or(ref _attention, AttentionFlush);
        if (IsOwnerThreadOrIdle) FlushTlbNow();
    }

    /// <summary>Drop cached translations for one page; from another thread during a run, a full flush.</summary>
    public void InvalidatePage(ulong linearAddress)
    {
        if (!IsOwnerThreadOrIdle || _largePagesCached)
        {
            // invlpg of a large page drops the whole page and our 4 KiB pieces of it are spread out; a remote
            // invalidation cannot touch the TLB under the running thread.
            FlushTlb();
            return;
        }
        int index = (int)(linearAddress >> 12) & (TlbSize - 1);
        _tlbEpoch++;
        _tlb[index].ReadTag = _tlb[index].WriteTag = TlbInvalid;
        _itlb[index].Tag = TlbInvalid;
    }

    private bool IsOwnerThreadOrIdle
    {
        get
        {
            int t = Volatile.Read(ref _runThread);
            return t == 0 || t == Environment.CurrentManagedThreadId;
        }
    }

    private void FlushTlbNow()
    {
        if (_tlb == null) return;
        _tlbEpoch++;
        for (int i = 0; i < TlbSize; i++)
        {
            _tlb[i].ReadTag = _tlb[i].WriteTag = TlbInvalid;
            _itlb[i].Tag = TlbInvalid;
        }
        _largePagesCached = false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Tag(ulong va) => (va & ~0xFFFUL) | _userBit;

    /// <summary>Translate for an access, walking the guest tables on a TLB miss. Returns the machine page.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong Fill(ulong va, Access access)
    {
        uint error = PageTableWalker.TranslateAndMark(_memory, _cr3, va, access == Access.Write, _userBit != 0,
            access == Access.Fetch, out ulong maddr, out bool large);
        if (error != 0)
        {
            if (error == uint.MaxValue)
                RaiseFault(_stackAccess && access != Access.Fetch ? ExceptionVector.StackFault : ExceptionVector.GeneralProtection);
            Registers.Cr2 = va;
            RaiseFault(ExceptionVector.PageFault, error, true, va);
        }
        _largePagesCached |= large;
        ulong page = maddr & ~0xFFFUL;
        ulong tag = Tag(va);
        int index = (int)(va >> 12) & (TlbSize - 1);
        if (access == Access.Fetch)
        {
            _itlb[index].Tag = tag;
            _itlb[index].MachinePage = page;
            return page;
        }
        // A page holding a data-breakpoint range stays out of the data TLB, so that every access to it reaches
        // the slow paths that compare it with the range (EmulatedVcpu.DataBreakpoints.cs).
        if (_dataBreakpoints != 0 && IsWatchedPage(va)) return page;
        // Nor is anything cached while accesses are alignment-checked (EmulatedVcpu.AlignmentCheck.cs).
        if (_alignMask != 0) return page;
        _dataTlbEmpty = false;
        ref var e = ref _tlb[index];
        if (e.MachinePage != page || (e.ReadTag != tag && e.WriteTag != tag))
        {
            e.ReadTag = e.WriteTag = TlbInvalid;
            e.MachinePage = page;
        }
        if (access == Access.Write) e.ReadTag = e.WriteTag = tag;
        else e.ReadTag = tag;
        return page;
    }

    /// <summary>Machine address of the 4 KiB page holding <paramref name="va"/>, for an instruction fetch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong FetchPage(ulong va)
    {
        ref var e = ref _itlb[(int)(va >> 12) & (TlbSize - 1)];
        return e.Tag == Tag(va) ? e.MachinePage : Fill(va, Access.Fetch);
    }

    /// <summary>Host pointer for reading <paramref name="size"/> bytes that lie within one page.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* ReadPointer(ulong va)
    {
        ref var e = ref _tlb[(int)(va >> 12) & (TlbSize - 1)];
        ulong page = e.ReadTag == Tag(va) ? e.MachinePage : Fill(va, Access.Read);
        return _base + page + (va & 0xFFF);
    }

    /// <summary>Host pointer for writing within one page; notes the store for decode caches.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* WritePointer(ulong va)
    {
        ref var e = ref _tlb[(int)(va >> 12) & (TlbSize - 1)];
        ulong page = e.WriteTag == Tag(va) ? e.MachinePage : Fill(va, Access.Write);
        return _base + page + (va & 0xFFF);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void NoteStore(byte* p)
    {
        ulong frame = (ulong)(p - _base) >> MachineMemory.PageShift;
        // Other blocks revalidate their generation when entered; only the running block must be left at once
        // if the store hit the frame(s) it was decoded from.
        if (_memory.NoteCpuWrite(frame) && (frame == _currentFrame || frame == _currentFrame2)) _endBlock = true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool CrossesPage(ulong va, int size) => (va & 0xFFF) > (ulong)(4096 - size);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Read(ulong va, int size)
    {
        ref var e = ref _tlb[(int)(va >> 12) & (TlbSize - 1)];
        if (e.ReadTag == Tag(va) && !CrossesPage(va, size))
        {
            byte* p = _base + e.MachinePage + (va & 0xFFF);
            return size switch { 1 => *p, 2 => *(ushort*)p, 4 => *(uint*)p, _ => *(ulong*)p };
        }
        return ReadSlow(va, size);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong ReadSlow(ulong va, int size)
    {
        CheckAlignment(va, size);
        if (_dataBreakpoints != 0) NoteDataAccess(va, (ulong)size, write: false);
        if (!CrossesPage(va, size))
        {
            byte* p = ReadPointer(va);
            return size switch { 1 => *p, 2 => *(ushort*)p, 4 => *(uint*)p, _ => *(ulong*)p };
        }
        // Split access: translate both pages before reading (either may fault).
        int first = 4096 - (int)(va & 0xFFF);
        byte* a = ReadPointer(va);
        byte* b = ReadPointer(va + (ulong)first);
        ulong v = 0;
        for (int i = size - 1; i >= 0; i--) v = (v << 8) | (i < first ? a[i] : b[i - first]);
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Write(ulong va, int size, ulong v)
    {
        ref var e = ref _tlb[(int)(va >> 12) & (TlbSize - 1)];
        if (e.WriteTag == Tag(va) && !CrossesPage(va, size))
        {
            byte* p = _base + e.MachinePage + (va & 0xFFF);
            switch (size)
            {
                case 1: *p = (byte)v; break;
                case 2: *(ushort*)p = (ushort)v; break;
                case 4: *(uint*)p = (uint)v; break;
                default: *(ulong*)p = v; break;
            }
            NoteStore(p);
            return;
        }
        WriteSlow(va, size, v);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteSlow(ulong va, int size, ulong v)
    {
        CheckAlignment(va, size);
        if (_dataBreakpoints != 0) NoteDataAccess(va, (ulong)size, write: true);
        if (!CrossesPage(va, size))
        {
            byte* p = WritePointer(va);
            switch (size)
            {
                case 1: *p = (byte)v; break;
                case 2: *(ushort*)p = (ushort)v; break;
                case 4: *(uint*)p = (uint)v; break;
                default: *(ulong*)p = v; break;
            }
            NoteStore(p);
            return;
        }
        // Both pages must be writable before either is written: the store is all or nothing.
        int first = 4096 - (int)(va & 0xFFF);
        byte* a = WritePointer(va);
        byte* b = WritePointer(va + (ulong)first);
        for (int i = 0; i < size; i++, v >>= 8)
        {
            if (i < first) a[i] = (byte)v; else b[i - first] = (byte)v;
        }
        NoteStore(a);
        NoteStore(b);
    }

    /// <summary>
    /// Host pointer for an atomic read-modify-write of <paramref name="size"/> bytes, or null when the operand
    /// straddles a page (two machine frames: no host atomic spans them; the caller falls back to a plain RMW,
    /// which is what a split lock degenerates to here). Checks write permission, as locked operations do.
    /// </summary>
    private byte* AtomicPointer(ulong va, int size)
    {
        CheckAlignment(va, OperandAlignment(size));
        // Every caller writes through the pointer or in its fallback, a failed compare-exchange included.
        if (_dataBreakpoints != 0) NoteDataAccess(va, (ulong)size, write: true);
        if (CrossesPage(va, size))
        {
            WritePointer(va);
            WritePointer(va + (ulong)(4096 - (int)(va & 0xFFF)));
            return null;
        }
        return WritePointer(va);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong LoadHost(byte* p, int size) => size switch
    {
        1 => Volatile.Read(ref *p),
        2 => Volatile.Read(ref *(ushort*)p),
        4 => Volatile.Read(ref *(uint*)p),
        _ => Volatile.Read(ref *(ulong*)p),
    };

    /// <summary>Host compare-and-swap; returns the value found.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong CompareExchangeHost(byte* p, int size, ulong value, ulong comparand) => size switch
    {
        1 => Interlocked.CompareExchange(ref *p, (byte)value, (byte)comparand),
        2 => Interlocked.CompareExchange(ref *(ushort*)p, (ushort)value, (ushort)comparand),
        4 => Interlocked.CompareExchange(ref *(uint*)p, (uint)value, (uint)comparand),
        _ => Interlocked.CompareExchange(ref *(ulong*)p, value, comparand),
    };
}
