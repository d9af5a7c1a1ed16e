using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace Paravirt.XenStoreCli;

/// <summary>xs_wire.h message types used by the tools (enum xsd_sockmsg_type).</summary>
public enum XsType : uint
{
    Directory = 1, Read = 2, GetPerms = 3, Watch = 4, Unwatch = 5, TransactionStart = 6, TransactionEnd = 7,
    Write = 11, Mkdir = 12, Rm = 13, SetPerms = 14, WatchEvent = 15, Error = 16,
}

/// <summary>An error reply from xenstored: the errno name of xsd_errors ("ENOENT", "EACCES", "EAGAIN", ...).</summary>
public sealed class XsError(string name) : Exception(name)
{
    public string Name { get; } = name;
}

/// <summary>
/// A client for xenstored's Unix socket: struct xsd_sockmsg {type, req_id, tx_id, len} little-endian, then the
/// payload (XENSTORE_PAYLOAD_MAX 4096). Requests are answered in order; watch events may arrive in between.
/// </summary>
public sealed class XsClient : IDisposable
{
    public const int PayloadMax = 4096;
    private readonly Socket _socket;
    private readonly Queue<(string Path, string Token)> _events = new();
    private uint _nextRequest = 1;

    private XsClient(Socket socket) => _socket = socket;

    public static XsClient Connect(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
            return new XsClient(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public byte[] Request(XsType type, uint tx, byte[] payload)
    {
        if (payload.Length > PayloadMax) throw new XsError("E2BIG");
        uint id = _nextRequest++;
        var header = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)type);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), id);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), tx);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), (uint)payload.Length);
        _socket.Send(header);
        if (payload.Length > 0) _socket.Send(payload);
        while (true)
        {
            var (replyType, body) = ReadMessage();
            if (replyType == XsType.WatchEvent)
            {
                _events.Enqueue(WatchEvent(body));
                continue;
            }
            if (replyType == XsType.Error) throw new XsError(Encoding.ASCII.GetString(body).TrimEnd('\0'));
            if (replyType != type) throw new IOException($"xenstored answered {type} with {replyType}");
            return body;
        }
    }

    /// <summary>The next watch event (path, token); blocks until one arrives.</summary>
    public (string Path, string Token) NextEvent()
    {
        if (_events.Count > 0) return _events.Dequeue();
        while (true)
        {
            var (type, body) = ReadMessage();
            if (type == XsType.WatchEvent) return WatchEvent(body);
        }
    }

    private (XsType, byte[]) ReadMessage()
    {
        var header = new byte[16];
        ReadExactly(header);
        var type = (XsType)BinaryPrimitives.ReadUInt32LittleEndian(header);
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(12));
        if (len > PayloadMax) throw new IOException($"xenstored sent a {len}-byte payload (limit {PayloadMax})");
        var body = new byte[len];
        ReadExactly(body);
        return (type, body);
    }

    private void ReadExactly(Span<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            int n = _socket.Receive(buffer);
            if (n == 0) throw new IOException("xenstored closed the connection");
            buffer = buffer[n..];
        }
    }

    private static (string, string) WatchEvent(byte[] body)
    {
        var parts = Encoding.UTF8.GetString(body).Split('\0');
        return (parts[0], parts.Length > 1 ? parts[1] : "");
    }

    // ---- typed operations ----

    public static byte[] Z(string s) => Encoding.UTF8.GetBytes(s + "\0");

    public byte[] Read(uint tx, string path) => Request(XsType.Read, tx, Z(path));

    public void Write(uint tx, string path, byte[] value)
    {
        var pathBytes = Z(path);
        var payload = new byte[pathBytes.Length + value.Length];
        pathBytes.CopyTo(payload, 0);
        value.CopyTo(payload, pathBytes.Length);
        Request(XsType.Write, tx, payload);
    }

    public void Rm(uint tx, string path) => Request(XsType.Rm, tx, Z(path));

    public string[] Directory(uint tx, string path) => Strings(Request(XsType.Directory, tx, Z(path)));

    public string[] GetPerms(uint tx, string path) => Strings(Request(XsType.GetPerms, tx, Z(path)));

    public void SetPerms(uint tx, string path, IEnumerable<string> perms) =>
        Request(XsType.SetPerms, tx, Encoding.UTF8.GetBytes(path + "\0" + string.Concat(perms.Select(p => p + "\0"))));

    public void Watch(string path, string token) => Request(XsType.Watch, 0, Z(path + "\0" + token));

    public uint TransactionStart() =>
        uint.Parse(Encoding.ASCII.GetString(Request(XsType.TransactionStart, 0, Z(""))).TrimEnd('\0'), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>End a transaction; false when it must be retried (EAGAIN).</summary>
    public bool TransactionEnd(uint tx, bool commit)
    {
        try
        {
            Request(XsType.TransactionEnd, tx, Z(commit ? "T" : "F"));
            return true;
        }
        catch (XsError e) when (e.Name == "EAGAIN")
        {
            return false;
        }
    }

    private static string[] Strings(byte[] body)
    {
        if (body.Length == 0) return [];
        var text = Encoding.UTF8.GetString(body);
        if (text.EndsWith('\0')) text = text[..^1];
        return text.Length == 0 ? [] : text.Split('\0');
    }

    public void Dispose() => _socket.Dispose();
}
