using Newtonsoft.Json.Linq;
using NUnit.Framework;

namespace Paravirt.GuestSdk.Tests;

/// <summary>`pvport scan`: exit statuses, the text table and the JSON document.</summary>
public class PvportCommandLineTests
{
    [Test]
    public void ScanOfACleanKernelExitsZeroAndSaysClean()
    {
        var r = Pvport.Run("scan", Kernels.Hello);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stdout, Does.StartWith($"pvport: {Kernels.Hello}: clean: 0 to port, "));
        Assert.That(r.Stderr, Is.Empty);
    }

    [Test]
    public void ScanOfTheSeededKernelExitsOneAndTablesEveryFinding()
    {
        var r = Pvport.Run("scan", Kernels.Seeded);
        Assert.That(r.ExitCode, Is.EqualTo(1), r.ToString());
        var report = PvportSeededTests.Scan();
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[0], Does.Contain($"needs porting: {PvportSeededTests.SeedsRequiringPort} to port, {report.Findings.Count - PvportSeededTests.SeedsRequiringPort} advisory, 2 already PV"));
        Assert.That(lines[1], Does.StartWith("ADDRESS"));
        Assert.That(lines.Count(l => l.StartsWith("ffffffff8", StringComparison.Ordinal)), Is.EqualTo(report.Findings.Count));
        Assert.That(lines, Has.Some.Match(@"^ffffffff[0-9a-f]{8}\s+seed_cli\+0x2\s+fa\s+cli\s+cli\s+faults\s+vcpu_info\.evtchn_upcall_mask = 1"));
        Assert.That(lines, Has.Some.EqualTo("already PV: pv_cpuid+0x0 (0x" + lines.First(l => l.Contains("pv_cpuid")).Split("(0x")[1]));
    }

    [Test]
    public void ScanJsonDescribesEachFindingWithItsReplacement()
    {
        var r = Pvport.Run("scan", Kernels.Seeded, "--json");
        Assert.That(r.ExitCode, Is.EqualTo(1), r.ToString());
        var doc = JObject.Parse(r.Stdout);
        Assert.That((string?)doc["file"], Is.EqualTo(Kernels.Seeded));
        Assert.That((bool?)doc["clean"], Is.False);
        Assert.That((bool?)doc["symbols"], Is.True);
        Assert.That((long?)doc["instructions"], Is.GreaterThan(1000));
        int total = PvportSeededTests.Scan().Findings.Count;
        Assert.That((int?)doc["summary"]!["findings"], Is.EqualTo(total));
        Assert.That((int?)doc["summary"]!["requirePort"], Is.EqualTo(PvportSeededTests.SeedsRequiringPort));
        Assert.That((int?)doc["summary"]!["advisory"], Is.EqualTo(total - PvportSeededTests.SeedsRequiringPort));
        Assert.That((int?)doc["summary"]!["byCategory"]!["PortIo"], Is.EqualTo(4));
        Assert.That(doc["regions"]!.Select(x => (string?)x["name"]), Is.EqualTo(new[] { ".text" }));

        var findings = (JArray)doc["findings"]!;
        Assert.That(findings, Has.Count.EqualTo(total));
        var cr3 = findings.Single(f => (string?)f["function"] == "seed_mov_to_cr3");
        Assert.That((string?)cr3["address"], Does.Match("^0xffffffff8[0-9a-f]{7}$"));
        Assert.That((ulong?)cr3["offset"], Is.EqualTo(2UL));
        Assert.That((string?)cr3["location"], Is.EqualTo("seed_mov_to_cr3+0x2"));
        Assert.That((string?)cr3["bytes"], Is.EqualTo("0f22d8"));
        Assert.That((string?)cr3["disassembly"], Is.EqualTo("mov cr3, rax"));
        Assert.That((string?)cr3["rule"], Is.EqualTo("mov-cr3-write"));
        Assert.That((string?)cr3["category"], Is.EqualTo("ControlRegister"));
        Assert.That((string?)cr3["cpl3"], Is.EqualTo("faults"));
        Assert.That((string?)cr3["replacement"], Does.Contain("MMUEXT_NEW_BASEPTR"));
        Assert.That((bool?)cr3["requiresPort"], Is.True);
        Assert.That((bool?)cr3["afterResync"], Is.False);
        Assert.That((string?)cr3["section"], Is.EqualTo(".text"));
        Assert.That((long?)cr3["fileOffset"], Is.GreaterThan(0));

        var cpuid = findings.Single(f => (string?)f["rule"] == "cpuid");
        Assert.That((string?)cpuid["cpl3"], Is.EqualTo("misbehaves"));
        Assert.That((string?)findings.Single(f => (string?)f["function"] == "seed_rdtsc")["cpl3"], Is.EqualTo("works"));
        // The seed's own forced-emulation cpuid, and libpv's in its trampoline handler (PV_TRAMP_CPUID).
        var sites = doc["pvSites"]!.Select(s => (string?)s["location"]).ToList();
        Assert.That(sites, Has.Count.EqualTo(2));
        Assert.That(sites, Does.Contain("pv_cpuid+0x0"));
        Assert.That(sites, Has.One.StartsWith("pv_trampoline_trap+0x"));
    }

    [Test]
    public void ScanJsonOfACleanKernelHasNothingToPort()
    {
        var r = Pvport.Run("scan", "--json", Kernels.Hello);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        var doc = JObject.Parse(r.Stdout);
        Assert.That((bool?)doc["clean"], Is.True);
        Assert.That((int?)doc["summary"]!["requirePort"], Is.Zero);
        Assert.That(((JArray)doc["findings"]!).Where(f => (bool?)f["requiresPort"] == true), Is.Empty);
    }

    [Test]
    public void AMissingFileIsBadInputWithOneLine()
    {
        var r = Pvport.Run("scan", "/nonexistent/kernel");
        Assert.That(r.ExitCode, Is.EqualTo(2));
        Assert.That(r.Stderr, Does.StartWith("pvport: /nonexistent/kernel: cannot read"));
        Assert.That(r.Stderr.TrimEnd('\n').Split('\n'), Has.Length.EqualTo(1));
        Assert.That(r.Stdout, Is.Empty);
    }

    [TestCase(new byte[] { 0x23, 0x21, 0x2f, 0x62, 0x69, 0x6e }, "not an ELF file (bad magic)")]
    [TestCase(new byte[] { 0x7f, 0x45, 0x4c, 0x46, 2, 1 }, "truncated ELF header: file is 6 bytes, the ELF64 header needs 64")]
    [TestCase(new byte[0], "not an ELF file (bad magic)")]
    public void ANonElfOrTruncatedFileIsBadInput(byte[] content, string message)
    {
        string path = Kernels.TempFile("bad");
        File.WriteAllBytes(path, content);
        try
        {
            var r = Pvport.Run("scan", path);
            Assert.That(r.ExitCode, Is.EqualTo(2));
            Assert.That(r.Stderr, Is.EqualTo($"pvport: {message}\n"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestCase(4, (byte)1, "not a 64-bit ELF (EI_CLASS 1, expected 2)")]
    [TestCase(5, (byte)2, "not a little-endian ELF (EI_DATA 2, expected 1)")]
    [TestCase(18, (byte)3, "not an x86-64 ELF (e_machine 3, expected 62)")]
    public void AnElfForAnotherMachineIsBadInput(int offset, byte value, string message)
    {
        var bytes = File.ReadAllBytes(Kernels.Hello);
        bytes[offset] = value;
        string path = Kernels.TempFile("other");
        File.WriteAllBytes(path, bytes);
        try
        {
            var r = Pvport.Run("scan", path);
            Assert.That(r.ExitCode, Is.EqualTo(2));
            Assert.That(r.Stderr, Is.EqualTo($"pvport: {message}\n"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void AnUnknownCommandOrMissingArgumentIsAUsageErrorWithStatusTwo()
    {
        Assert.That(Pvport.Run("frobnicate").ExitCode, Is.EqualTo(2));
        Assert.That(Pvport.Run("scan").ExitCode, Is.EqualTo(2));
        Assert.That(Pvport.Run("patch", Kernels.Hello).ExitCode, Is.EqualTo(2), "patch without -o");
        var none = Pvport.Run();
        Assert.That(none.ExitCode, Is.EqualTo(2));
        Assert.That(none.Stderr, Is.EqualTo("pvport: Required command was not provided.\n"));
    }
}
