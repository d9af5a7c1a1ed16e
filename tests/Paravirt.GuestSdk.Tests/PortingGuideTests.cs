using NUnit.Framework;
using Paravirt.PortAnalysis;

namespace Paravirt.GuestSdk.Tests;

/// <summary>docs/porting-guide.md documents every pvport rule and patch rule, so the two cannot drift apart.</summary>
public class PortingGuideTests
{
    private static string Guide => File.ReadAllText(Path.Combine(Kernels.RepoRoot, "docs", "porting-guide.md"));

    [Test]
    public void EveryScanRuleIsInTheGuidesRuleTable()
    {
        var rows = Guide.Split('\n').Where(l => l.StartsWith("| `", StringComparison.Ordinal)).ToList();
        var missing = SensitiveInstructions.All.Where(r => !rows.Any(l => l.Split('|')[1].Contains($"`{r.Id}`", StringComparison.Ordinal))).Select(r => r.Id);
        Assert.That(missing, Is.Empty);
    }

    [Test]
    public void EveryPatchRuleIsDocumented()
    {
        foreach (var rule in new[] { KernelPatcher.CpuidRule, KernelPatcher.SwapgsRule, KernelPatcher.StacClacRule, KernelPatcher.TrampolineRule })
            Assert.That(Guide, Does.Contain($"**{rule}**"));
    }
}
