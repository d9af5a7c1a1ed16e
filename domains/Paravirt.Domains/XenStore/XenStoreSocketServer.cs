using System.Net.Sockets;

namespace Paravirt.Domains.XenStore;

/// <summary>
/// xenstored's tools socket: a Unix domain socket whose clients act as Dom0 and speak raw xsd_sockmsg + payload,
/// so unmodified Xen clients (libxenstore with XENSTORED_PATH pointing here) work. A client announcing a payload
/// over XENSTORE_PAYLOAD_MAX is disconnected, as xenstored does; other clients are unaffected.
/// </summary>
public sealed class XenStoreSocketServer : IDisposable
{
    private readonly XenStoreDaemon _daemon;
    private readonly Socket _listener;
    private readonly List<XenStoreSocketConnection> _clients = [];
    private readonly Thread _acceptThread;
    private volatile bool _disposed;

    /// <summary>Creates the socket at <paramref name="path"/> (replacing a stale one) and starts accepting.</summary>
    public XenStoreSocketServer(XenStoreDaemon daemon, string path)
    {
        _daemon = daemon;
        Path = path;
        if (File.Exists(path)) File.Delete(path);
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen(64);
        _acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = "xenstored-accept" };
        _acceptThread.Start();
    }

    public string Path { get; }

    /// <summary>Clients currently connected.</summary>
    public int ClientCount { get { lock (_clients) return _clients.Count; } }

    private void AcceptLoop()
    {
        while (!_disposed)
        {
            Socket client;
            try
            {
                client = _listener.Accept();
            }
            catch (Exception) when (_disposed)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            var conn = new XenStoreSocketConnection(_daemon, client, Forget);
            lock (_clients) _clients.Add(conn);
            _daemon.Register(conn);
            conn.Start();
        }
    }

    private void Forget(XenStoreSocketConnection conn)
    {
        lock (_clients) _clients.Remove(conn);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _listener.Dispose();
        XenStoreSocketConnection[] clients;
        lock (_clients) clients = [.. _clients];
        foreach (var c in clients) c.Close();
        _acceptThread.Join(TimeSpan.FromSeconds(5));
        try { File.Delete(Path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>One tools-socket client: a reader thread that frames requests and a writer thread that drains output.</summary>
internal sealed class XenStoreSocketConnection : XenStoreConnection
{
    /// <summary>Requests are not read while this much output waits, so a client that never reads cannot grow it without bound.</summary>
    private const int OutputBackpressureBytes = 1024 * 1024;

    private readonly Socket _socket;
    private readonly Action<XenStoreSocketConnection> _onClosed;
    private readonly SemaphoreSlim _outputReady = new(0);
    private readonly SemaphoreSlim _outputDrained = new(0);
    private int _closed;

    public XenStoreSocketConnection(XenStoreDaemon daemon, Socket socket, Action<XenStoreSocketConnection> onClosed)
        : base(daemon, 0)
    {
        _socket = socket;
        _onClosed = onClosed;
    }

    public void Start()
    {
        new Thread(ReadLoop) { IsBackground = true, Name = "xenstored-sock-read" }.Start();
        new Thread(WriteLoop) { IsBackground = true, Name = "xenstored-sock-write" }.Start();
    }

    internal override void OnOutputQueued()
    {
        // Binary signal: the writer drains everything queued each time it wakes.
        if (Volatile.Read(ref _closed) == 0 && _outputReady.CurrentCount == 0) _outputReady.Release();
    }

    private void ReadLoop()
    {
        var header = new byte[XsWire.HeaderSize];
        var payload = new byte[XsWire.PayloadMax];
        try
        {
            while (Volatile.Read(ref _closed) == 0)
            {
                if (!ReceiveExactly(header)) break;
                var hdr = XsSockMsgHeader.Read(header);
                if (hdr.Len > XsWire.PayloadMax) break; // xenstored drops such a client
                if (!ReceiveExactly(payload.AsSpan(0, (int)hdr.Len))) break;
                var request = new XsMessage((XsMessageType)hdr.Type, hdr.ReqId, hdr.TxId, payload.AsSpan(0, (int)hdr.Len).ToArray());
                Daemon.Process(this, request);
                while (QueuedBytes > OutputBackpressureBytes && Volatile.Read(ref _closed) == 0)
                    _outputDrained.Wait(100);
            }
        }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
        Close();
    }

    private bool ReceiveExactly(Span<byte> buffer)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int n = _socket.Receive(buffer[got..]);
            if (n <= 0) return false;
            got += n;
        }
        return true;
    }

    private void WriteLoop()
    {
        try
        {
            while (Volatile.Read(ref _closed) == 0)
            {
                _outputReady.Wait();
                while (TryDequeue(out var encoded))
                {
                    int sent = 0;
                    while (sent < encoded.Length) sent += _socket.Send(encoded.AsSpan(sent));
                    if (_outputDrained.CurrentCount == 0) _outputDrained.Release();
                }
            }
        }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
        Close();
    }

    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 1) return;
        Daemon.Disconnect(this);
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _socket.Dispose();
        _outputReady.Release();
        _outputDrained.Release();
        _onClosed(this);
    }
}
