namespace Paravirt.Control.Messages;

/// <summary>A domain as `xl list` shows it; the wire form of the toolstack's DomainInfo.</summary>
public sealed class DomainSummary
{
    public uint DomId { get; set; }
    public string Name { get; set; } = "";
    public Guid Uuid { get; set; }
    public long MemoryMiB { get; set; }
    public int Vcpus { get; set; }
    /// <summary>Six letters r b p s c d, '-' where clear (xl list's State column).</summary>
    public string State { get; set; } = "------";
    public double CpuTimeSeconds { get; set; }
}
