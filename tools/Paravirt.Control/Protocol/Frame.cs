namespace Paravirt.Control.Protocol;

/// <summary>One validated frame: its kind and its payload (at most <see cref="FrameKinds.MaxPayload"/> bytes).</summary>
public readonly record struct Frame(FrameKind Kind, byte[] Payload);
