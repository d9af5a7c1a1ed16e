using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Paravirt.Domains.Backends;
using Paravirt.Hypervisor.Grants;

namespace Paravirt.Domains.Block;

/// <summary>
/// One virtual block device, back-end side (Linux's xen-blkback on the <see cref="XenbusBackendDevice"/> API): a
/// raw image named by the back-end's <c>params</c> node, served over a blkif ring. Every request is copied out
/// of the ring and validated (operation, segment count, first/last sector, sector range, grant references) before
/// any I/O: a bad one gets BLKIF_RSP_ERROR (BLKIF_RSP_EOPNOTSUPP for an operation not offered) and touches
/// neither the image nor guest memory. A front-end whose producer index overruns the ring is disconnected.
/// </summary>
public sealed class BlkBackDevice : XenbusBackendDevice
{
    /// <summary>feature-max-indirect-segments offered (Linux blkback's MAX_INDIRECT_SEGMENTS).</summary>
    public const int MaxIndirectSegments = 256;
    /// <summary>Persistent grants kept mapped per device (Linux's xen_blkif_max_pgrants default).</summary>
    public const int MaxPersistentGrants = 1056;
    /// <summary>max-ring-page-order offered (XENBUS_MAX_RING_GRANT_ORDER).</summary>
    public const int MaxRingPageOrder = SharedRingPages.MaxOrder;
    private const int MaxLoggedFaults = 8;

    private RawImage? _image;
    private bool _discard, _cdrom;
    private SharedRingPages? _pages;
    private BackRing<BlkifRequest, BlkifResponse>? _ring;
    private InterdomainChannel? _channel;
    private bool _persistent;
    private readonly Dictionary<uint, GrantMapping> _persistentGrants = new();
    private readonly Action _kick;
    private byte[] _data = [];
    private readonly BlkifRequestSegment[] _segments = new BlkifRequestSegment[MaxIndirectSegments];
    private long _ok, _errors, _unsupported, _faultsLogged;
    // Linux blkback's statistics (st_rd_req, st_wr_req, st_oo_req, st_rd_sect, st_wr_sect), which xentop shows.
    private long _rdReq, _wrReq, _rdSect, _wrSect;

    public BlkBackDevice(BackendDomain backend, ushort frontendId, uint devId) : base(backend, BlkBack.DeviceType, frontendId, devId)
    {
        _kick = Kick;
    }

    /// <summary>
    /// The counters Linux blkback keeps in sysfs (statistics/{oo,rd,wr}_req, {rd,wr}_sect): requests counted when
    /// dispatched, sectors once the request is valid. Requests are served synchronously, so oo_req (no free request
    /// slot) is always 0.
    /// </summary>
    public BlkStatistics Statistics => new(0, Interlocked.Read(ref _rdReq), Interlocked.Read(ref _wrReq),
        Interlocked.Read(ref _rdSect), Interlocked.Read(ref _wrSect));

    /// <summary>Responses with BLKIF_RSP_OKAY so far.</summary>
    public long OkResponses => Interlocked.Read(ref _ok);
    /// <summary>Responses with BLKIF_RSP_ERROR so far.</summary>
    public long ErrorResponses => Interlocked.Read(ref _errors);
    /// <summary>Responses with BLKIF_RSP_EOPNOTSUPP so far.</summary>
    public long NotSupportedResponses => Interlocked.Read(ref _unsupported);
    /// <summary>Grants held mapped for a front-end that negotiated feature-persistent.</summary>
    public int PersistentGrantCount { get { lock (_persistentGrants) return _persistentGrants.Count; } }
    public bool IsPersistent => _persistent;
    public int RingPages => _pages?.PageCount ?? 0;
    public uint RingSize => _ring?.Size ?? 0;
    public long Sectors => _image?.Sectors ?? 0;

    // ---- xenbus steps ----

    protected override string? Probe()
    {
        string? path = ReadBackend("params");
        if (string.IsNullOrEmpty(path)) return "no params node: nothing to serve";
        string mode = ReadBackend("mode") ?? "w";
        if (mode is not ("w" or "r")) return $"mode \"{mode}\" is neither \"w\" nor \"r\"";
        _cdrom = ReadBackend("device-type") == "cdrom";
        bool readOnly = mode == "r" || _cdrom;
        try { _image = RawImage.Open(path, readOnly); }
        catch (BlockImageException e) { return e.Message; }
        _discard = !readOnly && ReadBackend("discard-enable") != "0";
        _data = new byte[Blkif.MaxSegmentsPerRequest * 4096];
        var features = new List<(string, string)>
        {
            ("feature-flush-cache", "1"),
            ("feature-barrier", "1"),
            ("feature-max-indirect-segments", Num(MaxIndirectSegments)),
            ("feature-persistent", "1"),
            ("max-ring-page-order", Num(MaxRingPageOrder)),
        };
        if (_discard)
        {
            features.Add(("feature-discard", "1"));
            features.Add(("discard-granularity", Num(Blkif.SectorSize)));
            features.Add(("discard-alignment", "0"));
            features.Add(("discard-secure", "0"));
        }
        if (!WriteBackendNodes(features.ToArray())) return "the device was removed while it was probed";
        return null;
    }

    protected override string? Connect()
    {
        // connect_ring of Linux's xen-blkback: everything here is the front-end's word, checked before use.
        // Read each node once: the front-end may change them under us, and what was checked must be what is used.
        string? orderText = ReadFrontend("ring-page-order");
        int order = 0;
        if (orderText != null)
        {
            if (!TryParseNumber(orderText, MaxRingPageOrder, out ulong o))
                return $"ring-page-order \"{(orderText.Length > 16 ? orderText[..16] : orderText)}\" is not 0..{MaxRingPageOrder}";
            order = (int)o;
        }
        int nPages = 1 << order;
        Span<uint> refs = stackalloc uint[nPages];
        for (int i = 0; i < nPages; i++)
        {
            string node = orderText == null ? "ring-ref" : $"ring-ref{i}";
            if (!TryReadFrontendNumber(node, uint.MaxValue, out ulong r)) return $"{node} missing or not a number";
            refs[i] = (uint)r;
        }
        if (!TryReadFrontendNumber("event-channel", 4095, out ulong port)) return "event-channel missing or not a port number";
        // One queue only (multi-queue-max-queues is not offered): a front-end asking for more gets a clear refusal.
        if (ReadFrontend("multi-queue-num-queues") is { } queues && queues != "1")
            return $"multi-queue-num-queues \"{(queues.Length > 16 ? queues[..16] : queues)}\" requested; this back-end serves one queue";
        string protocol = ReadFrontend("protocol") ?? Blkif.ProtocolX86_64;
        if (protocol != Blkif.ProtocolX86_64) return $"protocol \"{(protocol.Length > 32 ? protocol[..32] : protocol)}\" is not supported (only {Blkif.ProtocolX86_64})";
        _persistent = ReadFrontend("feature-persistent") == "1";

        _pages = SharedRingPages.TryMap(Backend, FrontendId, refs, out short st);
        if (_pages == null) return $"cannot map the ring (grant status {st})";
        _ring = new BackRing<BlkifRequest, BlkifResponse>(_pages, Blkif.RingEntrySize);
        _channel = InterdomainChannel.TryBind(Backend, FrontendId, (uint)port, _kick, out int errno);
        if (_channel == null)
        {
            Disconnect();
            return $"cannot bind event channel {port} of d{FrontendId} (errno {-errno})";
        }
        uint info = (_image!.ReadOnly ? Blkif.VdiskReadonly : 0) | (_cdrom ? Blkif.VdiskCdrom | Blkif.VdiskRemovable : 0);
        if (!WriteBackendNodes([
                ("sectors", _image.Sectors.ToString(CultureInfo.InvariantCulture)),
                ("info", Num((int)info)),
                ("sector-size", Num(Blkif.SectorSize)),
                ("physical-sector-size", Num(Blkif.SectorSize)),
            ]))
        {
            Disconnect();
            return "the device was removed while it connected";
        }
        Backend.Log($"{BackendPath}: connected to d{FrontendId}: {_image.Path} ({_image.Sectors} sectors{(_image.ReadOnly ? ", read-only" : "")}), " +
                    $"ring {nPages} page(s) of {_ring.Size}, event channel {_channel.LocalPort}{(_persistent ? ", persistent grants" : "")}");
        return null;
    }

    protected override void Disconnect()
    {
        _channel?.Dispose();
        _channel = null;
        _ring = null;
        _pages?.Dispose();
        _pages = null;
        lock (_persistentGrants)
        {
            foreach (var m in _persistentGrants.Values) m.Dispose();
            _persistentGrants.Clear();
        }
    }

    protected override void Remove()
    {
        _image?.Dispose();
        _image = null;
    }

    protected override void Service()
    {
        var ring = _ring!;
        while (!StopRequested)
        {
            var c = ring.CheckRequests(out uint n);
            if (c == RingCheck.Overflow)
            {
                Fail($"front-end produced bogus ring requests (req_prod runs more than {ring.Size} ahead of the responses); halting the ring");
                return;
            }
            for (uint i = 0; i < n; i++)
            {
                ring.TakeRequest(out var req);
                Handle(ref req, out var rsp);
                ring.PutResponse(rsp);
            }
            if (n > 0 && ring.PushResponsesAndCheckNotify()) _channel?.Notify();
            if (!ring.FinalCheckForRequests()) return;
        }
    }

    // ---- requests ----

    private void Handle(ref BlkifRequest req, out BlkifResponse rsp)
    {
        rsp = default;
        rsp.Id = req.Id;
        rsp.Operation = req.Operation;
        short status;
        switch (req.Operation)
        {
            case BlkifOp.Read:
            case BlkifOp.Write:
            case BlkifOp.WriteBarrier:
            case BlkifOp.FlushDiskcache:
                status = DirectRequest(ref req);
                break;
            case BlkifOp.Discard:
                status = DiscardRequest(ref Unsafe.As<BlkifRequest, BlkifRequestDiscard>(ref req));
                break;
            case BlkifOp.Indirect:
                ref var ind = ref Unsafe.As<BlkifRequest, BlkifRequestIndirect>(ref req);
                rsp.Operation = ind.IndirectOp;
                status = IndirectRequest(ref ind);
                break;
            default:
                status = Reject(BlkifStatus.NotSupported, $"operation {req.Operation} is not supported");
                break;
        }
        rsp.Status = status;
        if (status == BlkifStatus.Okay) Interlocked.Increment(ref _ok);
        else if (status == BlkifStatus.NotSupported) Interlocked.Increment(ref _unsupported);
        else Interlocked.Increment(ref _errors);
    }

    private short DirectRequest(ref BlkifRequest req)
    {
        int n = req.NrSegments;
        bool flushOnly = req.Operation is BlkifOp.FlushDiskcache or BlkifOp.WriteBarrier && n == 0;
        if (!flushOnly && (n == 0 || n > Blkif.MaxSegmentsPerRequest))
            return Reject(BlkifStatus.Error, $"{n} segments in a {OpName(req.Operation)} request (1..{Blkif.MaxSegmentsPerRequest})");
        for (int i = 0; i < n; i++) _segments[i] = req.Segments[i];
        return Transfer(req.Operation, req.SectorNumber, _segments.AsSpan(0, n));
    }

    private short IndirectRequest(ref BlkifRequestIndirect req)
    {
        if (req.IndirectOp is not (BlkifOp.Read or BlkifOp.Write))
            return Reject(BlkifStatus.Error, $"indirect operation {req.IndirectOp} (only read and write)");
        int n = req.NrSegments;
        if (n == 0 || n > MaxIndirectSegments)
            return Reject(BlkifStatus.Error, $"{n} segments in an indirect request (1..{MaxIndirectSegments})");
        int pages = (n + Blkif.SegmentsPerIndirectPage - 1) / Blkif.SegmentsPerIndirectPage;
        var bytes = MemoryMarshal.AsBytes(_segments.AsSpan(0, n));
        for (int p = 0; p < pages; p++)
        {
            var chunk = bytes.Slice(p * 4096, Math.Min(4096, bytes.Length - p * 4096));
            short st = Backend.CopyFromGrant(FrontendId, req.IndirectGrefs[p], 0, chunk);
            if (st != GrantStatus.Okay)
                return Reject(BlkifStatus.Error, $"indirect page gref {req.IndirectGrefs[p]} refused (grant status {st})");
        }
        if (_data.Length < n * 4096) _data = new byte[MaxIndirectSegments * 4096];
        return Transfer(req.IndirectOp, req.SectorNumber, _segments.AsSpan(0, n));
    }

    /// <summary>Validate every segment and the sector range, then do the I/O; nothing is touched unless all is valid.</summary>
    private short Transfer(byte op, ulong sector, ReadOnlySpan<BlkifRequestSegment> segs)
    {
        var image = _image!;
        bool write = op != BlkifOp.Read;
        if (op == BlkifOp.Read) Interlocked.Increment(ref _rdReq);
        else if (op == BlkifOp.Write) Interlocked.Increment(ref _wrReq);
        if (write && segs.Length > 0 && image.ReadOnly)
            return Reject(BlkifStatus.Error, $"{OpName(op)} to a read-only disk");
        long total = 0;
        foreach (ref readonly var s in segs)
        {
            if (s.FirstSect > s.LastSect || s.LastSect >= Blkif.SectorsPerPage)
                return Reject(BlkifStatus.Error, $"segment sectors {s.FirstSect}..{s.LastSect} outside a page");
            total += s.LastSect - s.FirstSect + 1;
        }
        if (segs.Length > 0 && (sector > (ulong)image.Sectors || (ulong)total > (ulong)image.Sectors - sector))
            return Reject(BlkifStatus.Error, $"sectors {sector}+{total} beyond the disk's {image.Sectors}");
        if (op == BlkifOp.Read) Interlocked.Add(ref _rdSect, total);
        else if (op == BlkifOp.Write) Interlocked.Add(ref _wrSect, total);
        long offset = (long)sector * Blkif.SectorSize;
        int bytes = (int)total * Blkif.SectorSize;
        var data = _data.AsSpan(0, bytes);
        try
        {
            if (write)
            {
                int pos = 0;
                foreach (ref readonly var s in segs)
                {
                    int len = (s.LastSect - s.FirstSect + 1) * Blkif.SectorSize;
                    short st = FromGrant(s.Gref, s.FirstSect * Blkif.SectorSize, data.Slice(pos, len));
                    if (st != GrantStatus.Okay) return Reject(BlkifStatus.Error, $"gref {s.Gref} refused (grant status {st})");
                    pos += len;
                }
                if (bytes > 0)
                {
                    // WRITE_BARRIER: everything earlier is already complete (requests are served in ring order).
                    image.Write(data, offset);
                }
                if (op is BlkifOp.FlushDiskcache or BlkifOp.WriteBarrier) image.Flush();
            }
            else
            {
                image.Read(data, offset);
                int pos = 0;
                foreach (ref readonly var s in segs)
                {
                    int len = (s.LastSect - s.FirstSect + 1) * Blkif.SectorSize;
                    short st = ToGrant(s.Gref, s.FirstSect * Blkif.SectorSize, data.Slice(pos, len));
                    if (st != GrantStatus.Okay) return Reject(BlkifStatus.Error, $"gref {s.Gref} refused (grant status {st})");
                    pos += len;
                }
            }
        }
        catch (IOException e)
        {
            return Reject(BlkifStatus.Error, $"{OpName(op)} of {image.Path} failed: {e.Message}");
        }
        return BlkifStatus.Okay;
    }

    private short DiscardRequest(ref BlkifRequestDiscard req)
    {
        var image = _image!;
        if (!_discard) return Reject(BlkifStatus.NotSupported, "discard is not offered on this disk");
        if ((req.Flag & Blkif.DiscardSecure) != 0) return Reject(BlkifStatus.NotSupported, "secure discard is not offered");
        if (req.SectorNumber > (ulong)image.Sectors || req.NrSectors > (ulong)image.Sectors - req.SectorNumber)
            return Reject(BlkifStatus.Error, $"discard of sectors {req.SectorNumber}+{req.NrSectors} beyond the disk's {image.Sectors}");
        try { image.Discard((long)req.SectorNumber * Blkif.SectorSize, (long)req.NrSectors * Blkif.SectorSize); }
        catch (IOException e) { return Reject(BlkifStatus.Error, $"discard on {image.Path} failed: {e.Message}"); }
        return BlkifStatus.Okay;
    }

    // ---- grant access: persistent mappings when negotiated, grant copy otherwise ----

    private short FromGrant(uint gref, int offset, Span<byte> destination)
    {
        var m = Persistent(gref, out short st);
        if (st != GrantStatus.Okay) return st;
        if (m == null) return Backend.CopyFromGrant(FrontendId, gref, offset, destination);
        m.ReadOnlySpan.Slice(offset, destination.Length).CopyTo(destination);
        return GrantStatus.Okay;
    }

    private short ToGrant(uint gref, int offset, ReadOnlySpan<byte> source)
    {
        var m = Persistent(gref, out short st);
        if (st != GrantStatus.Okay) return st;
        if (m == null) return Backend.CopyToGrant(FrontendId, gref, offset, source);
        source.CopyTo(m.Span.Slice(offset, source.Length));
        return GrantStatus.Okay;
    }

    /// <summary>
    /// The persistent mapping of <paramref name="gref"/>, made on first use (writable: the front-end keeps the page
    /// granted for reads and writes alike). Null without a failure status means "copy instead": persistent grants
    /// were not negotiated, or the cache is full.
    /// </summary>
    private GrantMapping? Persistent(uint gref, out short status)
    {
        status = GrantStatus.Okay;
        if (!_persistent) return null;
        lock (_persistentGrants)
        {
            if (_persistentGrants.TryGetValue(gref, out var m)) return m;
            if (_persistentGrants.Count >= MaxPersistentGrants) return null;
            m = Backend.MapGrant(FrontendId, gref, readOnly: false, out status);
            if (m != null) _persistentGrants[gref] = m;
            return m;
        }
    }

    private short Reject(short status, string why)
    {
        long n = Interlocked.Increment(ref _faultsLogged);
        if (n <= MaxLoggedFaults)
            Backend.Log($"{BackendPath}: request from d{FrontendId} refused: {why}");
        else if (n == MaxLoggedFaults + 1)
            Backend.Log($"{BackendPath}: further refused requests from d{FrontendId} are not logged");
        return status;
    }

    private static string OpName(byte op) => op switch
    {
        BlkifOp.Read => "read", BlkifOp.Write => "write", BlkifOp.WriteBarrier => "write-barrier",
        BlkifOp.FlushDiskcache => "flush-diskcache", BlkifOp.Discard => "discard", BlkifOp.Indirect => "indirect",
        _ => $"operation {op}",
    };

    private static string Num(int v) => v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>One virtual block device's request statistics, as Linux blkback publishes them for xentop.</summary>
public readonly record struct BlkStatistics(long OoReq, long RdReq, long WrReq, long RdSect, long WrSect);
