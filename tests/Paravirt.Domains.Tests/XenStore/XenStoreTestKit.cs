using NUnit.Framework;
using System.Buffers.Binary;
using System.Text;
using Paravirt.Domains.XenStore;

namespace Paravirt.Domains.Tests.XenStore;

/// <summary>A guest's xenstore page in a byte array; <see cref="Vanish"/> makes it behave like a dead domain's page.</summary>
internal sealed class ByteArrayPage : IRingPage
{
    public byte[] Bytes { get; } = new byte[4096];
    public bool Vanished { get; private set; }

    public Span<byte> Span => Vanished ? throw new ObjectDisposedException("page") : Bytes;

    public void Vanish() => Vanished = true;

    public uint this[int offset]
    {
        get => BinaryPrimitives.ReadUInt32LittleEndian(Bytes.AsSpan(offset));
        set => BinaryPrimitives.WriteUInt32LittleEndian(Bytes.AsSpan(offset), value);
    }
}

/// <summary>
/// The guest's side of a ring, written from the guest kernel's point of view (xenbus front-end): produce request
/// bytes, consume response bytes, both across the wrap of the 1024-byte buffers.
/// </summary>
internal sealed class GuestRing
{
    public GuestRing(XenStoreDaemon daemon, ushort domid)
    {
        Page = new ByteArrayPage();
        Connection = daemon.IntroduceDomain(domid, Page, () => Notifications++);
    }

    public ByteArrayPage Page { get; }
    public XenStoreRingConnection Connection { get; }
    public int Notifications { get; private set; }
    private readonly List<byte> _received = [];

    /// <summary>Writes as many bytes as fit in the request ring; returns how many.</summary>
    public int Produce(ReadOnlySpan<byte> bytes)
    {
        uint cons = Page[XsRingLayout.ReqCons], prod = Page[XsRingLayout.ReqProd];
        int free = XsWire.RingSize - (int)(prod - cons);
        int n = Math.Min(free, bytes.Length);
        for (int i = 0; i < n; i++) Page.Bytes[XsRingLayout.Req + (int)((prod + (uint)i) & (XsWire.RingSize - 1))] = bytes[i];
        Page[XsRingLayout.ReqProd] = prod + (uint)n;
        return n;
    }

    /// <summary>Moves everything the server produced into the guest's receive buffer.</summary>
    public void Consume()
    {
        uint cons = Page[XsRingLayout.RspCons], prod = Page[XsRingLayout.RspProd];
        uint avail = prod - cons;
        if (avail > XsWire.RingSize) return;
        for (uint i = 0; i < avail; i++) _received.Add(Page.Bytes[XsRingLayout.Rsp + (int)((cons + i) & (XsWire.RingSize - 1))]);
        Page[XsRingLayout.RspCons] = prod;
    }

    /// <summary>Sends a whole message, signalling after each chunk and taking replies as they come, like a real front-end.</summary>
    public void Send(XsMessage message)
    {
        var bytes = message.Encode();
        int sent = 0;
        for (int spins = 0; sent < bytes.Length && spins < 10_000; spins++)
        {
            sent += Produce(bytes.AsSpan(sent));
            Connection.OnEvent();
            Consume();
            Connection.OnEvent();
        }
        if (sent < bytes.Length) throw new InvalidOperationException("ring stuck");
        Consume();
    }

    /// <summary>Takes the next complete message from what was received, if any.</summary>
    public XsMessage? Receive()
    {
        Consume();
        Connection.OnEvent();
        Consume();
        if (_received.Count < XsWire.HeaderSize) return null;
        var header = XsSockMsgHeader.Read(_received.GetRange(0, XsWire.HeaderSize).ToArray());
        if (_received.Count < XsWire.HeaderSize + header.Len) return null;
        var payload = _received.GetRange(XsWire.HeaderSize, (int)header.Len).ToArray();
        _received.RemoveRange(0, XsWire.HeaderSize + (int)header.Len);
        return new XsMessage((XsMessageType)header.Type, header.ReqId, header.TxId, payload);
    }

    /// <summary>Sends a request and returns the reply with its req_id, skipping watch events (kept in <see cref="Events"/>).</summary>
    public XsMessage Request(XsMessage request)
    {
        Send(request);
        for (int i = 0; i < 1000; i++)
        {
            var m = Receive();
            if (m is null) continue;
            if (m.Type == XsMessageType.WatchEvent) { Events.Add(m); continue; }
            return m;
        }
        throw new InvalidOperationException("no reply");
    }

    public List<XsMessage> Events { get; } = [];

    /// <summary>The ring reconnection feature from the guest side: drop what was half-received, ask, and wait for the reset.</summary>
    public void Reconnect()
    {
        _received.Clear();
        Events.Clear();
        Page[XsRingLayout.Connection] = XsRingLayout.Reconnect;
        Connection.OnEvent();
    }
}

internal static class Msg
{
    private static uint s_req = 100;

    public static XsMessage Of(XsMessageType type, params string[] parts) => XsMessage.FromStrings(type, ++s_req, 0, parts);
    public static XsMessage InTx(uint tx, XsMessageType type, params string[] parts) => XsMessage.FromStrings(type, ++s_req, tx, parts);
    public static XsMessage Write(string path, string value, uint tx = 0) => XsMessage.WriteRequest(++s_req, tx, path, Encoding.ASCII.GetBytes(value));
    public static XsMessage Raw(XsMessageType type, byte[] payload, uint tx = 0) => new(type, ++s_req, tx, payload);
}

internal static class XsAssert
{
    public static void IsError(XsMessage reply, string errno)
    {
        Assert.That(reply.Type, Is.EqualTo(XsMessageType.Error), $"expected {errno}, got {reply.Type} '{reply.PayloadText()}'");
        Assert.That(Encoding.ASCII.GetString(reply.Payload), Is.EqualTo(errno + "\0"));
    }

    public static void IsOk(XsMessage reply, XsMessageType type)
    {
        Assert.That(reply.Type, Is.EqualTo(type), $"got {reply.Type} '{reply.PayloadText()}'");
        Assert.That(Encoding.ASCII.GetString(reply.Payload), Is.EqualTo("OK\0"));
    }

    public static List<XsWatchEvent> Drain(XenStoreLocalConnection c)
    {
        var list = new List<XsWatchEvent>();
        while (c.TryReceiveEvent(out var e)) list.Add(e);
        return list;
    }
}
