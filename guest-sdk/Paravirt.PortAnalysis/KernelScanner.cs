using Iced.Intel;
using Paravirt.PortAnalysis.Elf;

namespace Paravirt.PortAnalysis;

/// <summary>The result of scanning one image.</summary>
public sealed class ScanReport
{
    internal ScanReport(ElfImage image, List<Finding> findings, List<PvSite> pvSites, List<ScannedRegion> regions, long instructions,
        long undecodable, bool hasSymbols, CodeMap code)
    {
        Image = image;
        Findings = findings;
        PvSites = pvSites;
        Regions = regions;
        InstructionCount = instructions;
        UndecodableBytes = undecodable;
        HasSymbols = hasSymbols;
        Code = code;
    }

    public ElfImage Image { get; }
    /// <summary>Sorted by address.</summary>
    public IReadOnlyList<Finding> Findings { get; }
    public IReadOnlyList<PvSite> PvSites { get; }
    public IReadOnlyList<ScannedRegion> Regions { get; }
    public long InstructionCount { get; }
    /// <summary>Bytes inside code runs that did not decode (data in text, or padding); each was skipped singly.</summary>
    public long UndecodableBytes { get; }
    public bool HasSymbols { get; }
    /// <summary>No finding that needs porting (advisory findings such as rdtsc allowed).</summary>
    public bool IsClean => Findings.All(f => !f.Rule.RequiresPort);
    internal CodeMap Code { get; }
}

/// <summary>What the patcher needs to know about the code around a finding: nop runs and direct branch targets.</summary>
internal sealed class CodeMap
{
    /// <summary>Nop instructions: start → length, and end → start.</summary>
    public readonly Dictionary<ulong, int> NopAt = new();
    public readonly Dictionary<ulong, ulong> NopEndingAt = new();
    /// <summary>Targets of direct jumps and calls, plus every symbol address (possible indirect targets).</summary>
    public readonly HashSet<ulong> BranchTargets = new();
}

/// <summary>
/// Disassembles the executable parts of an x86-64 ELF and classifies every instruction with
/// <see cref="SensitiveInstructions"/>.
/// <para>
/// The sweep is linear, restarted at every code symbol so one misdecode cannot run past a function boundary; sized
/// data symbols (STT_OBJECT, e.g. a hypercall page) inside executable sections are skipped; a byte that does not
/// decode is skipped alone and the rest of that symbol's findings are marked <see cref="Finding.AfterResync"/>.
/// Without section headers the executable PT_LOAD segments are swept instead.
/// </para>
/// </summary>
public static class KernelScanner
{
    private static readonly byte[] ForcedEmulationPrefix = [0x0f, 0x0b, (byte)'x', (byte)'e', (byte)'n'];

    public static ScanReport Scan(ElfImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var regions = new List<(string Name, int SectionIndex, ulong Address, long FileOffset, ulong Size)>();
        foreach (var s in image.Sections)
            if (s.IsExecutable && s.Size > 0) regions.Add((s.Name.Length > 0 ? s.Name : $"section {s.Index}", s.Index, s.Address, (long)s.FileOffset, s.Size));
        if (regions.Count == 0)
            foreach (var p in image.Segments)
                if (p.IsExecutableLoad && p.FileSize > 0) regions.Add(($"segment {p.Index}", -1, p.VirtualAddress, (long)p.FileOffset, p.FileSize));
        regions.Sort((a, b) => a.Address.CompareTo(b.Address));

        var labels = CodeLabels(image);
        var code = new CodeMap();
        foreach (var l in labels) code.BranchTargets.Add(l.Value);
        var findings = new List<Finding>();
        var pvSites = new List<PvSite>();
        long instructions = 0, undecodable = 0;
        var formatter = new IntelFormatter();
        formatter.Options.SpaceAfterOperandSeparator = true;
        var text = new StringOutput();

        foreach (var region in regions)
        {
            // Run boundaries: region start, every code label and data object inside it; data objects are skipped.
            var cuts = new SortedSet<ulong> { region.Address };
            var data = new List<(ulong Start, ulong End)>();
            ulong regionEnd = region.Address + region.Size;
            foreach (var sym in image.Symbols)
            {
                if (!sym.IsDefined || sym.Value < region.Address || sym.Value >= regionEnd) continue;
                if (region.SectionIndex >= 0 && sym.SectionIndex != region.SectionIndex) continue;
                if (sym.Type is ElfSymbol.Stt_Func or ElfSymbol.Stt_NoType) cuts.Add(sym.Value);
                else if (sym.Type == ElfSymbol.Stt_Object && sym.Size > 0)
                {
                    ulong end = sym.Value + Math.Min(sym.Size, regionEnd - sym.Value);
                    data.Add((sym.Value, end));
                    cuts.Add(sym.Value);
                    if (end < regionEnd) cuts.Add(end);
                }
            }
            var cutList = cuts.ToList();
            for (int c = 0; c < cutList.Count; c++)
            {
                ulong runStart = cutList[c], runEnd = c + 1 < cutList.Count ? cutList[c + 1] : regionEnd;
                if (data.Any(d => runStart >= d.Start && runStart < d.End)) continue;
                int offset = checked((int)(region.FileOffset + (long)(runStart - region.Address)));
                int length = checked((int)(runEnd - runStart));
                SweepRun(image, region.Name, region.Address, labels, runStart, offset, length, code, findings, pvSites, formatter, text, ref instructions, ref undecodable);
            }
        }
        // int3 trampolines a previous `pvport patch` left: sites already in their PV form.
        if (TrampolineTable.Find(image, out _) is { } table)
            foreach (var t in table.Entries)
            {
                var (f, o) = Locate(labels, t.Address, t.Address);
                pvSites.Add(new PvSite(t.Address, f != null ? $"{f}+0x{o:x}" : $"0x{t.Address:x}", "int3 trampoline: " + t.Action.ToString().ToLowerInvariant()));
            }
        pvSites.Sort((a, b) => a.Address.CompareTo(b.Address));
        findings.Sort((a, b) => a.Address.CompareTo(b.Address));
        var scanned = regions.Select(r => new ScannedRegion(r.Name, r.Address, r.Size)).ToList();
        return new ScanReport(image, findings, pvSites, scanned, instructions, undecodable, labels.Length > 0, code);
    }

    private static void SweepRun(ElfImage image, string section, ulong regionStart, ElfSymbol[] labels, ulong runStart, int fileOffset, int length, CodeMap code,
        List<Finding> findings, List<PvSite> pvSites, IntelFormatter formatter, StringOutput text, ref long instructions, ref long undecodable)
    {
        var bytes = image.Bytes;
        var reader = new ByteArrayCodeReader(bytes, fileOffset, length);
        var decoder = Decoder.Create(64, reader, runStart, DecoderOptions.None);
        bool resynced = false;
        int pos = 0;
        while (pos < length)
        {
            ulong ip = runStart + (ulong)pos;
            int prefix = 0;
            if (length - pos > ForcedEmulationPrefix.Length && bytes.AsSpan(fileOffset + pos, ForcedEmulationPrefix.Length).SequenceEqual(ForcedEmulationPrefix))
                prefix = ForcedEmulationPrefix.Length;
            reader.Position = pos + prefix;
            decoder.IP = ip + (ulong)prefix;
            decoder.Decode(out var instr);
            if (instr.IsInvalid || decoder.LastError != DecoderError.None)
            {
                if (prefix == 0)
                {
                    undecodable++;
                    resynced = true;
                    pos++;
                    continue;
                }
                prefix = 0;           // "ud2" then garbage: decode the ud2 alone
                reader.Position = pos;
                decoder.IP = ip;
                decoder.Decode(out instr);
            }
            instructions++;
            int total = prefix + instr.Length;
            SensitiveRule? rule;
            if (prefix != 0)
            {
                if (instr.Mnemonic == Mnemonic.Cpuid)
                {
                    var (f, o) = Locate(labels, regionStart, ip);
                    pvSites.Add(new PvSite(ip, f != null ? $"{f}+0x{o:x}" : $"{section}+0x{o:x}", "forced-emulation cpuid"));
                    pos += total;
                    continue;
                }
                rule = SensitiveInstructions.BadForcedEmulation;
            }
            else
            {
                rule = SensitiveInstructions.Classify(instr);
            }

            if (instr.Mnemonic == Mnemonic.Nop && prefix == 0)
            {
                code.NopAt[ip] = instr.Length;
                code.NopEndingAt[ip + (ulong)instr.Length] = ip;
            }
            if (instr.FlowControl is FlowControl.UnconditionalBranch or FlowControl.ConditionalBranch or FlowControl.Call
                && instr.Op0Kind == OpKind.NearBranch64)
                code.BranchTargets.Add(instr.NearBranch64);

            if (rule != null)
            {
                text.Reset();
                formatter.Format(instr, text);
                string asm = prefix != 0 ? $"ud2; .ascii \"xen\"; {text}" : text.ToString();
                var (function, offset) = Locate(labels, regionStart, ip);
                findings.Add(new Finding(ip, fileOffset + pos, section, function, offset, bytes.AsSpan(fileOffset + pos, total).ToArray(),
                    asm, rule, resynced));
            }
            pos += total;
        }
    }

    /// <summary>Nearest code label at or before <paramref name="address"/>; without one, the offset into the region.</summary>
    private static (string? Function, ulong Offset) Locate(ElfSymbol[] labels, ulong regionStart, ulong address)
    {
        int lo = 0, hi = labels.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (labels[mid].Value <= address) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (found < 0 || labels[found].Value < regionStart) return (null, address - regionStart);
        return (labels[found].Name, address - labels[found].Value);
    }

    /// <summary>
    /// Code labels sorted by address, one per address: STT_FUNC preferred over STT_NOTYPE, global over local; names
    /// of local assembler labels (".L…") are skipped.
    /// </summary>
    private static ElfSymbol[] CodeLabels(ElfImage image)
    {
        var executable = new HashSet<int>(image.Sections.Where(s => s.IsExecutable).Select(s => s.Index));
        return image.Symbols
            .Where(s => s.IsDefined && s.Name.Length > 0 && !s.Name.StartsWith(".L", StringComparison.Ordinal)
                        && s.Type is ElfSymbol.Stt_Func or ElfSymbol.Stt_NoType
                        && (executable.Count == 0 || executable.Contains(s.SectionIndex)))
            .GroupBy(s => s.Value)
            .Select(g => g.OrderByDescending(s => s.Type == ElfSymbol.Stt_Func).ThenByDescending(s => s.Binding == 1).ThenBy(s => s.Name, StringComparer.Ordinal).First())
            .OrderBy(s => s.Value)
            .ToArray();
    }
}
