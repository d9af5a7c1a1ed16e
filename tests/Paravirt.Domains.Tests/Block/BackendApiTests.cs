using System.Runtime.InteropServices;
using NUnit.Framework;
using Paravirt.Domains.Backends;
using Paravirt.Domains.XenStore;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;

namespace Paravirt.Domains.Tests.Block;

/// <summary>
/// The back-end API is not blkif-specific: a whole new split driver ("vsum": sum the bytes of a granted buffer)
/// is the short class below, and it runs beside blkback with the same handshake, ring and grant rules.
/// </summary>
public class BackendApiTests
{
    [StructLayout(LayoutKind.Sequential)]
    private struct SumRequest { public ulong Id; public uint Gref; public ushort Offset; public ushort Length; }

    [StructLayout(LayoutKind.Sequential)]
    private struct SumResponse { public ulong Id; public long Sum; }

    /// <summary>The whole back-end of the vsum driver.</summary>
    private sealed class SumBackend(BackendDomain be, ushort fe, uint dev) : XenbusBackendDevice(be, "vsum", fe, dev)
    {
        private SharedRingPages? _pages;
        private BackRing<SumRequest, SumResponse>? _ring;
        private InterdomainChannel? _channel;
        private readonly byte[] _buffer = new byte[4096];

        protected override string? Probe() => WriteBackend("feature-sum", "1") ? null : "removed";

        protected override string? Connect()
        {
            if (!TryReadFrontendNumber("ring-ref", uint.MaxValue, out ulong gref) || !TryReadFrontendNumber("event-channel", 4095, out ulong port))
                return "ring-ref or event-channel missing";
            _pages = SharedRingPages.TryMap(Backend, FrontendId, [(uint)gref], out short st);
            if (_pages == null) return $"cannot map the ring ({st})";
            _ring = new BackRing<SumRequest, SumResponse>(_pages, 16);
            _channel = InterdomainChannel.TryBind(Backend, FrontendId, (uint)port, Kick, out int errno);
            return _channel == null ? $"cannot bind ({errno})" : null;
        }

        protected override void Service()
        {
            do
            {
                if (_ring!.CheckRequests(out uint n) == RingCheck.Overflow) { Fail("bogus req_prod"); return; }
                for (uint i = 0; i < n; i++)
                {
                    _ring.TakeRequest(out var req);
                    var buf = _buffer.AsSpan(0, Math.Min((int)req.Length, 4096 - Math.Min((int)req.Offset, 4096)));
                    bool ok = Backend.CopyFromGrant(FrontendId, req.Gref, req.Offset, buf) == 0;
                    long sum = 0;
                    foreach (byte b in buf) sum += b;
                    _ring.PutResponse(new SumResponse { Id = req.Id, Sum = ok ? sum : -1 });
                }
                if (n > 0 && _ring.PushResponsesAndCheckNotify()) _channel!.Notify();
            } while (_ring.FinalCheckForRequests() && !StopRequested);
        }

        protected override void Disconnect()
        {
            _channel?.Dispose();
            _pages?.Dispose();
            _channel = null;
            _pages = null;
        }
    }

    [Test]
    public void ANewSplitDriverIsOneShortClassOnTheBackendApi()
    {
        using var bed = new BlockTestBed();
        using var driver = new BackendDriver(bed.Backend, "vsum", (be, fe, dev) => new SumBackend(be, fe, dev));
        var d = bed.Hv.CreateDomain("sum", Guid.NewGuid(), 64, 1);
        var fe = new TestFrontend(bed, d, 0);
        string bePath = $"/local/domain/0/backend/vsum/{d.Id}/0", fePath = $"/local/domain/{d.Id}/device/vsum/0";
        var xs = bed.XenStore;
        // The toolstack's part.
        xs.Mkdir(0, bePath);
        xs.SetPerms(0, bePath, [new XsPermission(0, XsPerm.None), new XsPermission(d.Id, XsPerm.Read)]);
        xs.Mkdir(0, fePath);
        xs.SetPerms(0, fePath, [new XsPermission(d.Id, XsPerm.None), new XsPermission(0, XsPerm.Read)]);
        xs.Write(0, $"{fePath}/backend", bePath);
        xs.Write(0, $"{fePath}/state", "1");
        xs.Write(0, $"{bePath}/state", "1");
        xs.Write(0, $"{bePath}/frontend", fePath);
        BlockTestBed.WaitUntil(() => xs.ReadString(d.Id, $"{bePath}/state") == "2", "vsum back-end in InitWait");
        Assert.That(xs.ReadString(d.Id, $"{bePath}/feature-sum"), Is.EqualTo("1"));

        // The front-end's part: a one-page ring of 16-byte entries, a data page, an event channel.
        ulong ring = fe.AllocPage(), data = fe.AllocPage();
        MemoryMarshal.Write(fe.Page(ring)[4..], 1u);  // req_event
        MemoryMarshal.Write(fe.Page(ring)[12..], 1u); // rsp_event
        for (int i = 0; i < 4096; i++) fe.Page(data)[i] = (byte)i;
        Assert.That(EventChannelTable.AllocUnbound(d, DomId.Self, 0, out uint port), Is.Zero);
        xs.Write(d.Id, $"{fePath}/ring-ref", fe.Grant(ring).ToString());
        xs.Write(d.Id, $"{fePath}/event-channel", port.ToString());
        xs.Write(d.Id, $"{fePath}/state", "3");
        BlockTestBed.WaitUntil(() => xs.ReadString(d.Id, $"{bePath}/state") == "4", "vsum back-end Connected");

        uint dataRef = fe.Grant(data, readOnly: true);
        var reqs = MemoryMarshal.Cast<byte, SumRequest>(fe.Page(ring)[64..]);
        reqs[0] = new SumRequest { Id = 1, Gref = dataRef, Offset = 0, Length = 256 };
        reqs[1] = new SumRequest { Id = 2, Gref = 9999, Offset = 0, Length = 16 };
        MemoryMarshal.Write(fe.Page(ring), 2u); // req_prod
        EventChannelTable.Send(d, port);
        BlockTestBed.WaitUntil(() => MemoryMarshal.Read<uint>(fe.Page(ring)[8..]) == 2, "two responses");
        var rsps = MemoryMarshal.Cast<byte, SumResponse>(fe.Page(ring)[64..]);
        Assert.That(rsps[0].Id, Is.EqualTo(1UL));
        Assert.That(rsps[0].Sum, Is.EqualTo(Enumerable.Range(0, 256).Sum()));
        Assert.That(rsps[1].Sum, Is.EqualTo(-1), "an ungranted reference is refused, not a crash");

        xs.Write(d.Id, $"{fePath}/state", "6");
        BlockTestBed.WaitUntil(() => xs.ReadString(d.Id, $"{bePath}/state") == "6", "vsum back-end Closed");
        Assert.That(bed.Hv.Dom0.Grants.ActiveMappings, Is.Zero);
    }
}
