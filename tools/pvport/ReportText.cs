using Paravirt.PortAnalysis;

namespace Paravirt.Pvport;

/// <summary>The human-readable report: a summary line, then one table row per finding.</summary>
internal static class ReportText
{
    public static void Scan(TextWriter o, string path, ScanReport report)
    {
        Summary(o, path, report);
        if (report.Findings.Count > 0) Table(o, report.Findings.Select(f => (f, f.Rule.Replacement)));
        foreach (var site in report.PvSites) o.WriteLine($"already PV: {site.Location} (0x{site.Address:x}): {site.Form}");
    }

    public static void Patch(TextWriter o, string input, string output, PatchResult result)
    {
        o.WriteLine($"pvport: {input} -> {output}: {result.Applied.Count} patched, {result.Remaining.Count(r => r.Finding.Rule.RequiresPort)} left to port by hand, "
                    + $"{result.Remaining.Count(r => !r.Finding.Rule.RequiresPort)} advisory");
        foreach (var p in result.Applied)
            o.WriteLine($"patched {p.Finding.Location} (0x{p.Address:x}) [{p.Rule}]: {Hex(p.Original)} -> {Hex(p.Replacement)}");
        if (result.Remaining.Count > 0)
        {
            o.WriteLine();
            Table(o, result.Remaining.Select(r => (r.Finding, r.Reason)));
        }
    }

    private static void Summary(TextWriter o, string path, ScanReport report)
    {
        int port = report.Findings.Count(f => f.Rule.RequiresPort);
        string symbols = report.HasSymbols ? "symbols" : "no symbols";
        o.WriteLine($"pvport: {path}: {(report.IsClean ? "clean" : "needs porting")}: {port} to port, {report.Findings.Count - port} advisory, "
                    + $"{report.PvSites.Count} already PV; {report.InstructionCount} instructions in {string.Join(", ", report.Regions.Select(r => r.Name))} "
                    + $"({symbols}, {report.UndecodableBytes} undecodable bytes)");
    }

    private static void Table(TextWriter o, IEnumerable<(Finding F, string Note)> rows)
    {
        var list = rows.ToList();
        int loc = Math.Max(8, list.Max(r => r.F.Location.Length));
        int asm = Math.Max(11, Math.Min(40, list.Max(r => r.F.Disassembly.Length)));
        int bytes = Math.Max(5, Math.Min(24, list.Max(r => r.F.Bytes.Length * 2)));
        o.WriteLine($"{"ADDRESS",-18} {"LOCATION".PadRight(loc)} {"BYTES".PadRight(bytes)} {"INSTRUCTION".PadRight(asm)} {"RULE",-22} {"AT CPL3",-10} REPLACE WITH");
        foreach (var (f, note) in list)
        {
            string cpl3 = f.Rule.Behaviour switch { Cpl3Behaviour.Faults => "faults", Cpl3Behaviour.Misbehaves => "silent", _ => "works" };
            string flag = f.AfterResync ? " (after undecodable bytes: may be data)" : "";
            o.WriteLine($"{f.Address:x16}   {f.Location.PadRight(loc)} {Hex(f.Bytes).PadRight(bytes)} {f.Disassembly.PadRight(asm)} {f.Rule.Id,-22} {cpl3,-10} {note}{flag}");
        }
    }

    internal static string Hex(byte[] bytes) => Convert.ToHexString(bytes).ToLowerInvariant();
}
