using System.Runtime.CompilerServices;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Grants;

/// <summary>
/// One domain's grant table, version 1 (xen/common/grant_table.c, docs/misc/grant-tables.txt): the shared frames of
/// grant_entry_v1 the domain writes to offer its pages, the pin counts behind GTF_reading/GTF_writing, and the
/// maptrack of mappings this domain holds of other domains' grants. The typed operations are what managed domains
/// call with their own identity; <c>GrantTableOp</c> only marshals for guests. One hypervisor-wide lock guards every
/// table, so a map touching two tables can never deadlock.
/// </summary>
public sealed class GrantTable
{
    /// <summary>xl.cfg max_grant_frames default (64 frames of 512 v1 entries).</summary>
    public const int DefaultMaxFrames = 64;
    /// <summary>xl.cfg max_maptrack_frames default: 1024 frames of 512 handles (struct grant_mapping is 8 bytes).</summary>
    public const int DefaultMaxMaptrack = 1024 * 512;
    public const int EntrySize = 8, EntriesPerFrame = 4096 / EntrySize;
    /// <summary>The only grant-table version this hypervisor offers (v2 stays disabled, as gnttab=max-ver:1).</summary>
    public const uint Version = 1;

    private static readonly ConditionalWeakTable<Hypervisor, object> Locks = new();

    private readonly Domain _domain;
    private readonly List<ulong> _frames = [];
    private int[] _readPins = [];
    private int[] _writePins = [];
    private readonly List<Mapping?> _maptrack = [];
    private readonly Stack<uint> _freeHandles = new();
    private bool _dead;

    private sealed class Mapping
    {
        public required GrantTable Granter;
        public required uint Ref;
        public required ulong Mfn;
        public required uint Flags;
        public required ulong HostAddr;
        public required ForeignMapping Pin;
        public bool Writable => (Flags & GrantMapFlags.Readonly) == 0;
    }

    internal GrantTable(Domain domain) => _domain = domain;

    private int _maxFrames = DefaultMaxFrames, _maxMaptrack = DefaultMaxMaptrack;

    /// <summary>max_grant_frames (xl.cfg): the most frames setup_table may grow the table to.</summary>
    public int MaxFrames
    {
        get => _maxFrames;
        set => _maxFrames = value is >= 1 and <= 4096 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "max_grant_frames must be 1..4096");
    }

    /// <summary>max_maptrack_frames (xl.cfg) in handles: the most grant mappings this domain may hold at once (0: none, as Xen allows).</summary>
    public int MaxMaptrack
    {
        get => _maxMaptrack;
        set => _maxMaptrack = value is >= 0 and <= DefaultMaxMaptrack * 4 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "maptrack limit out of range");
    }

    private object Lock => Locks.GetValue(_domain.Hypervisor, _ => new object());

    public int FrameCount { get { lock (Lock) return _frames.Count; } }
    private uint EntryCount => (uint)(_frames.Count * EntriesPerFrame);

    /// <summary>Live mappings this domain holds of others' grants.</summary>
    public int ActiveMappings { get { lock (Lock) return _maptrack.Count(m => m != null); } }

    /// <summary>The machine frames of the shared table (what setup_table hands a PV guest).</summary>
    public ulong[] Frames { get { lock (Lock) return [.. _frames]; } }

    private static Domain? Resolve(Domain caller, ushort dom) =>
        caller.Hypervisor.GetDomain(dom == DomId.Self ? caller.Id : dom);

    /// <summary>
    /// GNTTABOP_setup_table: grow <paramref name="dom"/>'s table to at least <paramref name="nrFrames"/> frames and
    /// return their machine frame numbers (PV). Past max_grant_frames: GNTST_general_error; another domain needs a
    /// privileged caller.
    /// </summary>
    public static short SetupTable(Domain caller, ushort dom, uint nrFrames, Span<ulong> frameList)
    {
        // As Xen: the lookup (GNTST_bad_domain), then the XSM check (GNTST_permission_denied), then the table.
        var d = Resolve(caller, dom);
        if (d == null) return GrantStatus.BadDomain;
        if (d != caller && !caller.IsPrivileged) return GrantStatus.PermissionDenied;
        if (d.IsManaged) return GrantStatus.BadDomain;
        var t = d.Grants;
        lock (t.Lock)
        {
            if (t._dead) return GrantStatus.BadDomain;
            if (nrFrames > (uint)t.MaxFrames || (uint)frameList.Length < nrFrames) return GrantStatus.GeneralError;
            if (!t.GrowLocked((int)nrFrames)) return GrantStatus.GeneralError;
            for (int i = 0; i < (int)nrFrames; i++) frameList[i] = t._frames[i];
            return GrantStatus.Okay;
        }
    }

    /// <summary>XENMAPIDX_grant_table_status: the idx bit that asks for a status frame (grant tables v2 only).</summary>
    public const uint MapIdxStatus = 1u << 31;

    /// <summary>
    /// The XENMAPSPACE_grant_table case of XENMEM_add_to_physmap (gnttab_map_frame), for the memory_op marshalling
    /// to call: grant frame <paramref name="idx"/> of <paramref name="d"/>, growing the table up to it if needed.
    /// Status frames do not exist in v1 and an index at or past max_grant_frames is -EINVAL; no memory is -ENOMEM.
    /// </summary>
    public static int FrameForPhysmap(Domain d, uint idx, out ulong mfn)
    {
        mfn = 0;
        if (d.IsManaged) return -XenErrno.EINVAL;
        if ((idx & MapIdxStatus) != 0) return -XenErrno.EINVAL;
        var t = d.Grants;
        lock (t.Lock)
        {
            if (t._dead) return -XenErrno.ESRCH;
            if (idx >= (uint)t.MaxFrames) return -XenErrno.EINVAL;
            if (!t.GrowLocked((int)idx + 1)) return -XenErrno.ENOMEM;
            mfn = t._frames[(int)idx];
            return 0;
        }
    }

    /// <summary>GNTTABOP_query_size: current and maximum frames of <paramref name="dom"/>'s table.</summary>
    public static short QuerySize(Domain caller, ushort dom, out uint nrFrames, out uint maxFrames)
    {
        nrFrames = maxFrames = 0;
        var d = Resolve(caller, dom);
        if (d == null) return GrantStatus.BadDomain;
        if (d != caller && !caller.IsPrivileged) return GrantStatus.PermissionDenied;
        if (d.IsManaged) return GrantStatus.BadDomain;
        lock (d.Grants.Lock)
        {
            nrFrames = (uint)d.Grants._frames.Count;
            maxFrames = (uint)d.Grants.MaxFrames;
        }
        return GrantStatus.Okay;
    }

    /// <summary>GNTTABOP_set_version: only v1 exists here; asking for v2 is -ENOSYS as on a Xen with v2 disabled.</summary>
    public static int SetVersion(Domain caller, uint version, out uint current)
    {
        current = Version;
        if (version != 1 && version != 2) return -XenErrno.EINVAL;
        return version == 1 ? 0 : -XenErrno.ENOSYS;
    }

    /// <summary>
    /// GNTTABOP_get_status_frames (gnttab_get_status_frames, Xen built with grant v2 but limited to v1): a v1 table has
    /// no status frames, so asking for none is GNTST_okay and asking for any is GNTST_general_error; a missing domain
    /// is GNTST_bad_domain and another domain's table needs a privileged caller (GNTST_permission_denied).
    /// </summary>
    public static short GetStatusFrames(Domain caller, ushort dom, uint nrFrames)
    {
        var d = Resolve(caller, dom);
        if (d == null) return GrantStatus.BadDomain;
        if (d != caller && !caller.IsPrivileged) return GrantStatus.PermissionDenied;
        if (d.IsManaged) return GrantStatus.BadDomain;
        return nrFrames > 0 ? GrantStatus.GeneralError : GrantStatus.Okay;
    }

    /// <summary>GNTTABOP_get_version.</summary>
    public static int GetVersion(Domain caller, ushort dom, out uint version)
    {
        version = 0;
        var d = Resolve(caller, dom);
        if (d == null) return -XenErrno.ESRCH;
        if (d != caller && !caller.IsPrivileged) return -XenErrno.EPERM;
        version = Version;
        return 0;
    }

    /// <summary>
    /// GNTTABOP_map_grant_ref: map grant <paramref name="gref"/> of <paramref name="granterId"/> for
    /// <paramref name="grantee"/>. The entry must permit access to the grantee (and be writable unless
    /// GNTMAP_readonly); while mapped it carries GTF_reading (and GTF_writing) and its frame cannot be freed.
    /// Managed grantees take the frame as a span (<see cref="MappedFrame"/>); guests get a device (bus) address and,
    /// with GNTMAP_host_map, the L1 entry for <paramref name="hostAddr"/> in <paramref name="caller"/>'s page tables
    /// (create_grant_host_mapping), or with GNTMAP_contains_pte the L1 entry at machine address
    /// <paramref name="hostAddr"/> (create_grant_pte_mapping); the entry holds the frame's references as a
    /// guest-written PTE would, and carries the flags' guest-available bits.
    /// </summary>
    public static short Map(Domain grantee, ushort granterId, uint gref, uint flags, ulong hostAddr, out uint handle, out ulong devBusAddr, Vcpu? caller = null)
    {
        handle = 0;
        devBusAddr = 0;
        if ((flags & (GrantMapFlags.DeviceMap | GrantMapFlags.HostMap)) == 0) return GrantStatus.BadGntref;
        bool guestHostMap = !grantee.IsManaged && (flags & GrantMapFlags.HostMap) != 0;
        var mapper = guestHostMap ? caller ?? (grantee.Vcpus.Count > 0 ? grantee.Vcpus[0] : null) : null;
        if (guestHostMap && (mapper == null || mapper.Domain != grantee)) return GrantStatus.GeneralError;
        var granter = Resolve(grantee, granterId);
        if (granter == null || granter.IsManaged || granter.IsDying) return GrantStatus.BadDomain;
        var gt = granter.Grants;
        var lt = grantee.Grants;
        bool readOnly = (flags & GrantMapFlags.Readonly) != 0;
        lock (gt.Lock)
        {
            if (gt._dead || lt._dead) return GrantStatus.BadDomain;
            if (gref >= gt.EntryCount) return GrantStatus.BadGntref;
            if (lt._freeHandles.Count == 0 && lt._maptrack.Count >= lt.MaxMaptrack) return GrantStatus.NoSpace;
            short st = gt.PinLocked(gref, grantee.Id, readOnly, out ulong mfn);
            if (st != GrantStatus.Okay) return st;
            ForeignMapping pin;
            // A managed grantee writes through the span, so its pin holds the writable type; a guest's PTE holds its own.
            try { pin = grantee.Hypervisor.MapForeignFrame(grantee.Hypervisor.Dom0, granter.Id, mfn, writable: grantee.IsManaged && !readOnly); }
            catch (HypervisorException)
            {
                gt.UnpinLocked(gref, readOnly);
                return GrantStatus.BadPage;
            }
            if (guestHostMap)
            {
                // GNTMAP_contains_pte: host_addr is the machine address of the PTE, else a linear address.
                bool user = (flags & GrantMapFlags.ApplicationMap) != 0;
                st = (flags & GrantMapFlags.ContainsPte) != 0
                    ? grantee.Hypervisor.Mmu.CreateGrantPteMapping(mapper!, hostAddr, granter, mfn, readOnly, user, flags)
                    : grantee.Hypervisor.Mmu.CreateGrantHostMapping(mapper!, hostAddr, granter, mfn, readOnly, user, flags);
                if (st != GrantStatus.Okay)
                {
                    pin.Dispose();
                    gt.UnpinLocked(gref, readOnly);
                    return st;
                }
            }
            var m = new Mapping { Granter = gt, Ref = gref, Mfn = mfn, Flags = flags, HostAddr = hostAddr, Pin = pin };
            if (lt._freeHandles.Count > 0) { handle = lt._freeHandles.Pop(); lt._maptrack[(int)handle] = m; }
            else { handle = (uint)lt._maptrack.Count; lt._maptrack.Add(m); }
            if ((flags & GrantMapFlags.DeviceMap) != 0) devBusAddr = mfn << 12;
            return GrantStatus.Okay;
        }
    }

    /// <summary>
    /// GNTTABOP_unmap_grant_ref: drop mapping <paramref name="handle"/>. A non-zero <paramref name="devBusAddr"/> must
    /// be the one the map returned (GNTST_bad_dev_addr). Works even after the granter died: the frame returns to the
    /// pool now.
    /// </summary>
    public static short Unmap(Domain grantee, uint handle, ulong hostAddr, ulong devBusAddr, Vcpu? caller = null)
    {
        var lt = grantee.Grants;
        lock (lt.Lock)
        {
            if (handle >= (uint)lt._maptrack.Count || lt._maptrack[(int)handle] is not { } m) return GrantStatus.BadHandle;
            if (devBusAddr != 0 && ((m.Flags & GrantMapFlags.DeviceMap) == 0 || devBusAddr != m.Mfn << 12)) return GrantStatus.BadDevAddr;
            if (grantee.IsManaged && (m.Flags & GrantMapFlags.HostMap) != 0 && hostAddr != 0 && hostAddr != m.HostAddr) return GrantStatus.BadVirtAddr;
            if (!grantee.IsManaged && (m.Flags & GrantMapFlags.HostMap) != 0)
            {
                // replace_grant_host_mapping: the PTE at host_addr must still map the frame; otherwise the mapping stays.
                var mapper = caller ?? (grantee.Vcpus.Count > 0 ? grantee.Vcpus[0] : null);
                if (mapper == null || hostAddr == 0) return GrantStatus.GeneralError;
                short st = (m.Flags & GrantMapFlags.ContainsPte) != 0
                    ? grantee.Hypervisor.Mmu.DestroyGrantPteMapping(mapper, hostAddr, m.Mfn)
                    : grantee.Hypervisor.Mmu.DestroyGrantHostMapping(mapper, hostAddr, m.Mfn);
                if (st != GrantStatus.Okay) return st;
            }
            lt.ReleaseLocked(handle, m);
            return GrantStatus.Okay;
        }
    }

    /// <summary>The bytes of a live writable mapping (managed grantees). Throws once unmapped or once the granter died.</summary>
    public Span<byte> MappedFrame(uint handle)
    {
        lock (Lock)
        {
            var m = LiveMappingLocked(handle);
            if (!m.Writable) throw new InvalidOperationException($"grant handle {handle} is mapped read-only");
            return m.Pin.Span;
        }
    }

    /// <summary>The bytes of a live mapping, read-only or not.</summary>
    public ReadOnlySpan<byte> MappedFrameReadOnly(uint handle)
    {
        lock (Lock) return LiveMappingLocked(handle).Pin.Span;
    }

    private Mapping LiveMappingLocked(uint handle)
    {
        if (!_domain.IsManaged) throw new InvalidOperationException("only managed domains take grant mappings as spans");
        if (handle >= (uint)_maptrack.Count || _maptrack[(int)handle] is not { } m)
            throw new ObjectDisposedException(nameof(GrantTable), $"grant handle {handle} of d{_domain.Id} is not mapped");
        if (m.Granter._dead)
            throw new ObjectDisposedException(nameof(GrantTable), $"the domain that granted handle {handle} is gone");
        return m;
    }

    /// <summary>
    /// GNTTABOP_copy: copy <paramref name="length"/> bytes between two frames, each named by a grant reference
    /// (GNTCOPY_source_gref / GNTCOPY_dest_gref) or by one of the caller's own frames. The destination grant must be
    /// writable; offset + length must stay within a page.
    /// </summary>
    public static short Copy(Domain caller, GrantCopyPointer source, GrantCopyPointer dest, ushort length, ushort flags)
    {
        if (source.Offset + length > 4096 || dest.Offset + length > 4096) return GrantStatus.BadCopyArg;
        lock (Locks.GetValue(caller.Hypervisor, _ => new object()))
        {
            short st = AcquireLocked(caller, source, (flags & GrantCopyFlags.SourceGref) != 0, readOnly: true, out var src);
            if (st != GrantStatus.Okay) return st;
            st = AcquireLocked(caller, dest, (flags & GrantCopyFlags.DestGref) != 0, readOnly: false, out var dst);
            if (st != GrantStatus.Okay) { ReleaseCopyLocked(src, true); return st; }
            var mem = caller.Hypervisor.Memory;
            // Hold the destination writable for the copy (get_page_type(PGT_writable_page)): it cannot turn into a
            // page table half-way.
            var dstOwner = dst.Table?._domain ?? caller;
            if (!caller.Hypervisor.Mmu.TryGetWritableRef(dstOwner, dst.Mfn))
            {
                ReleaseCopyLocked(dst, false);
                ReleaseCopyLocked(src, true);
                return GrantStatus.GeneralError;
            }
            mem.FrameForRead(src.Mfn).Slice(source.Offset, length).CopyTo(mem.FrameForWrite(dst.Mfn).Slice(dest.Offset, length));
            caller.Hypervisor.Mmu.PutWritableRef(dst.Mfn);
            ReleaseCopyLocked(dst, false);
            ReleaseCopyLocked(src, true);
            return GrantStatus.Okay;
        }
    }

    /// <summary>Copy out of another domain's grant into a managed domain's own buffer.</summary>
    public static short CopyFromGrant(Domain caller, ushort granterId, uint gref, ushort offset, Span<byte> destination)
    {
        if (destination.Length > 4096 || offset + destination.Length > 4096) return GrantStatus.BadCopyArg;
        lock (Locks.GetValue(caller.Hypervisor, _ => new object()))
        {
            short st = AcquireLocked(caller, new GrantCopyPointer(gref, granterId, offset), true, readOnly: true, out var src);
            if (st != GrantStatus.Okay) return st;
            caller.Hypervisor.Memory.FrameForRead(src.Mfn).Slice(offset, destination.Length).CopyTo(destination);
            ReleaseCopyLocked(src, true);
            return GrantStatus.Okay;
        }
    }

    /// <summary>Copy a managed domain's buffer into another domain's writable grant.</summary>
    public static short CopyToGrant(Domain caller, ushort granterId, uint gref, ushort offset, ReadOnlySpan<byte> source)
    {
        if (source.Length > 4096 || offset + source.Length > 4096) return GrantStatus.BadCopyArg;
        lock (Locks.GetValue(caller.Hypervisor, _ => new object()))
        {
            short st = AcquireLocked(caller, new GrantCopyPointer(gref, granterId, offset), true, readOnly: false, out var dst);
            if (st != GrantStatus.Okay) return st;
            if (!caller.Hypervisor.Mmu.TryGetWritableRef(dst.Table!._domain, dst.Mfn))
            {
                ReleaseCopyLocked(dst, false);
                return GrantStatus.GeneralError;
            }
            source.CopyTo(caller.Hypervisor.Memory.FrameForWrite(dst.Mfn).Slice(offset, source.Length));
            caller.Hypervisor.Mmu.PutWritableRef(dst.Mfn);
            ReleaseCopyLocked(dst, false);
            return GrantStatus.Okay;
        }
    }

    private readonly record struct CopySide(GrantTable? Table, uint Ref, ulong Mfn);

    private static short AcquireLocked(Domain caller, GrantCopyPointer p, bool isGref, bool readOnly, out CopySide side)
    {
        side = default;
        if (!isGref)
        {
            // Copy by frame is only for the caller's own memory (DOMID_SELF).
            if (p.Domain != DomId.Self && p.Domain != caller.Id) return GrantStatus.PermissionDenied;
            if (caller.IsManaged || !caller.Hypervisor.Frames.IsOwnedBy(p.RefOrFrame, caller.Id) || caller.Grants.ContainsFrame(p.RefOrFrame)
                || (!readOnly && PageTableFrames.Contains(caller, p.RefOrFrame)))
                return GrantStatus.BadPage;
            side = new CopySide(null, 0, p.RefOrFrame);
            return GrantStatus.Okay;
        }
        var granter = Resolve(caller, p.Domain);
        if (granter == null || granter.IsManaged || granter.IsDying) return GrantStatus.BadDomain;
        var gt = granter.Grants;
        if (gt._dead) return GrantStatus.BadDomain;
        if (p.RefOrFrame >= gt.EntryCount) return GrantStatus.BadGntref;
        short st = gt.PinLocked((uint)p.RefOrFrame, caller.Id, readOnly, out ulong mfn);
        if (st != GrantStatus.Okay) return st;
        side = new CopySide(gt, (uint)p.RefOrFrame, mfn);
        return GrantStatus.Okay;
    }

    private static void ReleaseCopyLocked(CopySide s, bool readOnly) => s.Table?.UnpinLocked(s.Ref, readOnly);

    /// <summary>
    /// Check the guest-written entry and mark it in use (_set_status_v1): type permit_access, domid the grantee,
    /// not GTF_readonly for a writable pin. The guest may change the entry concurrently, so the check and the
    /// GTF_reading/GTF_writing update are one compare-and-swap on the flags+domid word.
    /// </summary>
    private unsafe short PinLocked(uint gref, ushort granteeId, bool readOnly, out ulong mfn)
    {
        mfn = 0;
        var mem = _domain.Hypervisor.Memory;
        ulong frame = _frames[(int)(gref / EntriesPerFrame)];
        byte* entry = mem.Base + (frame << 12) + (gref % EntriesPerFrame) * EntrySize;
        ref int combo = ref Unsafe.AsRef<int>(entry);
        while (true)
        {
            int old = Volatile.Read(ref combo);
            ushort fl = (ushort)old;
            ushort domid = (ushort)(old >> 16);
            if ((fl & GrantFlags.TypeMask) != GrantFlags.PermitAccess || domid != granteeId) return GrantStatus.GeneralError;
            if (!readOnly && (fl & GrantFlags.Readonly) != 0) return GrantStatus.GeneralError;
            int nf = fl | GrantFlags.Reading | (readOnly ? 0 : GrantFlags.Writing);
            if (Interlocked.CompareExchange(ref combo, (old & ~0xFFFF) | nf, old) == old) break;
        }
        mfn = Volatile.Read(ref Unsafe.AsRef<uint>(entry + 4));
        mem.NoteWrite(frame);
        // The granted frame must be the granter's own ordinary memory, never its grant table or shared_info, and a
        // writable pin never lands on one of its page tables (Xen: get_page_type(PGT_writable_page) fails).
        if (!_domain.Hypervisor.Frames.IsOwnedBy(mfn, _domain.Id) || ContainsFrameLocked(mfn) || mfn == _domain.SharedInfoMfn
            || (!readOnly && PageTableFrames.Contains(_domain, mfn)))
        {
            ClearStatusIfIdleLocked(gref, entry);
            return GrantStatus.GeneralError;
        }
        if (!readOnly) _writePins[gref]++;
        _readPins[gref]++;
        return GrantStatus.Okay;
    }

    private unsafe void UnpinLocked(uint gref, bool readOnly)
    {
        if (_dead) return; // the granter's table is gone with it; there is no entry left to update
        if (!readOnly) _writePins[gref]--;
        _readPins[gref]--;
        byte* entry = _domain.Hypervisor.Memory.Base + (_frames[(int)(gref / EntriesPerFrame)] << 12) + (gref % EntriesPerFrame) * EntrySize;
        ClearStatusIfIdleLocked(gref, entry);
    }

    private unsafe void ClearStatusIfIdleLocked(uint gref, byte* entry)
    {
        ref int combo = ref Unsafe.AsRef<int>(entry);
        int clear = (_writePins[gref] == 0 ? GrantFlags.Writing : 0) | (_readPins[gref] == 0 ? GrantFlags.Reading : 0);
        if (clear != 0) Interlocked.And(ref combo, ~clear);
        _domain.Hypervisor.Memory.NoteWrite(_frames[(int)(gref / EntriesPerFrame)]);
    }

    private bool GrowLocked(int nrFrames)
    {
        if (nrFrames <= _frames.Count) return true;
        var fresh = new ulong[nrFrames - _frames.Count];
        if (!_domain.Hypervisor.Frames.TryAllocate(_domain.Id, fresh)) return false;
        foreach (var f in fresh)
        {
            _domain.Hypervisor.Memory.Clear(f);
            _domain.Hypervisor.Mmu.MarkSpecial(f); // a grant frame is never a page table
        }
        _frames.AddRange(fresh);
        Array.Resize(ref _readPins, nrFrames * EntriesPerFrame);
        Array.Resize(ref _writePins, nrFrames * EntriesPerFrame);
        return true;
    }

    /// <summary>
    /// GNTTABOP_swap_grant_ref (Xen's swap_grant_ref, v1): swap two entries of <paramref name="d"/>'s own shared
    /// table. GNTST_bad_gntref for a ref past the table (or no table yet), GNTST_eagain while either entry is in
    /// use (pinned by a mapping); the same ref twice is a no-op.
    /// </summary>
    public static unsafe short SwapGrantRef(Domain d, uint refA, uint refB)
    {
        var t = d.Grants;
        lock (t.Lock)
        {
            ulong entries = (ulong)t._frames.Count * EntriesPerFrame;
            if (refA >= entries || refB >= entries) return GrantStatus.BadGntref;
            if (refA == refB) return GrantStatus.Okay;
            if (t._readPins[refA] != 0 || t._readPins[refB] != 0) return GrantStatus.Eagain;
            var mem = d.Hypervisor.Memory;
            ulong frameA = t._frames[(int)(refA / EntriesPerFrame)], frameB = t._frames[(int)(refB / EntriesPerFrame)];
            ref long a = ref Unsafe.AsRef<long>(mem.Base + (frameA << 12) + (refA % EntriesPerFrame) * EntrySize);
            ref long b = ref Unsafe.AsRef<long>(mem.Base + (frameB << 12) + (refB % EntriesPerFrame) * EntrySize);
            long va = Volatile.Read(ref a), vb = Volatile.Read(ref b);
            Volatile.Write(ref a, vb);
            Volatile.Write(ref b, va);
            mem.NoteWrite(frameA);
            mem.NoteWrite(frameB);
            return GrantStatus.Okay;
        }
    }

    internal bool ContainsFrameLocked(ulong mfn) => _frames.Contains(mfn);

    /// <summary>grant_map_exists: this (grantee) domain holds a mapping of frame <paramref name="mfn"/> granted by
    /// <paramref name="granter"/>.</summary>
    internal bool HoldsMappingOf(GrantTable granter, ulong mfn)
    {
        lock (Lock)
        {
            foreach (var m in _maptrack)
                if (m != null && m.Granter == granter && m.Mfn == mfn) return true;
        }
        return false;
    }

    internal bool ContainsFrame(ulong mfn) { lock (Lock) return _frames.Contains(mfn); }

    private void ReleaseLocked(uint handle, Mapping m)
    {
        _maptrack[(int)handle] = null;
        _freeHandles.Push(handle);
        m.Granter.UnpinLocked(m.Ref, !m.Writable);
        m.Pin.Dispose();
    }

    /// <summary>
    /// Domain death: drop every mapping the domain holds (the granters' entries lose GTF_reading/GTF_writing), then
    /// retire the table. Mappings others hold of this domain's grants stay valid handles that fail cleanly
    /// (ObjectDisposedException on access) and give their frames back when unmapped.
    /// </summary>
    internal void Teardown()
    {
        lock (Lock)
        {
            if (_dead) return;
            for (uint h = 0; h < _maptrack.Count; h++)
                if (_maptrack[(int)h] is { } m) ReleaseLocked(h, m);
            _dead = true;
            if (_frames.Count > 0) _domain.Hypervisor.Frames.Release(_domain.Id, _frames.ToArray());
            _frames.Clear();
        }
    }
}
