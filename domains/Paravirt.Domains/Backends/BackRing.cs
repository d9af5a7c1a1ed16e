using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Paravirt.Domains.Backends;

/// <summary>Where a ring stands after a front-end moved its producer index.</summary>
public enum RingCheck
{
    /// <summary>Nothing to consume.</summary>
    Empty,
    /// <summary>Requests are waiting.</summary>
    Pending,
    /// <summary>The front-end's req_prod claims more requests than the ring can hold: the ring is hostile or corrupt.</summary>
    Overflow,
}

/// <summary>
/// The back-end half of an io/ring.h shared ring: a 64-byte sring header (req_prod, req_event, rsp_prod, rsp_event,
/// padding) followed by a power-of-two array of entries, each the size of the request/response union. Indices are
/// free-running 32-bit counters. The front-end owns req_prod and rsp_event and may write anything there at any
/// time: requests are copied out before use, req_prod is checked against the ring size before anything is
/// consumed (RING_REQUEST_PROD_OVERFLOW), and no loop here runs longer than one ring's worth of entries.
/// </summary>
public sealed class BackRing<TRequest, TResponse> where TRequest : unmanaged where TResponse : unmanaged
{
    /// <summary>Offsets in struct sring of io/ring.h.</summary>
    public const int ReqProd = 0, ReqEvent = 4, RspProd = 8, RspEvent = 12, HeaderSize = 64;

    private readonly SharedRingPages _pages;
    private readonly int _entrySize;
    private uint _reqCons, _rspProdPvt;

    /// <param name="entrySize">sizeof the ring's request/response union (for blkif on x86-64: 112).</param>
    public BackRing(SharedRingPages pages, int entrySize)
    {
        if (entrySize < Unsafe.SizeOf<TRequest>() || entrySize < Unsafe.SizeOf<TResponse>())
            throw new ArgumentOutOfRangeException(nameof(entrySize), entrySize, "an entry must hold both a request and a response");
        _pages = pages;
        _entrySize = entrySize;
        Size = SizeFor(pages.Length, entrySize);
        // BACK_RING_INIT: the back-end's private indices start at zero, as SHARED_RING_INIT left the shared ones;
        // whatever the front-end put in the header meanwhile is never trusted as a starting point.
    }

    /// <summary>__RING_SIZE: the largest power of two of entries that fits after the header.</summary>
    public static uint SizeFor(int bytes, int entrySize)
    {
        int n = (bytes - HeaderSize) / entrySize;
        return n <= 0 ? 0 : 1u << (31 - System.Numerics.BitOperations.LeadingZeroCount((uint)n));
    }

    public uint Size { get; }
    public uint RequestConsumer => _reqCons;
    public uint ResponseProducer => _rspProdPvt;

    /// <summary>
    /// RING_HAS_UNCONSUMED_REQUESTS with the overflow check first: how many requests may be taken now (bounded by the
    /// free response slots, so a back-end never overwrites a response the front-end has not read).
    /// </summary>
    public RingCheck CheckRequests(out uint available)
    {
        uint prod = _pages.ReadIndex(ReqProd); // acquire: entries up to prod are visible (the rmb of ring.h)
        available = 0;
        if (prod - _rspProdPvt > Size) return RingCheck.Overflow;
        uint req = prod - _reqCons;
        uint rsp = Size - (_reqCons - _rspProdPvt);
        available = Math.Min(req, rsp);
        return available == 0 ? RingCheck.Empty : RingCheck.Pending;
    }

    /// <summary>RING_GET_REQUEST + req_cons++: copy the next request out of shared memory (no double fetch).</summary>
    public void TakeRequest(out TRequest request)
    {
        request = default;
        int offset = HeaderSize + (int)(_reqCons & (Size - 1)) * _entrySize;
        _pages.Read(offset, MemoryMarshal.AsBytes(new Span<TRequest>(ref request)));
        _reqCons++;
    }

    /// <summary>RING_GET_RESPONSE(rsp_prod_pvt) = response; rsp_prod_pvt++ (not yet visible to the front-end).</summary>
    public void PutResponse(in TResponse response)
    {
        int offset = HeaderSize + (int)(_rspProdPvt & (Size - 1)) * _entrySize;
        var copy = response;
        _pages.Write(offset, MemoryMarshal.AsBytes(new ReadOnlySpan<TResponse>(in copy)));
        _rspProdPvt++;
    }

    /// <summary>
    /// RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publish rsp_prod (after a write barrier), then (after a full barrier)
    /// say whether the front-end asked to be notified for a response in the range just pushed (rsp_event).
    /// </summary>
    public bool PushResponsesAndCheckNotify()
    {
        uint old = _pages.ReadIndex(RspProd);
        uint now = _rspProdPvt;
        _pages.WriteIndex(RspProd, now); // release: the responses are visible before the index (wmb)
        Interlocked.MemoryBarrier();      // mb: the index is visible before rsp_event is read
        uint ev = _pages.ReadIndex(RspEvent);
        return now - ev < now - old;
    }

    /// <summary>
    /// RING_FINAL_CHECK_FOR_REQUESTS: if nothing is pending, set req_event = req_cons + 1 so the next request
    /// raises an event, then check once more (closing the race with a front-end that produced meanwhile).
    /// Returns true when there is more to do now (including an overflowing producer, which the caller's next
    /// <see cref="CheckRequests"/> reports).
    /// </summary>
    public bool FinalCheckForRequests()
    {
        var c = CheckRequests(out _);
        if (c != RingCheck.Empty) return true;
        _pages.WriteIndex(ReqEvent, _reqCons + 1);
        Interlocked.MemoryBarrier();
        return CheckRequests(out _) != RingCheck.Empty;
    }
}
