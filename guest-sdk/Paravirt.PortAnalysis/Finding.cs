namespace Paravirt.PortAnalysis;

/// <summary>
/// One sensitive instruction found in a kernel image.
/// </summary>
/// <param name="Address">Virtual (link) address of the first byte.</param>
/// <param name="FileOffset">Offset of the first byte in the ELF file.</param>
/// <param name="Section">Section holding it (or "segment N" for an image without section headers).</param>
/// <param name="Function">Nearest preceding code symbol, or null for a stripped image.</param>
/// <param name="FunctionOffset">Offset from <paramref name="Function"/>.</param>
/// <param name="Bytes">The instruction's bytes (with the forced-emulation prefix when the rule is about that prefix).</param>
/// <param name="Disassembly">Intel syntax, as Iced formats it.</param>
/// <param name="Rule">What it is and what replaces it.</param>
/// <param name="AfterResync">The sweep hit undecodable bytes earlier in the same symbol: the instruction may be data read as code.</param>
public sealed record Finding(ulong Address, long FileOffset, string Section, string? Function, ulong FunctionOffset, byte[] Bytes,
    string Disassembly, SensitiveRule Rule, bool AfterResync)
{
    /// <summary>"func+0x1a", or "section+0x1a" when there is no symbol.</summary>
    public string Location => Function != null ? $"{Function}+0x{FunctionOffset:x}" : $"{Section}+0x{FunctionOffset:x}";
}

/// <summary>A site already in its PV form (today: the forced-emulation cpuid), reported so a porter sees progress.</summary>
public sealed record PvSite(ulong Address, string Location, string Form);

/// <summary>A stretch of code that was disassembled.</summary>
public sealed record ScannedRegion(string Name, ulong Address, ulong Size);
