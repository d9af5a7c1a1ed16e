using System.Buffers.Binary;
using NUnit.Framework;
using Paravirt.Control.Protocol;

namespace Paravirt.Tools.Tests;

public class FramingTests
{
    private static byte[] Header(byte kind, uint length)
    {
        var header = new byte[FrameLimits.HeaderBytes];
        header[0] = kind;
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(1), length);
        return header;
    }

    private static async Task<Frame?> ReadOne(byte[] wire) => await new FrameReader(new MemoryStream(wire)).ReadAsync();

    [TestCase(FrameKind.Request, 0)]
    [TestCase(FrameKind.Response, 17)]
    [TestCase(FrameKind.ConsoleOutput, 1)]
    [TestCase(FrameKind.ConsoleInput, FrameLimits.MaxConsoleChunkBytes)]
    [TestCase(FrameKind.ConsoleEnd, 300)]
    public async Task AFrameReadsBackAsWritten(FrameKind kind, int length)
    {
        var payload = Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray();
        var wire = new MemoryStream();
        await new FrameWriter(wire).WriteAsync(kind, payload);
        wire.Position = 0;

        var frame = await new FrameReader(wire).ReadAsync();

        Assert.That(frame, Is.Not.Null);
        Assert.That(frame!.Value.Kind, Is.EqualTo(kind));
        Assert.That(frame.Value.Payload, Is.EqualTo(payload));
    }

    [Test]
    public async Task TheHeaderIsKindThenLittleEndianLength()
    {
        var wire = new MemoryStream();
        await new FrameWriter(wire).WriteAsync(FrameKind.ConsoleOutput, new byte[] { 0xAA, 0xBB });
        Assert.That(wire.ToArray(), Is.EqualTo(new byte[] { 3, 2, 0, 0, 0, 0xAA, 0xBB }));
    }

    [Test]
    public async Task ACleanEndBetweenFramesReadsAsNull()
    {
        Assert.That(await ReadOne([]), Is.Null);
    }

    [Test]
    public async Task FramesArriveInOrderOverOneStream()
    {
        var wire = new MemoryStream();
        var writer = new FrameWriter(wire);
        await writer.WriteAsync(FrameKind.ConsoleOutput, "one"u8.ToArray());
        await writer.WriteAsync(FrameKind.ConsoleOutput, "two"u8.ToArray());
        wire.Position = 0;
        var reader = new FrameReader(wire);

        Assert.That((await reader.ReadAsync())!.Value.Payload, Is.EqualTo("one"u8.ToArray()));
        Assert.That((await reader.ReadAsync())!.Value.Payload, Is.EqualTo("two"u8.ToArray()));
        Assert.That(await reader.ReadAsync(), Is.Null);
    }

    [Test]
    public async Task ChunkedConsoleDataIsSplitAtTheChunkLimit()
    {
        var data = new byte[FrameLimits.MaxConsoleChunkBytes * 2 + 5];
        var wire = new MemoryStream();
        await new FrameWriter(wire).WriteChunkedAsync(FrameKind.ConsoleOutput, data);
        wire.Position = 0;
        var reader = new FrameReader(wire);

        var sizes = new List<int>();
        while (await reader.ReadAsync() is { } frame)
            sizes.Add(frame.Payload.Length);

        Assert.That(sizes, Is.EqualTo(new[] { FrameLimits.MaxConsoleChunkBytes, FrameLimits.MaxConsoleChunkBytes, 5 }));
    }

    [TestCase((byte)0)]
    [TestCase((byte)6)]
    [TestCase((byte)0xFF)]
    public async Task AnUnknownFrameKindIsAProtocolError(byte kind)
    {
        var e = await Assert.ThrowsAsync<ProtocolException>(() => ReadOne(Header(kind, 0)));
        Assert.That(e!.Message, Does.Contain($"unknown frame kind {kind}"));
    }

    [TestCase(FrameKind.Request, (uint)FrameLimits.MaxMessageBytes + 1)]
    [TestCase(FrameKind.ConsoleInput, (uint)FrameLimits.MaxConsoleChunkBytes + 1)]
    [TestCase(FrameKind.Response, uint.MaxValue)]
    public async Task AnOversizedFrameIsRefusedBeforeItsPayloadIsRead(FrameKind kind, uint length)
    {
        // Only the header is on the wire: the reader must refuse from the length alone, not try to read 4 GiB.
        var e = await Assert.ThrowsAsync<ProtocolException>(() => ReadOne(Header((byte)kind, length)));
        Assert.That(e!.Message, Does.Contain("exceeds the limit"));
    }

    [TestCase(1)]
    [TestCase(4)]
    public async Task AConnectionClosedInsideTheHeaderIsAProtocolError(int bytes)
    {
        var wire = Header((byte)FrameKind.Request, 10)[..bytes];
        var e = await Assert.ThrowsAsync<ProtocolException>(() => ReadOne(wire));
        Assert.That(e!.Message, Does.Contain("frame header"));
    }

    [Test]
    public async Task AConnectionClosedInsideThePayloadIsAProtocolError()
    {
        var wire = Header((byte)FrameKind.Request, 10).Concat(new byte[4]).ToArray();
        var e = await Assert.ThrowsAsync<ProtocolException>(() => ReadOne(wire));
        Assert.That(e!.Message, Does.Contain("4 of 10 bytes"));
    }

    [Test]
    public async Task TheWriterRefusesAPayloadOverTheLimit()
    {
        var writer = new FrameWriter(new MemoryStream());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            writer.WriteAsync(FrameKind.ConsoleInput, new byte[FrameLimits.MaxConsoleChunkBytes + 1]));
    }

    [Test]
    public async Task ConcurrentWritersNeverInterleaveFrames()
    {
        var wire = new MemoryStream();
        var writer = new FrameWriter(wire);
        var payloads = Enumerable.Range(0, 64).Select(i => Enumerable.Repeat((byte)i, 1000 + i).ToArray()).ToArray();

        await Task.WhenAll(payloads.Select(p => Task.Run(() => writer.WriteAsync(FrameKind.ConsoleOutput, p))));
        wire.Position = 0;
        var reader = new FrameReader(wire);
        var seen = new List<byte[]>();
        while (await reader.ReadAsync() is { } frame)
            seen.Add(frame.Payload);

        Assert.That(seen.Select(p => p.Distinct().Single()).Order(), Is.EqualTo(Enumerable.Range(0, 64).Select(i => (byte)i)));
        Assert.That(seen.All(p => p.Length == 1000 + p[0]), Is.True);
    }
}
