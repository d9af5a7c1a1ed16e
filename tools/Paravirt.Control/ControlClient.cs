using System.Net.Sockets;
using Paravirt.Control.Messages;
using Paravirt.Control.Protocol;

namespace Paravirt.Control;

/// <summary>What arrived on a console stream: guest output, or the end of the domain.</summary>
public readonly record struct ConsoleEvent(byte[]? Output, DomainEndInfo? End)
{
    public bool IsEnd => End is not null;
}

/// <summary>
/// xl's side of one connection to paravirtd. Requests are answered in order; after a successful console (or
/// create with Console) request the connection is in console mode and only the console methods may be used.
/// Everything the server sends is validated; a broken reply surfaces as <see cref="ProtocolException"/>.
/// </summary>
public sealed class ControlClient : IDisposable
{
    private readonly Stream _stream;
    private readonly FrameReader _reader;
    private readonly FrameWriter _writer;
    private readonly IDisposable? _owner;

    public ControlClient(Stream stream, IDisposable? owner = null)
    {
        _stream = stream;
        _owner = owner;
        _reader = new FrameReader(stream);
        _writer = new FrameWriter(stream);
    }

    /// <summary>Connect to the daemon's socket; throws <see cref="SocketException"/> when nobody answers there.</summary>
    public static async Task<ControlClient> ConnectAsync(string socketPath, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
            return new ControlClient(new NetworkStream(socket, ownsSocket: true));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async Task<ControlResponse> RequestAsync(ControlRequest request, CancellationToken cancellationToken = default)
    {
        await _writer.WriteAsync(FrameKind.Request, ControlJson.Serialize(request), cancellationToken).ConfigureAwait(false);
        var frame = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new ProtocolException("paravirtd closed the connection without replying");
        if (frame.Kind != FrameKind.Response)
            throw new ProtocolException($"expected a Response frame, got {frame.Kind}");
        var response = ControlJson.Deserialize<ControlResponse>(frame.Payload);
        if (MessageValidation.FindMissingValue(response) is { } missing)
            throw new ProtocolException($"reply lacks {missing}");
        if (!response.Ok && string.IsNullOrWhiteSpace(response.Error))
            throw new ProtocolException("failure reply without an error message");
        return response;
    }

    /// <summary>The next console event; the stream ends with exactly one End event.</summary>
    public async Task<ConsoleEvent> ReadConsoleAsync(CancellationToken cancellationToken = default)
    {
        var frame = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new ProtocolException("paravirtd closed the console stream without an end frame");
        switch (frame.Kind)
        {
            case FrameKind.ConsoleOutput:
                return new ConsoleEvent(frame.Payload, null);
            case FrameKind.ConsoleEnd:
                var end = ControlJson.Deserialize<DomainEndInfo>(frame.Payload);
                if (!Enum.IsDefined(end.Reason))
                    throw new ProtocolException($"unknown shutdown reason {(int)end.Reason}");
                return new ConsoleEvent(null, end);
            default:
                throw new ProtocolException($"unexpected {frame.Kind} frame on a console stream");
        }
    }

    public Task SendConsoleInputAsync(ReadOnlyMemory<byte> input, CancellationToken cancellationToken = default) =>
        _writer.WriteChunkedAsync(FrameKind.ConsoleInput, input, cancellationToken);

    public void Dispose()
    {
        _stream.Dispose();
        _owner?.Dispose();
        _writer.Dispose();
    }
}
