using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Paravirt.Cpu;
using Paravirt.Domains.Backends;
using Paravirt.Domains.Block;
using Paravirt.Domains.Tests.Toolstack;
using Paravirt.Domains.XenStore;
using Paravirt.Hypervisor;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;
using Paravirt.Hypervisor.Grants;

namespace Paravirt.Domains.Tests.Block;

/// <summary>A hypervisor whose vCPUs never run, xenstored, and blkback running in Dom0 over a scratch directory.</summary>
internal sealed class BlockTestBed : IDisposable
{
    public BlockTestBed(ulong frames = 16384)
    {
        Memory = new MachineMemory(frames);
        Hv = new Hypervisor.Hypervisor(Memory, new ParkedPlatform());
        XenStore = new XenStoreDaemon();
        Backend = new BackendDomain(Hv.Dom0, XenStore, Log.Enqueue);
        Driver = BlkBack.Start(Backend);
        Dir = Path.Combine(Path.GetTempPath(), "paravirt-blk-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Dir);
    }

    public MachineMemory Memory { get; }
    public Hypervisor.Hypervisor Hv { get; }
    public XenStoreDaemon XenStore { get; }
    public BackendDomain Backend { get; }
    public BackendDriver Driver { get; }
    public ConcurrentQueue<string> Log { get; } = new();
    public string Dir { get; }

    /// <summary>A sparse image of <paramref name="bytes"/> bytes.</summary>
    public string Image(string name, long bytes)
    {
        string p = Path.Combine(Dir, name);
        using var f = new FileStream(p, FileMode.Create, FileAccess.Write);
        f.SetLength(bytes);
        return p;
    }

    /// <summary>A new front-end domain with disk <paramref name="image"/> as <paramref name="vdev"/>, nodes written as libxl does.</summary>
    public TestFrontend Attach(string image, string vdev = "xvda", bool readWrite = true, bool discard = true, ulong pages = 512)
    {
        var d = Hv.CreateDomain($"fe{Hv.Domains.Count}", Guid.NewGuid(), pages, 1);
        uint devid = VbdNodes.DevIdOf(vdev)!.Value;
        VbdNodes.Create(XenStore, new VbdDevice(0, d.Id, devid, vdev, image, readWrite, false, discard));
        var fe = new TestFrontend(this, d, devid);
        fe.WaitForBackendState(XenbusState.InitWait);
        return fe;
    }

    public BlkBackDevice Device(TestFrontend fe) => (BlkBackDevice)Driver.Find(fe.Id, fe.DevId)!;

    /// <summary>Poll until <paramref name="condition"/> holds; a generous guard against hangs, never a timing assertion.</summary>
    public static void WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var spin = new SpinWait();
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"gave up waiting for {what}");
            // Answers usually come within microseconds: spin (yielding) a little before sleeping.
            if (spin.Count < 200) spin.SpinOnce(sleep1Threshold: -1);
            else Thread.Sleep(1);
        }
    }

    public void Dispose()
    {
        Driver.Dispose();
        Hv.Dispose();
        Memory.Dispose();
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

/// <summary>
/// A blkfront written in C#: a real (never running) domain whose memory the test writes directly — grant entries in
/// its grant-table frames, the shared ring pages, its xenstore nodes written as that domain — and whose event
/// channel the test sends on as that domain. What io/ring.h and blkif.h ask of a front-end, nothing more.
/// </summary>
internal sealed class TestFrontend
{
    private readonly MachineMemory _mem;
    private readonly XenStoreDaemon _xs;
    private ulong[] _grantFrames = [];
    private uint _nextGref = 8; // Linux keeps the first few references for the toolstack; so do we
    private ulong _nextPfn;
    private ulong[] _ringPfns = [];
    private uint _reqProdPvt, _rspCons;
    public uint RingSize { get; private set; }

    public TestFrontend(BlockTestBed bed, Domain d, uint devid, ulong firstPfn = 0)
        : this(bed.Memory, bed.XenStore, d, devid, firstPfn) { }

    /// <param name="firstPfn">Where this front-end's own pages start (above a built kernel, for a toolstack-made domain).</param>
    /// <param name="backendId">The domain serving the device (Dom0, or a driver domain): grants go to it.</param>
    public TestFrontend(MachineMemory memory, XenStoreDaemon xenStore, Domain d, uint devid, ulong firstPfn = 0, ushort backendId = 0)
    {
        BackendId = backendId;
        _mem = memory;
        _xs = xenStore;
        _nextPfn = firstPfn;
        Domain = d;
        DevId = devid;
        Check(GrantTable.SetupTable(d, DomId.Self, 4, _grantFrames = new ulong[4]) == GrantStatus.Okay, "setup_table");
    }

    public Domain Domain { get; }
    public ushort BackendId { get; }
    public ushort Id => Domain.Id;
    public uint DevId { get; }
    public uint Port { get; private set; }
    public string FrontendPath => VbdNodes.FrontendPath(Id, DevId);
    public string BackendPath => VbdNodes.BackendPath(BackendId, Id, DevId);
    private MachineMemory Mem => _mem;

    public XenbusState BackendState => (XenbusState)int.Parse(_xs.ReadString(0, $"{BackendPath}/state"));
    /// <summary>GTF_reading|GTF_writing of every entry this front-end granted: zero once no one maps or copies them.</summary>
    public ushort GrantsInUse
    {
        get
        {
            ushort any = 0;
            for (uint g = 8; g < _nextGref; g++) any |= (ushort)(GrantFlagsOf(g) & (GrantFlags.Reading | GrantFlags.Writing));
            return any;
        }
    }
    public string? BackendNode(string node)
    {
        try { return _xs.ReadString(Id, $"{BackendPath}/{node}"); }
        catch (XenStoreException) { return null; }
    }

    public void WaitForBackendState(XenbusState s) =>
        BlockTestBed.WaitUntil(() => BackendNode("state") == ((int)s).ToString(), $"back-end of d{Id} in state {s}");

    public void WriteNode(string node, string value) => _xs.Write(Id, $"{FrontendPath}/{node}", value);
    public void SetState(XenbusState s) => WriteNode("state", ((int)s).ToString());

    // ---- memory and grants ----

    public ulong AllocPage()
    {
        ulong pfn = _nextPfn++;
        Page(pfn).Clear();
        return pfn;
    }

    public Span<byte> Page(ulong pfn) => Mem.FrameForWrite(Domain.P2m[pfn]);

    /// <summary>gnttab_grant_foreign_access: domid and frame first, then the flags that make the entry live.</summary>
    public uint Grant(ulong pfn, bool readOnly = false, ushort? to = null)
    {
        uint gref = _nextGref++;
        SetEntry(gref, to ?? BackendId, (uint)Domain.P2m[pfn], (ushort)(GrantFlags.PermitAccess | (readOnly ? GrantFlags.Readonly : 0)));
        return gref;
    }

    public ushort GrantFlagsOf(uint gref) => (ushort)(Volatile.Read(ref EntryWord(gref)) & 0xFFFF);

    public void EndGrant(uint gref) => Volatile.Write(ref EntryWord(gref), 0);

    private void SetEntry(uint gref, ushort domid, uint frame, ushort flags)
    {
        var page = Mem.FrameForWrite(_grantFrames[gref / 512]);
        int off = (int)(gref % 512) * 8;
        MemoryMarshal.Write(page[(off + 4)..], frame);
        Volatile.Write(ref EntryWord(gref), (int)((uint)domid << 16) | flags);
    }

    private ref int EntryWord(uint gref) =>
        ref Unsafe.As<byte, int>(ref MemoryMarshal.GetReference(Mem.FrameForWrite(_grantFrames[gref / 512])[(int)(gref % 512 * 8)..]));

    // ---- handshake ----

    /// <summary>blkfront's talk_to_blkback: ring pages, grants, event channel, nodes; then Initialised and wait for Connected.</summary>
    public void Connect(int order = 0, bool persistent = false, bool waitConnected = true, string protocol = Blkif.ProtocolX86_64)
    {
        int n = 1 << order;
        _ringPfns = new ulong[n];
        for (int i = 0; i < n; i++) _ringPfns[i] = AllocPage();
        // SHARED_RING_INIT
        WriteIndex(0, 0); WriteIndex(8, 0); WriteIndex(4, 1); WriteIndex(12, 1);
        RingSize = BackRing<BlkifRequest, BlkifResponse>.SizeFor(n * 4096, Blkif.RingEntrySize);
        _reqProdPvt = _rspCons = 0;
        Check(EventChannelTable.AllocUnbound(Domain, DomId.Self, BackendId, out uint port) == 0, "alloc_unbound");
        Port = port;
        if (order == 0) WriteNode("ring-ref", Grant(_ringPfns[0]).ToString());
        else
        {
            WriteNode("ring-page-order", order.ToString());
            for (int i = 0; i < n; i++) WriteNode($"ring-ref{i}", Grant(_ringPfns[i]).ToString());
        }
        WriteNode("event-channel", port.ToString());
        WriteNode("protocol", protocol);
        if (persistent) WriteNode("feature-persistent", "1");
        SetState(XenbusState.Initialised);
        if (!waitConnected) return;
        WaitForBackendState(XenbusState.Connected);
        SetState(XenbusState.Connected);
    }

    // ---- ring ----

    private void WriteIndex(int off, uint v) => Volatile.Write(ref Unsafe.As<byte, uint>(ref MemoryMarshal.GetReference(Page(_ringPfns[0])[off..])), v);
    public uint ReadIndex(int off) => Volatile.Read(ref Unsafe.As<byte, uint>(ref MemoryMarshal.GetReference(Page(_ringPfns[0])[off..])));

    /// <summary>Write raw bytes into ring entry <paramref name="index"/> (the ring is virtually contiguous).</summary>
    private void WriteEntry(uint index, ReadOnlySpan<byte> bytes)
    {
        int off = 64 + (int)(index & (RingSize - 1)) * Blkif.RingEntrySize;
        while (bytes.Length > 0)
        {
            int page = off / 4096, within = off % 4096, len = Math.Min(bytes.Length, 4096 - within);
            bytes[..len].CopyTo(Page(_ringPfns[page])[within..]);
            bytes = bytes[len..];
            off += len;
        }
    }

    private void ReadEntry(uint index, Span<byte> bytes)
    {
        int off = 64 + (int)(index & (RingSize - 1)) * Blkif.RingEntrySize;
        while (bytes.Length > 0)
        {
            int page = off / 4096, within = off % 4096, len = Math.Min(bytes.Length, 4096 - within);
            Page(_ringPfns[page]).Slice(within, len).CopyTo(bytes);
            bytes = bytes[len..];
            off += len;
        }
    }

    public void Put(in BlkifRequest req)
    {
        var copy = req;
        WriteEntry(_reqProdPvt++, MemoryMarshal.AsBytes(new ReadOnlySpan<BlkifRequest>(in copy)));
    }

    public void PutRaw(ReadOnlySpan<byte> entry) => WriteEntry(_reqProdPvt++, entry);

    public int FreeSlots => (int)(RingSize - (_reqProdPvt - _rspCons));

    /// <summary>RING_PUSH_REQUESTS_AND_CHECK_NOTIFY, then EVTCHNOP_send when the back-end asked for it.</summary>
    public bool Push()
    {
        uint old = ReadIndex(0), now = _reqProdPvt;
        WriteIndex(0, now);
        Interlocked.MemoryBarrier();
        bool notify = now - ReadIndex(4) < now - old;
        if (notify) Check(EventChannelTable.Send(Domain, Port) == 0, "evtchn send");
        return notify;
    }

    public void SetRspEvent(uint value) => WriteIndex(12, value);

    /// <summary>Overwrite req_prod with anything (a hostile front-end).</summary>
    public void SetReqProd(uint value)
    {
        WriteIndex(0, value);
        EventChannelTable.Send(Domain, Port);
    }

    /// <summary>Wait for <paramref name="count"/> responses and consume them (RING_FINAL_CHECK_FOR_RESPONSES style).</summary>
    public BlkifResponse[] Collect(int count)
    {
        var result = new BlkifResponse[count];
        for (int i = 0; i < count; i++)
        {
            BlockTestBed.WaitUntil(() => ReadIndex(8) != _rspCons, $"response {i + 1} of {count} from the back-end of d{Id}");
            ReadEntry(_rspCons++, MemoryMarshal.AsBytes(result.AsSpan(i, 1)));
            WriteIndex(12, _rspCons + 1); // rsp_event: tell me about the next one
        }
        return result;
    }

    public BlkifResponse Submit(in BlkifRequest req)
    {
        Put(req);
        Push();
        return Collect(1)[0];
    }

    /// <summary>Whether an event from the back-end is pending on our port (2-level shared_info bit); clears it.</summary>
    public unsafe bool TakeEvent()
    {
        byte* shared = Mem.Base + (Domain.SharedInfoMfn << 12);
        ref long word = ref Unsafe.AsRef<long>(shared + SharedInfoLayout.EvtchnPending + (int)(Port / 64) * 8);
        long bit = 1L << (int)(Port % 64);
        return (Interlocked.And(ref word, ~bit) & bit) != 0;
    }

    // ---- data pages: granted once (writable), reused for every request ----

    private readonly List<(ulong Pfn, uint Gref)> _data = [];

    /// <summary>The i-th data page and its grant, made on first use.</summary>
    public (ulong Pfn, uint Gref) Data(int i)
    {
        while (_data.Count <= i)
        {
            ulong pfn = AllocPage();
            _data.Add((pfn, Grant(pfn)));
        }
        return _data[i];
    }

    /// <summary>Write <paramref name="bytes"/> (whole pages) at <paramref name="sector"/> with one request per 11 pages.</summary>
    public short[] WriteBlocks(ulong sector, ReadOnlySpan<byte> bytes, byte op = BlkifOp.Write)
    {
        var statuses = new List<short>();
        int pages = bytes.Length / 4096;
        for (int p = 0; p < pages; p += Blkif.MaxSegmentsPerRequest)
        {
            int n = Math.Min(Blkif.MaxSegmentsPerRequest, pages - p);
            var segs = new BlkifRequestSegment[n];
            for (int i = 0; i < n; i++)
            {
                var (pfn, gref) = Data(i);
                bytes.Slice((p + i) * 4096, 4096).CopyTo(Page(pfn));
                segs[i] = Segment(gref);
            }
            statuses.Add(Submit(Request(op, (ulong)p, sector + (ulong)p * 8, segs)).Status);
        }
        return [.. statuses];
    }

    /// <summary>Read <paramref name="pages"/> whole pages at <paramref name="sector"/>.</summary>
    public byte[] ReadBlocks(ulong sector, int pages, out short[] statuses)
    {
        var result = new byte[pages * 4096];
        var st = new List<short>();
        for (int p = 0; p < pages; p += Blkif.MaxSegmentsPerRequest)
        {
            int n = Math.Min(Blkif.MaxSegmentsPerRequest, pages - p);
            var segs = new BlkifRequestSegment[n];
            for (int i = 0; i < n; i++) { Page(Data(i).Pfn).Clear(); segs[i] = Segment(Data(i).Gref); }
            st.Add(Submit(Request(BlkifOp.Read, (ulong)p, sector + (ulong)p * 8, segs)).Status);
            for (int i = 0; i < n; i++) Page(Data(i).Pfn).CopyTo(result.AsSpan((p + i) * 4096, 4096));
        }
        statuses = [.. st];
        return result;
    }

    // ---- requests ----

    public static BlkifRequest Request(byte op, ulong id, ulong sector, ReadOnlySpan<BlkifRequestSegment> segs)
    {
        var r = new BlkifRequest { Operation = op, NrSegments = (byte)segs.Length, Handle = 0, Id = id, SectorNumber = sector };
        for (int i = 0; i < segs.Length; i++) r.Segments[i] = segs[i];
        return r;
    }

    public static BlkifRequestSegment Segment(uint gref, int first = 0, int last = 7) =>
        new() { Gref = gref, FirstSect = (byte)first, LastSect = (byte)last };

    /// <summary>Whole-page segments for <paramref name="pfns"/>, each granted (read-only for a write unless <paramref name="writable"/>).</summary>
    public BlkifRequestSegment[] Segments(IReadOnlyList<ulong> pfns, bool readOnly) =>
        pfns.Select(p => Segment(Grant(p, readOnly))).ToArray();

    private static void Check(bool ok, string what)
    {
        if (!ok) throw new InvalidOperationException($"test front-end: {what} failed");
    }
}
