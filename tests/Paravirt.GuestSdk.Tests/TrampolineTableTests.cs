using NUnit.Framework;
using Paravirt.PortAnalysis;
using Paravirt.PortAnalysis.Elf;

namespace Paravirt.GuestSdk.Tests;

/// <summary>
/// The trampoline side table as libpv builds it (guest-sdk/include/paravirt/trampoline.h) is the table
/// <see cref="TrampolineTable"/> reads and writes: same symbol, magic, capacity and entry size, so the C and C# sides
/// cannot drift apart.
/// </summary>
public class TrampolineTableTests
{
    [Test]
    public void EveryLibpvKernelCarriesAnEmptyTableOfTheLayoutPvportWrites()
    {
        var image = ElfImage.Load(Kernels.Hello);
        var table = TrampolineTable.Find(image, out string? whyNot);
        Assert.That(table, Is.Not.Null, whyNot);
        Assert.That(table!.Capacity, Is.EqualTo(256), "PV_TRAMPOLINE_CAPACITY");
        Assert.That(table.Entries, Is.Empty);
        var symbol = image.Symbols.Single(s => s.Name == TrampolineTable.Symbol);
        Assert.That(symbol.Size, Is.EqualTo((ulong)(TrampolineTable.HeaderSize + table.Capacity * TrampolineTable.EntrySize)),
            "sizeof(struct pv_trampoline_table) = 16 + capacity * sizeof(struct pv_trampoline)");
    }

    [Test]
    public void WrittenEntriesReadBackSortedAndTheCountIsUpdated()
    {
        var image = ElfImage.Load(Kernels.Hello);
        var table = TrampolineTable.Find(image, out _)!;
        var output = (byte[])image.Bytes.Clone();
        var b = new TrampolineEntry(0xffffffff80002010, 3, TrampolineAction.Invlpg, Base: 7, Index: 1, Scale: 8, Disp: -16);
        var a = new TrampolineEntry(0xffffffff80002000, 1, TrampolineAction.Cli);
        table.Write(output, [b, a]);
        var again = TrampolineTable.Find(ElfImage.Parse(output), out _)!;
        Assert.That(again.Entries, Is.EqualTo(new[] { a, b }));
    }

    [Test]
    public void AStrippedKernelHasNoTableToFill()
    {
        var elf = new ElfBuilder { Code = [0xfa, 0xc3] };
        Assert.That(TrampolineTable.Find(ElfImage.Parse(elf.Build()), out string? whyNot), Is.Null);
        Assert.That(whyNot, Does.Contain("no pv_trampoline_table"));
    }
}
