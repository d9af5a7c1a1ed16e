namespace Paravirt.Control.Protocol;

/// <summary>
/// The first byte of every frame header. A connection starts in request mode (Request from the client, one Response
/// from the server per request). A successful <c>console</c> request switches it to console mode: the server sends
/// ConsoleOutput frames and finally one ConsoleEnd, the client sends ConsoleInput frames; the connection closes after
/// ConsoleEnd.
/// </summary>
public enum FrameKind : byte
{
    /// <summary>client → server: a <see cref="Messages.ControlRequest"/> as UTF-8 JSON.</summary>
    Request = 1,
    /// <summary>server → client: a <see cref="Messages.ControlResponse"/> as UTF-8 JSON.</summary>
    Response = 2,
    /// <summary>server → client: raw bytes the guest wrote to its console.</summary>
    ConsoleOutput = 3,
    /// <summary>client → server: raw keyboard bytes for the guest console.</summary>
    ConsoleInput = 4,
    /// <summary>server → client: a <see cref="Messages.DomainEndInfo"/> as UTF-8 JSON; the last frame of a console stream.</summary>
    ConsoleEnd = 5,
}

public static class FrameKinds
{
    public static bool IsDefined(byte kind) => kind is >= (byte)FrameKind.Request and <= (byte)FrameKind.ConsoleEnd;

    public static bool CarriesJson(FrameKind kind) =>
        kind is FrameKind.Request or FrameKind.Response or FrameKind.ConsoleEnd;

    /// <summary>The largest payload a frame of this kind may carry.</summary>
    public static int MaxPayload(FrameKind kind) =>
        CarriesJson(kind) ? FrameLimits.MaxMessageBytes : FrameLimits.MaxConsoleChunkBytes;
}

public static class FrameLimits
{
    /// <summary>Header: kind (1 byte) then payload length (u32, little-endian).</summary>
    public const int HeaderBytes = 5;

    /// <summary>JSON messages: a DomainConfig or a domain list is a few KiB; dmesg is the largest (bounded ring).</summary>
    public const int MaxMessageBytes = 4 * 1024 * 1024;

    /// <summary>Console data is relayed in chunks no larger than this.</summary>
    public const int MaxConsoleChunkBytes = 64 * 1024;
}
