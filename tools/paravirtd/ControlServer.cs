using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Paravirt.Daemon;

/// <summary>
/// Listens on the control socket and serves each client on its own task. The number of simultaneous clients is
/// bounded so a misbehaving tool cannot exhaust the daemon; connections beyond the bound are closed at once.
/// </summary>
public sealed class ControlServer(RequestDispatcher dispatcher, string socketPath, DaemonLog log) : IAsyncDisposable
{
    public const int MaxClients = 256;

    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<int, Task> _clients = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private int _nextClientId;

    public string SocketPath => socketPath;

    /// <summary>Bind and start accepting. Throws <see cref="SocketException"/> when the socket cannot be bound.</summary>
    public void Start()
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            listener.Listen(64);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        _listener = listener;
        _acceptLoop = AcceptLoopAsync(listener, _stop.Token);
        log.Info($"listening on {socketPath}");
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                log.Warning($"accept failed: {e.Message}");
                continue;
            }

            if (_clients.Count >= MaxClients)
            {
                log.Warning($"refusing a client: {MaxClients} already connected");
                client.Dispose();
                continue;
            }
            int id = Interlocked.Increment(ref _nextClientId);
            var connection = new ClientConnection(new NetworkStream(client, ownsSocket: true), dispatcher, log, id);
            _clients[id] = Task.Run(async () =>
            {
                try { await connection.RunAsync(cancellationToken).ConfigureAwait(false); }
                finally { _clients.TryRemove(id, out _); }
            }, CancellationToken.None);
        }
    }

    /// <summary>Stop accepting, end every connection, and remove the socket file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
            return;
        _stop.Cancel();
        _listener?.Dispose();
        if (_acceptLoop is not null)
            await _acceptLoop.ConfigureAwait(false);
        await Task.WhenAll(_clients.Values).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        try { File.Delete(socketPath); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        _stop.Dispose();
    }
}
