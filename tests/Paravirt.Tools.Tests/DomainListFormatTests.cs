using NUnit.Framework;
using Paravirt.Control.Messages;
using Paravirt.Xl;

namespace Paravirt.Tools.Tests;

public class DomainListFormatTests
{
    private static DomainSummary Domain(string name, uint id, long mem, int vcpus, string state, double seconds) =>
        new() { Name = name, DomId = id, MemoryMiB = mem, Vcpus = vcpus, State = state, CpuTimeSeconds = seconds };

    [Test]
    public void TheHeaderIsXensWithTabsBeforeStateAndTime()
    {
        // list_domains in tools/xl/xl_info.c: "Name", padding to column 44, "ID   Mem VCPUs\tState\tTime(s)".
        Assert.That(DomainListFormat.Header, Is.EqualTo("Name" + new string(' ', 40) + "ID   Mem VCPUs\tState\tTime(s)"));
    }

    // Expected rows are printf("%-40s %5d %5lu %5d     %c%c%c%c%c%c  %8.1f") of the same values.
    [TestCase("Domain-0", 0u, 2048L, 4, "r-----", 1234.56, "Domain-0                                     0  2048     4     r-----    1234.6")]
    [TestCase("hello", 1u, 64L, 1, "-b----", 0.0, "hello                                        1    64     1     -b----       0.0")]
    [TestCase("paused-one", 12u, 128L, 2, "--p---", 0.04, "paused-one                                  12   128     2     --p---       0.0")]
    [TestCase("crashed", 7u, 32L, 1, "---sc-", 3.25, "crashed                                      7    32     1     ---sc-       3.2")]
    [TestCase("big", 65535u, 99999L, 128, "-b----", 12345678.9, "big                                      65535 99999   128     -b----  12345678.4")]
    public void ARowHasXensColumns(string name, uint id, long mem, int vcpus, string state, double seconds, string expected)
    {
        Assert.That(DomainListFormat.Row(Domain(name, id, mem, vcpus, state, seconds)), Is.EqualTo(expected));
    }

    [Test]
    public void NumericColumnsEndUnderTheirHeadings()
    {
        string row = DomainListFormat.Row(Domain("x", 3, 512, 2, "-b----", 1));
        string header = DomainListFormat.Header;
        Assert.That(row[header.IndexOf("ID", StringComparison.Ordinal) + 1], Is.EqualTo('3'));
        Assert.That(row[header.IndexOf("Mem", StringComparison.Ordinal) + 2], Is.EqualTo('2'));
        Assert.That(row[header.IndexOf("VCPUs", StringComparison.Ordinal) + 4], Is.EqualTo('2'));
    }

    [Test]
    public void ANameLongerThanItsColumnIsNotTruncated()
    {
        string name = new('n', 50);
        Assert.That(DomainListFormat.Row(Domain(name, 1, 1, 1, "-b----", 0)), Does.StartWith(name + "     1"));
    }

    [TestCase("", "------")]
    [TestCase("r", "r-----")]
    [TestCase("r-----extra", "r-----")]
    [TestCase("r\n\t-b-", "r---b-")]
    public void TheStateColumnIsAlwaysSixPrintableLetters(string state, string shown)
    {
        Assert.That(DomainListFormat.Row(Domain("d", 1, 1, 1, state, 0)).Substring(63, 6), Is.EqualTo(shown));
    }

    // Ties go to the even digit as in glibc's printf: 0.25 is exact in binary and prints 0.2.
    [TestCase(0.25, "0.2")]
    [TestCase(0.05, "0.1")]
    [TestCase(1.0, "1.0")]
    [TestCase(99.95, "100.0")]
    public void CpuTimeIsRoundedAsXlsPrintfRoundsIt(double seconds, string shown)
    {
        Assert.That(DomainListFormat.Row(Domain("d", 1, 1, 1, "------", seconds)), Does.EndWith(" " + shown));
    }

    [TestCase(double.NaN)]
    [TestCase(-5.0)]
    [TestCase(double.PositiveInfinity)]
    public void ANonsenseCpuTimeShowsAsZero(double seconds)
    {
        Assert.That(DomainListFormat.Row(Domain("d", 1, 1, 1, "------", seconds)), Does.EndWith("       0.0"));
    }

    [Test]
    public void TheTableIsTheHeaderThenOneLinePerDomain()
    {
        var table = DomainListFormat.Table([Domain("a", 1, 1, 1, "-b----", 0), Domain("b", 2, 1, 1, "-b----", 0)]);
        var lines = table.Split('\n');
        Assert.That(lines, Has.Length.EqualTo(4));
        Assert.That(lines[0], Is.EqualTo(DomainListFormat.Header));
        Assert.That(lines[1], Does.StartWith("a "));
        Assert.That(lines[2], Does.StartWith("b "));
        Assert.That(lines[3], Is.Empty);
    }
}
