using System.Text;

namespace Paravirt.Domains.XenStore;

/// <summary>One xenstore message: an xsd_sockmsg header (type, req_id, tx_id) and its payload bytes.</summary>
public sealed class XsMessage
{
    public XsMessage(XsMessageType type, uint reqId, uint txId, byte[] payload)
    {
        Type = type;
        ReqId = reqId;
        TxId = txId;
        Payload = payload ?? [];
    }

    public XsMessageType Type { get; }
    public uint ReqId { get; }
    public uint TxId { get; }
    public byte[] Payload { get; }

    /// <summary>Builds a request whose payload is each string followed by a NUL (the usual "&lt;path&gt;|" syntax).</summary>
    public static XsMessage FromStrings(XsMessageType type, uint reqId, uint txId, params string[] parts)
    {
        int len = 0;
        foreach (var p in parts) len += p.Length + 1;
        var payload = new byte[len];
        int at = 0;
        foreach (var p in parts)
        {
            at += Encoding.Latin1.GetBytes(p, payload.AsSpan(at));
            payload[at++] = 0;
        }
        return new XsMessage(type, reqId, txId, payload);
    }

    /// <summary>XS_WRITE's payload: "&lt;path&gt;|&lt;value|&gt;" with no NUL after the value.</summary>
    public static XsMessage WriteRequest(uint reqId, uint txId, string path, ReadOnlySpan<byte> value)
    {
        var payload = new byte[path.Length + 1 + value.Length];
        Encoding.Latin1.GetBytes(path, payload);
        value.CopyTo(payload.AsSpan(path.Length + 1));
        return new XsMessage(XsMessageType.Write, reqId, txId, payload);
    }

    /// <summary>Header followed by payload, ready for a socket or a ring.</summary>
    public byte[] Encode()
    {
        var bytes = new byte[XsWire.HeaderSize + Payload.Length];
        new XsSockMsgHeader { Type = (uint)Type, ReqId = ReqId, TxId = TxId, Len = (uint)Payload.Length }.Write(bytes);
        Payload.CopyTo(bytes, XsWire.HeaderSize);
        return bytes;
    }

    /// <summary>The payload's NUL-terminated strings (trailing bytes after the last NUL are ignored).</summary>
    public string[] PayloadStrings()
    {
        var list = new List<string>();
        int start = 0;
        for (int i = 0; i < Payload.Length; i++)
        {
            if (Payload[i] != 0) continue;
            list.Add(Encoding.Latin1.GetString(Payload, start, i - start));
            start = i + 1;
        }
        return [.. list];
    }

    /// <summary>The payload as text with one trailing NUL removed (READ values, single-string replies).</summary>
    public string PayloadText()
    {
        int len = Payload.Length;
        if (len > 0 && Payload[len - 1] == 0) len--;
        return Encoding.Latin1.GetString(Payload, 0, len);
    }

    /// <summary>For an XS_ERROR reply: the errno it names; otherwise <see cref="XsErrno.None"/>.</summary>
    public XsErrno ErrorCode => Type == XsMessageType.Error ? XsErrors.FromWireName(PayloadText()) : XsErrno.None;

    public override string ToString() => $"{Type} req={ReqId} tx={TxId} len={Payload.Length}";
}
