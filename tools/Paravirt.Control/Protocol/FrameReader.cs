using System.Buffers.Binary;

namespace Paravirt.Control.Protocol;

/// <summary>
/// Reads frames from a stream, validating each header before allocating anything for the payload, so a hostile
/// peer cannot make the reader allocate more than <see cref="FrameLimits.MaxMessageBytes"/>.
/// Not thread-safe: one reader per connection.
/// </summary>
public sealed class FrameReader(Stream stream)
{
    private readonly byte[] _header = new byte[FrameLimits.HeaderBytes];

    /// <summary>
    /// The next frame, or null when the peer closed the connection cleanly between frames.
    /// Throws <see cref="ProtocolException"/> for an unknown kind, an oversized payload or a connection closed mid-frame.
    /// </summary>
    public async ValueTask<Frame?> ReadAsync(CancellationToken cancellationToken = default)
    {
        int got = await ReadFullyAsync(_header, cancellationToken).ConfigureAwait(false);
        if (got == 0)
            return null;
        if (got < _header.Length)
            throw new ProtocolException($"connection closed inside a frame header ({got} of {FrameLimits.HeaderBytes} bytes)");

        byte kindByte = _header[0];
        if (!FrameKinds.IsDefined(kindByte))
            throw new ProtocolException($"unknown frame kind {kindByte}");
        var kind = (FrameKind)kindByte;

        uint length = BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(1));
        int max = FrameKinds.MaxPayload(kind);
        if (length > (uint)max)
            throw new ProtocolException($"{kind} frame of {length} bytes exceeds the limit of {max}");

        var payload = length == 0 ? [] : new byte[length];
        got = await ReadFullyAsync(payload, cancellationToken).ConfigureAwait(false);
        if (got < payload.Length)
            throw new ProtocolException($"connection closed inside a {kind} frame ({got} of {length} bytes)");
        return new Frame(kind, payload);
    }

    private async ValueTask<int> ReadFullyAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer[total..], cancellationToken).ConfigureAwait(false);
            if (n == 0)
                break;
            total += n;
        }
        return total;
    }
}
