using Newtonsoft.Json.Linq;
using NUnit.Framework;
using Paravirt.PortAnalysis;
using Paravirt.PortAnalysis.Elf;

namespace Paravirt.GuestSdk.Tests;

/// <summary>`pvport patch`: which findings get a same-size PV form, what the bytes become, and what is refused.</summary>
public class KernelPatcherTests
{
    private static readonly byte[] Nop5 = [0x0f, 0x1f, 0x44, 0x00, 0x00];
    private static readonly byte[] Cpuid = [0x0f, 0xa2];
    private static readonly byte[] Forced = [0x0f, 0x0b, 0x78, 0x65, 0x6e, 0x0f, 0xa2];

    private static PatchResult PatchCode(byte[] code, params (string Name, ulong Offset)[] functions)
    {
        var elf = new ElfBuilder { Code = code };
        foreach (var (name, offset) in functions) elf.Symbols.Add((name, offset, 0, 2));
        return KernelPatcher.Patch(KernelScanner.Scan(ElfImage.Parse(elf.Build())));
    }

    private static byte[] CodeOf(PatchResult result, int length) => result.Output.AsSpan(0x1000, length).ToArray();

    [Test]
    public void CpuidWithFiveBytesOfNopBeforeItBecomesTheForcedEmulationFormInPlace()
    {
        byte[] code = [0x53, .. Nop5, .. Cpuid, 0x5b, 0xc3];
        var result = PatchCode(code, ("f", 0));
        Assert.That(result.Applied.Select(p => p.Rule), Is.EqualTo(new[] { KernelPatcher.CpuidRule }));
        Assert.That(result.Applied[0].Address, Is.EqualTo(ElfBuilder.Base + 1));
        Assert.That(CodeOf(result, code.Length), Is.EqualTo((byte[])[0x53, .. Forced, 0x5b, 0xc3]));
        Assert.That(result.IsClean, Is.True);
    }

    [Test]
    public void CpuidWithFiveBytesOfNopAfterItBecomesTheForcedEmulationForm()
    {
        byte[] code = [0x53, .. Cpuid, .. Nop5, 0x5b, 0xc3];
        var result = PatchCode(code, ("f", 0));
        Assert.That(result.Applied, Has.Count.EqualTo(1));
        Assert.That(CodeOf(result, code.Length), Is.EqualTo((byte[])[0x53, .. Forced, 0x5b, 0xc3]));
    }

    [Test]
    public void LongerPaddingMadeOfSeveralNopsKeepsWholeNopsInFront()
    {
        // nopl (%rax) (3) + nopl 0(%rax) (4) + cpuid: 7 bytes of padding, 2 left over as a 2-byte nop.
        byte[] code = [0x0f, 0x1f, 0x00, 0x0f, 0x1f, 0x40, 0x00, .. Cpuid, 0xc3];
        var result = PatchCode(code, ("f", 0));
        Assert.That(CodeOf(result, code.Length), Is.EqualTo((byte[])[0x66, 0x90, .. Forced, 0xc3]));
        var rescan = KernelScanner.Scan(ElfImage.Parse(result.Output));
        Assert.That(rescan.Findings, Is.Empty);
        Assert.That(rescan.PvSites, Has.Count.EqualTo(1));
    }

    [Test]
    public void FourBytesOfPaddingAreNotEnough()
    {
        byte[] code = [0x0f, 0x1f, 0x40, 0x00, .. Cpuid, 0xc3];
        var result = PatchCode(code, ("f", 0));
        Assert.That(result.Applied, Is.Empty);
        Assert.That(result.Remaining.Single().Reason, Does.StartWith("fewer than 5 bytes of nop padding"));
        Assert.That(result.Output, Is.EqualTo(KernelScanner.Scan(ElfImage.Parse(new ElfBuilder { Code = code, Symbols = { ("f", 0, 0, 2) } }.Build())).Image.Bytes));
        Assert.That(result.IsClean, Is.False);
    }

    [Test]
    public void ABranchIntoThePaddingBlocksTheRewrite()
    {
        // jmp +1 lands on the second nop of the padding: rewriting it would send that jump into the middle of ud2.
        byte[] code = [0xeb, 0x01, 0x90, 0x90, 0x90, 0x90, 0x90, .. Cpuid, 0xc3];
        var result = PatchCode(code, ("f", 0));
        Assert.That(result.Applied, Is.Empty);
        Assert.That(result.Remaining.Single().Reason, Does.Contain("branch target"));
    }

    [Test]
    public void ABranchToTheCpuidItselfDoesNotBlockTheInPlaceRewrite()
    {
        // jmp over the padding straight to cpuid: the in-place form keeps cpuid where it was, so the jump still lands on it.
        byte[] code = [0xeb, 0x05, .. Nop5, .. Cpuid, 0xc3];
        var result = PatchCode(code, ("f", 0));
        Assert.That(result.Applied, Has.Count.EqualTo(1));
        Assert.That(CodeOf(result, code.Length), Is.EqualTo((byte[])[0xeb, 0x05, .. Forced, 0xc3]));
    }

    [Test]
    public void ASymbolInsideThePaddingBlocksTheRewrite()
    {
        byte[] code = [.. Nop5, .. Cpuid, 0xc3];
        var result = PatchCode(code, ("f", 0), ("g", 2));
        Assert.That(result.Applied, Is.Empty);
    }

    [Test]
    public void TheSeededKernelGetsNopsAndTrampolinesWhereLibpvCanReplayAndEverythingElseReported()
    {
        var report = PvportSeededTests.Scan();
        var result = KernelPatcher.Patch(report);
        Assert.That(result.Applied.Where(p => p.Rule != KernelPatcher.TrampolineRule).Select(p => (p.Finding.Function, p.Rule)), Is.EquivalentTo(new[]
        {
            ((string?)"seed_swapgs", KernelPatcher.SwapgsRule), ("seed_stac", KernelPatcher.StacClacRule),
        }));
        Assert.That(result.Applied.Where(p => p.Rule != KernelPatcher.TrampolineRule).Select(p => Convert.ToHexString(p.Replacement)), Is.All.EqualTo("0F1F00"));
        var trampolines = result.Applied.Where(p => p.Rule == KernelPatcher.TrampolineRule).ToList();
        Assert.That(trampolines.Select(p => (p.Finding.Function, p.Trampoline!.Value.Action)), Is.EquivalentTo(new[]
        {
            ((string?)"seed_cli", TrampolineAction.Cli), ("seed_sti", TrampolineAction.Sti), ("seed_popf", TrampolineAction.Popf),
            ("seed_hlt", TrampolineAction.Hlt), ("seed_mov_from_cr2", TrampolineAction.MovFromCr), ("seed_mov_to_cr3", TrampolineAction.MovToCr),
            ("seed_mov_from_cr3", TrampolineAction.MovFromCr), ("seed_mov_to_dr7", TrampolineAction.MovToDr),
            ("seed_mov_from_dr6", TrampolineAction.MovFromDr), ("seed_invlpg", TrampolineAction.Invlpg), ("seed_wbinvd", TrampolineAction.CacheFlush),
            ("seed_invd", TrampolineAction.CacheFlush), ("seed_cpuid", TrampolineAction.Cpuid), ("seed_clts", TrampolineAction.Clts),
        }));
        // int3, then nops up to the original length.
        Assert.That(trampolines, Has.All.Matches<AppliedPatch>(p => p!.Replacement[0] == 0xcc && p.Replacement.Length == p.Original.Length));
        Assert.That(result.Remaining.Single(r => r.Finding.Function == "seed_rdmsr").Reason, Does.Contain("the MSR is not loaded into ecx"));
        Assert.That(result.Remaining.Single(r => r.Finding.Function == "seed_lgdt").Reason, Does.StartWith("no same-size PV form: port by hand (HYPERVISOR_set_gdt"));
        Assert.That(result.Applied.Count + result.Remaining.Count, Is.EqualTo(report.Findings.Count));

        // Only the patched bytes and the trampoline table changed.
        var table = TrampolineTable.Find(report.Image, out _)!;
        var before = report.Image.Bytes;
        Assert.That(result.Output, Has.Length.EqualTo(before.Length));
        var changed = Enumerable.Range(0, before.Length).Where(i => before[i] != result.Output[i]).ToList();
        var patched = result.Applied.SelectMany(p => Enumerable.Range((int)report.Image.FileOffsetOf(p.Address, p.Replacement.Length)!.Value, p.Replacement.Length))
            .Concat(Enumerable.Range((int)table.FileOffset, TrampolineTable.HeaderSize + table.Capacity * TrampolineTable.EntrySize)).ToList();
        Assert.That(changed, Is.SubsetOf(patched));
        Assert.That(changed, Is.Not.Empty);

        var patchedImage = ElfImage.Parse(result.Output);
        var written = TrampolineTable.Find(patchedImage, out _)!;
        Assert.That(written.Entries, Is.EqualTo(trampolines.Select(p => p.Trampoline!.Value).OrderBy(e => e.Address)));
        var rescan = KernelScanner.Scan(patchedImage);
        Assert.That(rescan.Findings.Select(f => f.Function), Does.Not.Contain("seed_swapgs").And.Not.Contain("seed_stac").And.Not.Contain("seed_hlt"));
        Assert.That(rescan.Findings, Has.Count.EqualTo(report.Findings.Count - result.Applied.Count));
        Assert.That(rescan.PvSites.Where(p => p.Form.StartsWith("int3 trampoline", StringComparison.Ordinal)).ToList(), Has.Count.EqualTo(trampolines.Count));
    }

    [Test]
    public void TheTrampolineEntriesRecordOperandsAsTheHandlerReadsThem()
    {
        var result = KernelPatcher.Patch(PvportSeededTests.Scan());
        TrampolineEntry Of(string function) => result.Applied.Single(p => p.Finding.Function == function).Trampoline!.Value;
        // seed_mov_to_cr3: mov cr3, rax; seed_mov_from_dr6: mov rax, dr6; seed_invlpg: invlpg [rdi].
        Assert.That(Of("seed_mov_to_cr3"), Is.EqualTo(new TrampolineEntry(Of("seed_mov_to_cr3").Address, 3, TrampolineAction.MovToCr, Reg: 0, Arg: 3)));
        Assert.That(Of("seed_mov_from_cr2") with { Address = 0 }, Is.EqualTo(new TrampolineEntry(0, 3, TrampolineAction.MovFromCr, Reg: 0, Arg: 2)));
        Assert.That(Of("seed_mov_from_dr6") with { Address = 0 }, Is.EqualTo(new TrampolineEntry(0, 3, TrampolineAction.MovFromDr, Reg: 0, Arg: 6)));
        Assert.That(Of("seed_invlpg") with { Address = 0 }, Is.EqualTo(new TrampolineEntry(0, 3, TrampolineAction.Invlpg, Base: 7)));
    }

    [Test]
    public void AKernelWithoutLibpvsTableGetsNoTrampolinesAndIsToldWhy()
    {
        // ElfBuilder images have no pv_trampoline_table.
        var result = PatchCode([0xfa, 0xc3], ("f", 0));
        Assert.That(result.Applied, Is.Empty);
        Assert.That(result.Remaining.Single().Reason, Does.Contain("an int3 trampoline would do, but no pv_trampoline_table in the image"));
    }

    [Test]
    public void PvportPatchWritesTheImageAndIsIdempotent()
    {
        string once = Kernels.TempFile("once"), twice = Kernels.TempFile("twice");
        try
        {
            var r = Pvport.Run("patch", Kernels.PatchGuest, "-o", once);
            Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
            Assert.That(r.Stdout, Does.StartWith($"pvport: {Kernels.PatchGuest} -> {once}: 23 patched, 0 left to port by hand"));
            Assert.That(r.Stdout, Does.Contain("[cpuid-forced-emulation]: 0f1f4400000fa2 -> 0f0b78656e0fa2"));
            Assert.That(r.Stdout, Does.Contain("[cpuid-forced-emulation]: 0fa20f1f440000 -> 0f0b78656e0fa2"));
            if (!OperatingSystem.IsWindows()) Assert.That(File.GetUnixFileMode(once), Is.EqualTo(File.GetUnixFileMode(Kernels.PatchGuest)));

            var again = Pvport.Run("patch", once, "-o", twice, "--json");
            Assert.That(again.ExitCode, Is.EqualTo(0), again.ToString());
            var doc = JObject.Parse(again.Stdout);
            Assert.That((JArray)doc["patched"]!, Is.Empty);
            Assert.That((bool?)doc["clean"], Is.True);
            Assert.That(File.ReadAllBytes(twice), Is.EqualTo(File.ReadAllBytes(once)));

            var scan = Pvport.Run("scan", once, "--json");
            Assert.That(scan.ExitCode, Is.EqualTo(0), scan.ToString());
            var sites = JObject.Parse(scan.Stdout)["pvSites"]!;
            Assert.That(sites.Where(s => (string?)s["form"] == "forced-emulation cpuid").Select(s => (string?)s["location"]),
                Is.SupersetOf(new[] { "cpuid_pad_before+0x5", "cpuid_pad_after+0x8" }));
            Assert.That(sites.Where(s => ((string?)s["form"])!.StartsWith("int3 trampoline", StringComparison.Ordinal)), Has.Exactly(21).Items);
            Assert.That(sites.Select(s => (string?)s["form"]), Does.Contain("int3 trampoline: hlt"));
        }
        finally
        {
            File.Delete(once);
            File.Delete(twice);
        }
    }

    [Test]
    public void PvportPatchJsonListsPatchedAndRemainingFindings()
    {
        string output = Kernels.TempFile("seeded");
        try
        {
            var r = Pvport.Run("patch", Kernels.Seeded, "-o", output, "--json");
            Assert.That(r.ExitCode, Is.EqualTo(1), r.ToString());
            var doc = JObject.Parse(r.Stdout);
            Assert.That((string?)doc["output"], Is.EqualTo(output));
            var swapgs = doc["patched"]!.Single(p => (string?)p["patch"] == "swapgs-nop");
            Assert.That((string?)swapgs["original"], Is.EqualTo("0f01f8"));
            Assert.That((string?)swapgs["replacement"], Is.EqualTo("0f1f00"));
            Assert.That((string?)swapgs["finding"]!["location"], Is.EqualTo("seed_swapgs+0x2"));
            var lgdt = doc["remaining"]!.Single(p => (string?)p["function"] == "seed_lgdt");
            Assert.That((string?)lgdt["reason"], Does.Contain("HYPERVISOR_set_gdt"));
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Test]
    public void PatchingToAnUnwritablePathIsBadInput()
    {
        var r = Pvport.Run("patch", Kernels.PatchGuest, "-o", "/nonexistent-dir/out");
        Assert.That(r.ExitCode, Is.EqualTo(2));
        Assert.That(r.Stderr, Does.StartWith("pvport: /nonexistent-dir/out: cannot write"));
    }
}
