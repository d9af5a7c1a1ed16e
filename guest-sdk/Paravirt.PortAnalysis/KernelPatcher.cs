namespace Paravirt.PortAnalysis;

/// <summary>One rewrite made by <see cref="KernelPatcher"/>.</summary>
/// <param name="Finding">The finding it cures.</param>
/// <param name="Rule">Patch rule id: "cpuid-forced-emulation", "swapgs-nop", "stac-clac-nop", "int3-trampoline".</param>
/// <param name="Address">First rewritten byte.</param>
/// <param name="Trampoline">For "int3-trampoline": the side-table entry libpv's #BP handler replays.</param>
public sealed record AppliedPatch(Finding Finding, string Rule, ulong Address, byte[] Original, byte[] Replacement, TrampolineEntry? Trampoline = null);

/// <summary>A finding the patcher left alone, and why.</summary>
public sealed record UnpatchedFinding(Finding Finding, string Reason);

/// <summary>The patched image and the account of every finding.</summary>
public sealed class PatchResult(byte[] output, IReadOnlyList<AppliedPatch> applied, IReadOnlyList<UnpatchedFinding> remaining)
{
    public byte[] Output { get; } = output;
    public IReadOnlyList<AppliedPatch> Applied { get; } = applied;
    public IReadOnlyList<UnpatchedFinding> Remaining { get; } = remaining;
    /// <summary>Nothing left that needs porting (advisory findings may remain).</summary>
    public bool IsClean => Remaining.All(r => !r.Finding.Rule.RequiresPort);
}

/// <summary>
/// Rewrites the findings that have a same-size PV form whose behaviour under Xen's PV ABI is the same as what the
/// native instruction meant, and leaves everything else for the porter. The rules (docs/porting-guide.md, "pvport patch"):
/// <list type="bullet">
/// <item><b>cpuid-forced-emulation</b>: <c>cpuid</c> with at least 5 bytes of nop instructions right before or right
/// after it becomes <c>ud2; .ascii "xen"; cpuid</c> (Xen's XEN_EMULATE_PREFIX): the hypervisor then answers from the
/// domain's CPUID policy instead of the host CPU answering. Refused when a direct branch or a symbol lands inside the
/// rewritten bytes (other than where the sequence starts, or the cpuid itself when it does not move).</item>
/// <item><b>swapgs-nop</b>: <c>swapgs</c> becomes a 3-byte nop. In a PV kernel the hypervisor switches between the
/// kernel and user GS bases on every kernel/user transition, which is exactly what the entry/exit swapgs pair did
/// (Linux removes it the same way on Xen PV).</item>
/// <item><b>stac-clac-nop</b>: <c>stac</c>/<c>clac</c> become a 3-byte nop: SMAP is not offered to PV guests, so there
/// is no AC state to toggle.</item>
/// <item><b>int3-trampoline</b>: what has no same-size form but a PV equivalent libpv can perform from the registers
/// (cli, sti, hlt, popfq, mov from cr2/cr3, mov to cr3, mov to/from dr, rdmsr/wrmsr of the FS/GS bases or TSC with the
/// MSR loaded right before, invlpg, wbinvd/invd, clts, and cpuid without padding) becomes int3 plus nops, with an entry
/// in the kernel's <c>pv_trampoline_table</c> (<see cref="TrampolineTable"/>, linked in by libpv); libpv's #BP handler
/// performs the equivalent and resumes after the instruction (<see cref="TrampolinePlanner"/>).</item>
/// </list>
/// Findings after a decoder resynchronisation are never patched (they may be data).
/// </summary>
public static class KernelPatcher
{
    public const string CpuidRule = "cpuid-forced-emulation", SwapgsRule = "swapgs-nop", StacClacRule = "stac-clac-nop",
        TrampolineRule = "int3-trampoline";

    /// <summary>ud2; .ascii "xen" (Xen's public arch-x86/xen.h, XEN_EMULATE_PREFIX).</summary>
    public static ReadOnlySpan<byte> ForcedEmulationPrefix => [0x0f, 0x0b, (byte)'x', (byte)'e', (byte)'n'];
    private static ReadOnlySpan<byte> CpuidBytes => [0x0f, 0xa2];
    /// <summary>nopl (%rax): the recommended 3-byte nop (SDM vol. 2, NOP).</summary>
    private static ReadOnlySpan<byte> Nop3 => [0x0f, 0x1f, 0x00];

    public static PatchResult Patch(ScanReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var output = (byte[])report.Image.Bytes.Clone();
        var applied = new List<AppliedPatch>();
        var remaining = new List<UnpatchedFinding>();
        var table = TrampolineTable.Find(report.Image, out string? noTable);
        var trampolines = new List<TrampolineEntry>(table?.Entries ?? []);
        foreach (var f in report.Findings)
        {
            string? reason;
            AppliedPatch? patch = null;
            if (f.AfterResync)
                reason = "follows undecodable bytes in the same symbol (may be data): not patched";
            else if (f.Rule == SensitiveInstructions.Cpuid)
                reason = TryCpuid(report, f, out patch);
            else if (f.Rule == SensitiveInstructions.Swapgs && f.Bytes.AsSpan().SequenceEqual((ReadOnlySpan<byte>)[0x0f, 0x01, 0xf8]))
                reason = Replace(f, SwapgsRule, f.Address, f.Bytes, Nop3.ToArray(), out patch);
            else if (f.Rule == SensitiveInstructions.StacClac && f.Bytes.Length == 3)
                reason = Replace(f, StacClacRule, f.Address, f.Bytes, Nop3.ToArray(), out patch);
            else
                reason = f.Rule.RequiresPort ? "no same-size PV form: port by hand (" + f.Rule.Replacement + ")"
                    : f.Rule.Advisory ? "advisory, left as is: check it by hand (" + f.Rule.Replacement + ")"
                    : "allowed in a PV guest: left as is";

            // No same-size form: an int3 trampoline where libpv can replay the instruction.
            if (patch == null && !f.AfterResync && TrampolinePlanner.Covers(f.Rule))
                reason = TryTrampoline(report, f, table, noTable, trampolines, reason!, out patch);

            if (patch != null)
            {
                long? at = report.Image.FileOffsetOf(patch.Address, patch.Replacement.Length);
                if (at == null)
                {
                    remaining.Add(new UnpatchedFinding(f, "rewritten bytes do not lie in one section of the file"));
                    continue;
                }
                patch.Replacement.CopyTo(output, at.Value);
                applied.Add(patch);
                if (patch.Trampoline is { } entry) trampolines.Add(entry);
            }
            else
            {
                remaining.Add(new UnpatchedFinding(f, reason!));
            }
        }
        if (table != null && trampolines.Count > table.Entries.Count) table.Write(output, trampolines);
        return new PatchResult(output, applied, remaining);
    }

    private static string? TryTrampoline(ScanReport report, Finding f, TrampolineTable? table, string? noTable, List<TrampolineEntry> taken,
        string reason, out AppliedPatch? patch)
    {
        patch = null;
        var entry = TrampolinePlanner.Plan(report, f, out string? whyNot);
        if (entry == null) return reason + "; no int3 trampoline: " + whyNot;
        if (table == null) return reason + "; an int3 trampoline would do, but " + noTable;
        if (taken.Count >= table.Capacity) return reason + $"; the trampoline table is full ({table.Capacity} entries)";
        var replacement = new byte[f.Bytes.Length];
        replacement[0] = 0xcc;
        FillNops(replacement.AsSpan(1));
        patch = new AppliedPatch(f, TrampolineRule, f.Address, f.Bytes, replacement, entry);
        return null;
    }

    private static string? Replace(Finding f, string rule, ulong address, byte[] original, byte[] replacement, out AppliedPatch? patch)
    {
        patch = new AppliedPatch(f, rule, address, original, replacement);
        return null;
    }

    private static string? TryCpuid(ScanReport report, Finding f, out AppliedPatch? patch)
    {
        patch = null;
        var code = report.Code;
        int prefix = ForcedEmulationPrefix.Length;
        ulong cpuid = f.Address, after = cpuid + (ulong)f.Bytes.Length;
        if (!f.Bytes.AsSpan().SequenceEqual(CpuidBytes)) return "cpuid with prefixes: no room to rewrite";

        // Padding before: walk back over whole nop instructions until at least 5 bytes are free. cpuid stays put.
        ulong start = cpuid;
        while ((int)(cpuid - start) < prefix && code.NopEndingAt.TryGetValue(start, out ulong nop)) start = nop;
        if ((int)(cpuid - start) >= prefix && !TargetInside(code, start, cpuid))
        {
            var replacement = new byte[cpuid - start + 2];
            FillNops(replacement.AsSpan(0, replacement.Length - 2 - prefix));
            ForcedEmulationPrefix.CopyTo(replacement.AsSpan(replacement.Length - 2 - prefix));
            CpuidBytes.CopyTo(replacement.AsSpan(replacement.Length - 2));
            patch = new AppliedPatch(f, CpuidRule, start, Original(report, start, replacement.Length), replacement);
            return null;
        }

        // Padding after: the sequence starts at the cpuid's address; everything up to the end of the nops moves.
        ulong end = after;
        while ((int)(end - after) < prefix && code.NopAt.TryGetValue(end, out int length)) end += (ulong)length;
        if ((int)(end - after) >= prefix && !TargetInside(code, cpuid, end))
        {
            var replacement = new byte[end - cpuid];
            ForcedEmulationPrefix.CopyTo(replacement);
            CpuidBytes.CopyTo(replacement.AsSpan(prefix));
            FillNops(replacement.AsSpan(prefix + 2));
            patch = new AppliedPatch(f, CpuidRule, cpuid, Original(report, cpuid, replacement.Length), replacement);
            return null;
        }
        return (int)(cpuid - start) >= prefix || (int)(end - after) >= prefix
            ? "a branch target lies inside the nop padding: rewriting would break it"
            : "fewer than 5 bytes of nop padding next to it: use the forced-emulation form (ud2; .ascii \"xen\"; cpuid) in the source";
    }

    private static bool TargetInside(CodeMap code, ulong start, ulong end)
    {
        for (ulong a = start + 1; a < end; a++)
            if (code.BranchTargets.Contains(a)) return true;
        return false;
    }

    private static byte[] Original(ScanReport report, ulong address, int length)
    {
        long? at = report.Image.FileOffsetOf(address, length);
        return at == null ? [] : report.Image.Bytes.AsSpan((int)at.Value, length).ToArray();
    }

    /// <summary>Fill with the longest recommended multi-byte nops (SDM vol. 2, NOP, table 4-12), up to 9 bytes each.</summary>
    private static void FillNops(Span<byte> span)
    {
        ReadOnlySpan<byte> table =
        [
            0x90,
            0x66, 0x90,
            0x0f, 0x1f, 0x00,
            0x0f, 0x1f, 0x40, 0x00,
            0x0f, 0x1f, 0x44, 0x00, 0x00,
            0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00,
            0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00,
            0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        while (span.Length > 0)
        {
            int n = Math.Min(span.Length, 9);
            int offset = n * (n - 1) / 2;
            table.Slice(offset, n).CopyTo(span);
            span = span[n..];
        }
    }
}
