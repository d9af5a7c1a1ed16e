using NUnit.Framework;
using Paravirt.PortAnalysis;
using Paravirt.PortAnalysis.Elf;

namespace Paravirt.GuestSdk.Tests;

/// <summary>
/// guest-sdk/tests/pvport-seeded holds one of each sensitive instruction, each at offset 2 of its own seed_* function
/// (see seeded.c). The scanner must report each exactly once, where it is, as what it is, and nothing else.
/// </summary>
public class PvportSeededTests
{
    /// <summary>seed_&lt;name&gt; → rule id and Iced's Intel-syntax disassembly.</summary>
    private static readonly (string Function, string Rule, string Disassembly)[] Seeds =
    [
        ("cli", "cli", "cli"), ("sti", "sti", "sti"), ("popf", "popf", "popfq"), ("pushf", "pushf", "pushfq"),
        ("hlt", "hlt", "hlt"), ("mwait", "monitor-mwait", "mwait"),
        ("in", "port-io", "in al, dx"), ("out", "port-io", "out dx, al"), ("ins", "port-io", "insb [rdi], dx"), ("outs", "port-io", "outsb dx, [rsi]"),
        ("lgdt", "lgdt", "lgdt [rdi]"), ("lidt", "lidt", "lidt [rdi]"), ("lldt", "lldt", "lldt ax"), ("ltr", "ltr", "ltr ax"),
        ("sgdt", "store-descriptor-table", "sgdt [rdi]"), ("sidt", "store-descriptor-table", "sidt [rdi]"),
        ("sldt", "store-descriptor-table", "sldt eax"), ("str", "store-descriptor-table", "str eax"),
        ("smsw", "smsw", "smsw eax"), ("lmsw", "lmsw", "lmsw ax"),
        ("mov_to_cr0", "mov-cr0-write", "mov cr0, rax"), ("mov_from_cr0", "mov-cr0-read", "mov rax, cr0"),
        ("mov_from_cr2", "mov-cr2-read", "mov rax, cr2"), ("mov_to_cr3", "mov-cr3-write", "mov cr3, rax"),
        ("mov_from_cr3", "mov-cr3-read", "mov rax, cr3"), ("mov_to_cr4", "mov-cr4", "mov cr4, rax"),
        ("mov_to_cr8", "mov-cr-other", "mov cr8, rax"),
        ("mov_to_dr7", "mov-dr", "mov dr7, rax"), ("mov_from_dr6", "mov-dr", "mov rax, dr6"),
        ("rdmsr", "rdmsr", "rdmsr"), ("wrmsr", "wrmsr", "wrmsr"), ("invlpg", "invlpg", "invlpg [rdi]"),
        ("invpcid", "invpcid", "invpcid rax, [rdi]"), ("wbinvd", "cache-flush", "wbinvd"), ("invd", "cache-flush", "invd"),
        ("swapgs", "swapgs", "swapgs"), ("wrgsbase", "fsgsbase", "wrgsbase rax"),
        ("iretq", "iret", "iretq"), ("sysretq", "sysret", "sysretq"), ("sysexit", "sysexit", "sysexitq"),
        ("sysenter", "sysenter", "sysenter"), ("syscall", "syscall", "syscall"),
        ("cpuid", "cpuid", "cpuid"), ("rdtsc", "rdtsc", "rdtsc"), ("rdtscp", "rdtscp", "rdtscp"), ("rdpmc", "rdpmc", "rdpmc"),
        ("clts", "clts", "clts"), ("xsetbv", "xsetbv", "xsetbv"), ("xsaves", "xsaves-xrstors", "xsaves [rdi]"),
        ("stac", "stac-clac", "stac"), ("vmcall", "vmcall", "vmcall"),
        ("forced_rdtsc", "forced-emulation-misuse", "ud2; .ascii \"xen\"; rdtsc"),
    ];

    internal static ScanReport Scan() => KernelScanner.Scan(ElfImage.Load(Kernels.Seeded));

    /// <summary>Seeds whose rule must be ported (not advisory): every finding needing a port in the image is one of these.</summary>
    internal static int SeedsRequiringPort => Seeds.Count(s => SensitiveInstructions.All.Single(r => r.Id == s.Rule).RequiresPort);

    private static IEnumerable<TestCaseData> SeedCases() =>
        Seeds.Select(s => new TestCaseData(s.Function, s.Rule, s.Disassembly).SetName($"TheSeeded_{s.Function}_IsFoundAtItsFunctionAndOffset"));

    [TestCaseSource(nameof(SeedCases))]
    public void EverySeededInstructionIsFoundOnceAtItsFunctionAndOffset(string function, string rule, string disassembly)
    {
        var image = ElfImage.Load(Kernels.Seeded);
        var symbol = image.Symbols.Single(s => s.Name == "seed_" + function);
        var found = Scan().Findings.Where(f => f.Function == "seed_" + function).ToList();

        Assert.That(found, Has.Count.EqualTo(1), string.Join("\n", found));
        var f = found[0];
        Assert.That(f.FunctionOffset, Is.EqualTo(2UL));
        Assert.That(f.Location, Is.EqualTo($"seed_{function}+0x2"));
        Assert.That(f.Address, Is.EqualTo(symbol.Value + 2));
        Assert.That(f.Rule.Id, Is.EqualTo(rule));
        Assert.That(f.Disassembly, Is.EqualTo(disassembly));
        Assert.That(f.AfterResync, Is.False);
        Assert.That(image.Bytes.AsSpan((int)f.FileOffset, f.Bytes.Length).SequenceEqual(f.Bytes), Is.True, "bytes must be the file's bytes at fileOffset");
    }

    [Test]
    public void TheSeededKernelNeedsPortingOnlyWhereItWasSeeded()
    {
        // The rest of the image is libpv, which may hold advisory sites (the pvclock rdtsc, a register dump's pushf).
        var report = Scan();
        var unexpected = report.Findings.Where(f => f.Rule.RequiresPort && (f.Function is null || !f.Function.StartsWith("seed_", StringComparison.Ordinal))).ToList();
        Assert.That(unexpected, Is.Empty);
        Assert.That(report.Findings.Count(f => f.Rule.RequiresPort), Is.EqualTo(SeedsRequiringPort));
        Assert.That(report.Findings.Count(f => f.Function?.StartsWith("seed_", StringComparison.Ordinal) == true), Is.EqualTo(Seeds.Length));
        Assert.That(report.IsClean, Is.False);
        Assert.That(report.UndecodableBytes, Is.Zero);
    }

    [Test]
    public void EveryRuleOfTheCatalogueIsSeeded()
    {
        var seeded = Seeds.Select(s => s.Rule).ToHashSet();
        var missing = SensitiveInstructions.All.Where(r => !seeded.Contains(r.Id) && r.Id != "vmx-svm").Select(r => r.Id);
        Assert.That(missing, Is.Empty);
    }

    [Test]
    public void TheForcedEmulationCpuidIsRecognisedAsAlreadyPortedAndNotMisreadAsOuts()
    {
        var report = Scan();
        // The seed's, and libpv's own in its trampoline handler (PV_TRAMP_CPUID runs the forced form).
        Assert.That(report.PvSites, Has.Count.EqualTo(2));
        Assert.That(report.PvSites.Select(s => s.Location), Does.Contain("pv_cpuid+0x0"));
        Assert.That(report.PvSites.Select(s => s.Location), Has.One.StartsWith("pv_trampoline_trap+0x"));
        Assert.That(report.Findings.Where(f => f.Function == "pv_cpuid"), Is.Empty);
    }

    [Test]
    public void ADataObjectInsideTextIsNotDisassembled()
    {
        Assert.That(Scan().Findings.Where(f => f.Function == "seed_data"), Is.Empty);
    }

    [Test]
    public void AdvisoryFindingsAreTheOnesPvAllows()
    {
        var advisory = Scan().Findings.Where(f => !f.Rule.RequiresPort && f.Function!.StartsWith("seed_", StringComparison.Ordinal)).Select(f => f.Rule.Id).Order().ToArray();
        Assert.That(advisory, Is.EqualTo(new[] { "pushf", "rdtsc", "rdtscp", "syscall" }));
    }

    [TestCaseSource(typeof(Kernels), nameof(Kernels.CleanGuests))]
    public void ACleanSdkGuestHasNothingToPort(string guest)
    {
        // Advisory sites are allowed: the runtime's pvclock reads the TSC, as PV time requires.
        var report = KernelScanner.Scan(ElfImage.Load(Path.Combine(Kernels.Build, guest)));
        Assert.That(report.Findings.Where(f => f.Rule.RequiresPort), Is.Empty, string.Join("\n", report.Findings));
        Assert.That(report.Findings.Where(f => f.AfterResync), Is.Empty);
        Assert.That(report.UndecodableBytes, Is.Zero);
        Assert.That(report.IsClean, Is.True);
        Assert.That(report.HasSymbols, Is.True);
        Assert.That(report.InstructionCount, Is.GreaterThan(500));
    }
}
