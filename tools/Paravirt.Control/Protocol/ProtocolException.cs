namespace Paravirt.Control.Protocol;

/// <summary>
/// The peer broke the protocol: a malformed, oversized or unexpected frame, or a message that is not valid JSON for
/// its type. The message is one line saying what was wrong, with the offending value. This is the only exception the
/// protocol layer throws for bad input; I/O failures surface as <see cref="IOException"/>.
/// </summary>
public sealed class ProtocolException(string message) : Exception(message);
