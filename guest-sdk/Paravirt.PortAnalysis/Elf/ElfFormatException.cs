namespace Paravirt.PortAnalysis.Elf;

/// <summary>
/// The file is not an ELF image pvport can analyse: not ELF, not 64-bit little-endian x86-64, or a header, table or
/// string that points outside the file. The message is one line naming the offending field and value.
/// </summary>
public sealed class ElfFormatException(string message) : Exception(message);
