using System.Buffers;
using System.Buffers.Binary;

namespace Paravirt.Control.Protocol;

/// <summary>
/// Writes frames to a stream. Thread-safe: in console mode one side writes from two tasks (output relay and the
/// final end frame, or input relay and detach), and frames must never interleave.
/// </summary>
public sealed class FrameWriter(Stream stream) : IDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);

    public async Task WriteAsync(FrameKind kind, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        if (!FrameKinds.IsDefined((byte)kind))
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a frame kind");
        int max = FrameKinds.MaxPayload(kind);
        if (payload.Length > max)
            throw new ArgumentOutOfRangeException(nameof(payload), payload.Length, $"{kind} payload exceeds {max} bytes");

        int total = FrameLimits.HeaderBytes + payload.Length;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            buffer[0] = (byte)kind;
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(1), (uint)payload.Length);
            payload.Span.CopyTo(buffer.AsSpan(FrameLimits.HeaderBytes));
            await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await stream.WriteAsync(buffer.AsMemory(0, total), cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _lock.Release();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Console data of any length, split into frames of at most <see cref="FrameLimits.MaxConsoleChunkBytes"/>.</summary>
    public async Task WriteChunkedAsync(FrameKind kind, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        int max = FrameKinds.MaxPayload(kind);
        for (int offset = 0; offset < data.Length; offset += max)
            await WriteAsync(kind, data.Slice(offset, Math.Min(max, data.Length - offset)), cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _lock.Dispose();
}
