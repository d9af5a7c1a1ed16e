using NUnit.Framework;
using Paravirt.PortAnalysis;
using Paravirt.PortAnalysis.Elf;

namespace Paravirt.GuestSdk.Tests;

/// <summary>Hostile input: truncated and corrupted kernels give a one-line error or a report, never an exception.</summary>
public class ElfFuzzTests
{
    /// <summary>Either a report or an <see cref="ElfFormatException"/>; anything else fails the test.</summary>
    private static string Outcome(byte[] bytes)
    {
        try
        {
            var report = KernelScanner.Scan(ElfImage.Parse(bytes));
            KernelPatcher.Patch(report);
            return "ok";
        }
        catch (ElfFormatException e)
        {
            Assert.That(e.Message, Does.Not.Contain('\n'));
            Assert.That(e.Message, Is.Not.Empty);
            return "error";
        }
    }

    [Test]
    public void EveryTruncationOfAKernelIsRejectedOrAnalysedWithoutCrashing()
    {
        var bytes = File.ReadAllBytes(Kernels.Seeded);
        int errors = 0;
        // Every length through the headers, then a stride across the rest (section table at the end included).
        var lengths = Enumerable.Range(0, 256).Concat(Enumerable.Range(0, bytes.Length / 97).Select(i => i * 97)).Concat(Enumerable.Range(bytes.Length - 600, 600));
        foreach (int n in lengths.Distinct())
            if (Outcome(bytes[..n]) == "error") errors++;
        Assert.That(errors, Is.GreaterThan(0));
    }

    [Test]
    public void RandomCorruptionOfHeadersAndTablesNeverThrowsAnythingButAFormatError()
    {
        var original = File.ReadAllBytes(Kernels.Seeded);
        var image = ElfImage.Parse(original);
        // The interesting bytes: ELF header, program headers, section headers, the symbol table.
        var hot = new List<(int Start, int Length)> { (0, 64 + 56 * image.Segments.Count) };
        ulong shoff = BitConverter.ToUInt64(original, 40);
        hot.Add(((int)shoff, original.Length - (int)shoff));
        var symtab = image.Sections.First(s => s.Type == ElfSection.Sht_Symtab);
        hot.Add(((int)symtab.FileOffset, (int)symtab.Size));

        var random = new Random(20261125);
        var outcomes = new Dictionary<string, int> { ["ok"] = 0, ["error"] = 0 };
        for (int round = 0; round < 1000; round++)
        {
            var bytes = (byte[])original.Clone();
            var (start, length) = hot[random.Next(hot.Count)];
            for (int k = random.Next(1, 9); k > 0; k--)
            {
                int at = start + random.Next(length);
                bytes[at] = random.Next(4) switch { 0 => 0xff, 1 => 0, 2 => (byte)random.Next(256), _ => (byte)(bytes[at] ^ (1 << random.Next(8))) };
            }
            outcomes[Outcome(bytes)]++;
        }
        TestContext.Out.WriteLine($"corrupted kernels: {outcomes["ok"]} analysed, {outcomes["error"]} rejected");
        Assert.That(outcomes["error"], Is.GreaterThan(0));
        Assert.That(outcomes["ok"], Is.GreaterThan(0));
    }

    [Test]
    public void EveryFieldOfEverySectionHeaderSetToAnEdgeValueIsHandled()
    {
        var original = File.ReadAllBytes(Kernels.Seeded);
        int shoff = (int)BitConverter.ToUInt64(original, 40), shnum = BitConverter.ToUInt16(original, 60);
        // sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, sh_addralign, sh_entsize.
        (int Offset, int Width)[] fields = [(0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 4), (44, 4), (48, 8), (56, 8)];
        ulong[] edges = [0, 1, 8, 24, (ulong)original.Length - 1, (ulong)original.Length, (ulong)original.Length + 1, uint.MaxValue, ulong.MaxValue, long.MaxValue];
        int analysed = 0, rejected = 0;
        for (int section = 0; section < shnum; section++)
            foreach (var (offset, width) in fields)
                foreach (ulong edge in edges)
                {
                    var bytes = (byte[])original.Clone();
                    int at = shoff + section * 64 + offset;
                    if (width == 4) BitConverter.TryWriteBytes(bytes.AsSpan(at), (uint)edge);
                    else BitConverter.TryWriteBytes(bytes.AsSpan(at), edge);
                    if (Outcome(bytes) == "ok") analysed++;
                    else rejected++;
                }
        TestContext.Out.WriteLine($"edge-valued section headers: {analysed} analysed, {rejected} rejected");
        Assert.That(rejected, Is.GreaterThan(0));
    }

    [Test]
    public void EveryFieldOfSymbolsSetToAnEdgeValueIsHandled()
    {
        var original = File.ReadAllBytes(Kernels.Seeded);
        var symtab = ElfImage.Parse(original).Sections.First(s => s.Type == ElfSection.Sht_Symtab);
        // st_name, st_info, st_shndx, st_value, st_size of the first 40 symbols.
        (int Offset, int Width)[] fields = [(0, 4), (4, 1), (6, 2), (8, 8), (16, 8)];
        ulong[] edges = [0, 1, 0x12, 0xff, 0xfff1, 0xffff, ulong.MaxValue, ElfBuilder.Base, ElfBuilder.Base + 0x2001, long.MaxValue];
        int count = Math.Min(40, (int)(symtab.Size / 24));
        for (int i = 1; i < count; i++)
            foreach (var (offset, width) in fields)
                foreach (ulong edge in edges)
                {
                    var bytes = (byte[])original.Clone();
                    var at = bytes.AsSpan((int)symtab.FileOffset + i * 24 + offset, width);
                    BitConverter.GetBytes(edge).AsSpan(0, width).CopyTo(at);
                    Outcome(bytes);
                }
    }

    [Test]
    public void AnImageWithoutSectionHeadersIsSweptByItsExecutableSegment()
    {
        var elf = new ElfBuilder { Code = [0x31, 0xc0, 0xfa, 0xc3], SectionHeaders = false };
        var report = KernelScanner.Scan(ElfImage.Parse(elf.Build()));
        Assert.That(report.Regions.Select(r => r.Name), Is.EqualTo(new[] { "segment 0" }));
        Assert.That(report.HasSymbols, Is.False);
        var cli = report.Findings.Single();
        Assert.That(cli.Location, Is.EqualTo("segment 0+0x2"));
        Assert.That(cli.Function, Is.Null);
        Assert.That(cli.Address, Is.EqualTo(ElfBuilder.Base + 2));
    }

    [Test]
    public void UndecodableBytesAreSkippedOneAtATimeAndMarkLaterFindingsAsUncertain()
    {
        // 0x06 (push es) is invalid in 64-bit mode; the hlt after it may be data, the one in the next function is not.
        var elf = new ElfBuilder { Code = [0x06, 0x06, 0xf4, 0xc3, 0xf4, 0xc3] };
        elf.Symbols.Add(("f", 0, 4, 2));
        elf.Symbols.Add(("g", 4, 2, 2));
        var report = KernelScanner.Scan(ElfImage.Parse(elf.Build()));
        Assert.That(report.UndecodableBytes, Is.EqualTo(2));
        Assert.That(report.Findings.Select(f => (f.Location, f.AfterResync)), Is.EqualTo(new[] { ("f+0x2", true), ("g+0x0", false) }));
        Assert.That(KernelPatcher.Patch(report).Remaining[0].Reason, Does.StartWith("follows undecodable bytes"));
    }

    [Test]
    public void RandomBytesAsCodeAreSweptWithoutCrashing()
    {
        var random = new Random(7);
        for (int round = 0; round < 50; round++)
        {
            var code = new byte[4096];
            random.NextBytes(code);
            var elf = new ElfBuilder { Code = code };
            elf.Symbols.Add(("f", 0, 2048, 2));
            elf.Symbols.Add(("g", 2048, 0, 0));
            var report = KernelScanner.Scan(ElfImage.Parse(elf.Build()));
            Assert.That(report.InstructionCount, Is.GreaterThan(0));
            KernelPatcher.Patch(report);
        }
    }

    [Test]
    public void ForgedCountsAndOffsetsAreRejectedWithTheFieldNamed()
    {
        var original = File.ReadAllBytes(Kernels.Hello);
        var bytes = (byte[])original.Clone();
        BitConverter.TryWriteBytes(bytes.AsSpan(40), 0x7fff_ffff_ffff_0000UL);           // e_shoff far outside
        Assert.That(() => ElfImage.Parse(bytes), Throws.TypeOf<ElfFormatException>().With.Message.Contains("section header table"));
        bytes = (byte[])original.Clone();
        BitConverter.TryWriteBytes(bytes.AsSpan(56), (ushort)0xffff);                   // e_phnum huge
        Assert.That(() => ElfImage.Parse(bytes), Throws.TypeOf<ElfFormatException>().With.Message.Contains("program header table"));
        bytes = (byte[])original.Clone();
        BitConverter.TryWriteBytes(bytes.AsSpan(54), (ushort)8);                        // e_phentsize too small
        Assert.That(() => ElfImage.Parse(bytes), Throws.TypeOf<ElfFormatException>().With.Message.Contains("e_phentsize 8"));
    }
}
