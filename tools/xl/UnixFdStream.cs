using System.Runtime.InteropServices;

namespace Paravirt.Xl;

/// <summary>
/// A stream over an inherited file descriptor using plain read(2)/write(2). FileStream is unsuitable for stdio:
/// on a regular file it writes with pwrite at its own cached offset, so `xl create -c cfg >log; echo done >>log`
/// would see the shell's later writes land on top of the console output. write(2) advances the shared offset as a C
/// program's stdio does. System.Console's streams are avoided too: they take part in terminal set-up and restore,
/// which would fight the raw mode `xl console` sets.
/// </summary>
public sealed class UnixFdStream(int fd, FileAccess access) : Stream
{
    private const int EINTR = 4;

    public override bool CanRead => access.HasFlag(FileAccess.Read);
    public override bool CanWrite => access.HasFlag(FileAccess.Write);
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override unsafe int Read(Span<byte> buffer)
    {
        if (!CanRead)
            throw new NotSupportedException("not opened for reading");
        if (buffer.IsEmpty)
            return 0;
        fixed (byte* p = buffer)
        {
            while (true)
            {
                nint n = NativeMethods.read(fd, p, (nuint)buffer.Length);
                if (n >= 0)
                    return (int)n;
                int errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                    throw new IOException($"read from fd {fd} failed (errno {errno})");
            }
        }
    }

    // The blocking read runs on a pool thread; nothing can interrupt read(2) on a terminal, so cancellation only
    // abandons the wait (the console relay never waits for its input side).
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.Run(() => Read(buffer, offset, count), cancellationToken);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        new(Task.Run(() => Read(buffer.Span), cancellationToken).WaitAsync(cancellationToken));

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override unsafe void Write(ReadOnlySpan<byte> buffer)
    {
        if (!CanWrite)
            throw new NotSupportedException("not opened for writing");
        fixed (byte* p = buffer)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                nint n = NativeMethods.write(fd, p + done, (nuint)(buffer.Length - done));
                if (n >= 0)
                {
                    done += (int)n;
                    continue;
                }
                int errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                    throw new IOException($"write to fd {fd} failed (errno {errno})");
            }
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override void Flush() { }
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    private static unsafe class NativeMethods
    {
        [DllImport("libc", SetLastError = true)] internal static extern nint read(int fd, byte* buffer, nuint count);
        [DllImport("libc", SetLastError = true)] internal static extern nint write(int fd, byte* buffer, nuint count);
    }
}
