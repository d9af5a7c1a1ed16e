using Newtonsoft.Json.Linq;
using Paravirt.PortAnalysis;

namespace Paravirt.Pvport;

/// <summary>
/// JSON output. Addresses are strings ("0xffffffff80002002"): 64-bit kernel addresses do not fit a JSON number
/// that every reader keeps exact. Field names are stable; docs/porting-guide.md shows an example.
/// </summary>
internal static class ReportJson
{
    public static JObject Scan(string path, ScanReport report) => new()
    {
        ["file"] = path,
        ["clean"] = report.IsClean,
        ["symbols"] = report.HasSymbols,
        ["instructions"] = report.InstructionCount,
        ["undecodableBytes"] = report.UndecodableBytes,
        ["regions"] = new JArray(report.Regions.Select(r => new JObject { ["name"] = r.Name, ["address"] = Hex(r.Address), ["size"] = r.Size })),
        ["summary"] = Summary(report.Findings),
        ["findings"] = new JArray(report.Findings.Select(Finding)),
        ["pvSites"] = new JArray(report.PvSites.Select(s => new JObject { ["address"] = Hex(s.Address), ["location"] = s.Location, ["form"] = s.Form })),
    };

    public static JObject Patch(string input, string output, PatchResult result) => new()
    {
        ["file"] = input,
        ["output"] = output,
        ["clean"] = result.IsClean,
        ["patched"] = new JArray(result.Applied.Select(p => new JObject
        {
            ["address"] = Hex(p.Address),
            ["patch"] = p.Rule,
            ["original"] = ReportText.Hex(p.Original),
            ["replacement"] = ReportText.Hex(p.Replacement),
            ["trampoline"] = p.Trampoline is { } t ? t.Action.ToString().ToLowerInvariant() : null,
            ["finding"] = Finding(p.Finding),
        })),
        ["remaining"] = new JArray(result.Remaining.Select(r =>
        {
            var o = Finding(r.Finding);
            o["reason"] = r.Reason;
            return o;
        })),
    };

    private static JObject Summary(IReadOnlyList<Finding> findings)
    {
        var byCategory = new JObject();
        foreach (var g in findings.GroupBy(f => f.Rule.Category).OrderBy(g => g.Key.ToString(), StringComparer.Ordinal))
            byCategory[g.Key.ToString()] = g.Count();
        return new JObject
        {
            ["findings"] = findings.Count,
            ["requirePort"] = findings.Count(f => f.Rule.RequiresPort),
            ["advisory"] = findings.Count(f => !f.Rule.RequiresPort),
            ["byCategory"] = byCategory,
        };
    }

    private static JObject Finding(Finding f) => new()
    {
        ["address"] = Hex(f.Address),
        ["fileOffset"] = f.FileOffset,
        ["section"] = f.Section,
        ["function"] = f.Function,
        ["offset"] = f.FunctionOffset,
        ["location"] = f.Location,
        ["bytes"] = ReportText.Hex(f.Bytes),
        ["disassembly"] = f.Disassembly,
        ["rule"] = f.Rule.Id,
        ["category"] = f.Rule.Category.ToString(),
        ["cpl3"] = f.Rule.Behaviour switch { Cpl3Behaviour.Faults => "faults", Cpl3Behaviour.Misbehaves => "misbehaves", _ => "works" },
        ["effect"] = f.Rule.Effect,
        ["replacement"] = f.Rule.Replacement,
        ["requiresPort"] = f.Rule.RequiresPort,
        ["afterResync"] = f.AfterResync,
    };

    private static string Hex(ulong v) => $"0x{v:x}";
}
