using System.Text;
using NUnit.Framework;

namespace Paravirt.XlConfig.Tests;

/// <summary>
/// Hostile input: random bytes, random token soups and mutated real configs. Whatever comes in, the parser, the
/// override path and the reader either succeed or throw <see cref="XlConfigException"/> with a one-line message
/// that points inside the input. Fixed seeds, so a failure reproduces.
/// </summary>
public class XlConfigFuzzTests
{
    private const int Cases = 12_000;

    private static readonly string[] Tokens =
    [
        "name", "memory", "extra", "x.y", "=", "+=", "+", "'a'", "\"b\\n\"", "'\\q'", "\"\\x41\"", "'unterminated",
        "[", "]", ",", ";", "\n", "\r\n", "#c\n", "#eof", "0x1f", "0xFF", "12", "12ab", "08", " ", "\t", "\\", "\"", "'",
        "\u00e9", "\0", "Name", "(", ")", "-", ".", ":", "@", "[[[", "]]]", "''", "\"\"",
    ];

    private static readonly string Seed = """
        # a realistic config to mutate
        name = "hello"
        type = "pv"
        memory = 32; maxmem = 0x40
        vcpus = 1
        kernel = "/bin/sh"
        extra = 'console=hvc0'
        extra += " quiet"
        disk = [ 'file:/img/a.img,xvda,w',
                 [ 'nested', 1 ], ]
        on_poweroff = "destroy"

        """;

    private static string RandomBytes(Random rng)
    {
        var bytes = new byte[rng.Next(0, 80)];
        rng.NextBytes(bytes);
        // Alternate decodings: Latin-1 keeps every byte as one character; UTF-8 adds replacement characters.
        return rng.Next(2) == 0 ? Encoding.Latin1.GetString(bytes) : Encoding.UTF8.GetString(bytes);
    }

    private static string TokenSoup(Random rng) =>
        string.Concat(Enumerable.Range(0, rng.Next(1, 40)).Select(_ => Tokens[rng.Next(Tokens.Length)]));

    private static string Mutation(Random rng)
    {
        var sb = new StringBuilder(Seed);
        for (int n = rng.Next(1, 4); n > 0; n--)
        {
            int at = rng.Next(sb.Length + 1);
            switch (rng.Next(3))
            {
                case 0 when at < sb.Length: sb.Remove(at, Math.Min(rng.Next(1, 6), sb.Length - at)); break;
                case 1: sb.Insert(at, Tokens[rng.Next(Tokens.Length)]); break;
                default: if (at < sb.Length) sb[at] = (char)rng.Next(0, 128); break;
            }
        }
        return sb.ToString();
    }

    /// <summary>One line, <c>t.cfg:L:C: ...</c>, with L and C inside the text (or just past its end).</summary>
    private static void AssertWellFormed(XlConfigException e, string text, string file)
    {
        Assert.That(e.Message, Does.Not.Contain('\n').And.Not.Contain('\r'), text);
        Assert.That(e.Message, Does.StartWith($"{file}:{e.Position.Line}:{e.Position.Column}: "), text);
        string[] lines = text.Split('\n');
        Assert.That(e.Position.Line, Is.InRange(1, lines.Length), text);
        Assert.That(e.Position.Column, Is.InRange(1, lines[e.Position.Line - 1].Length + 1), text);
    }

    private static (int Parsed, int Refused) Run(int seed, Func<Random, string> make)
    {
        var rng = new Random(seed);
        int parsed = 0, refused = 0;
        for (int i = 0; i < Cases; i++)
        {
            string text = make(rng);
            XlConfigFile f;
            try { f = XlConfigParser.Parse(text, "t.cfg"); }
            catch (XlConfigException e) { AssertWellFormed(e, text, "t.cfg"); refused++; continue; }
            parsed++;
            // What parsed writes back to text that parses to the same settings.
            string canonical = f.ToString();
            Assert.That(XlConfigParser.Parse(canonical, "c.cfg").ToString(), Is.EqualTo(canonical), text);
            // And reading it as a domain either works or fails cleanly.
            try { XlDomainConfigReader.Read(f, "/nonexistent"); }
            catch (XlConfigException e) { Assert.That(e.Message, Does.Not.Contain('\n').And.Not.Contain('\r'), text); }
        }
        return (parsed, refused);
    }

    [Test]
    public void RandomBytesOnlyEverFailWithAPositionedXlConfigException()
    {
        var (_, refused) = Run(20261125, RandomBytes);
        Assert.That(refused, Is.GreaterThan(Cases / 2));
    }

    [Test]
    public void RandomTokenSoupsOnlyEverFailWithAPositionedXlConfigException()
    {
        var (parsed, refused) = Run(424242, TokenSoup);
        Assert.That(parsed, Is.GreaterThan(20));
        Assert.That(refused, Is.GreaterThan(Cases / 2));
    }

    [Test]
    public void MutatedConfigsOnlyEverFailWithAPositionedXlConfigException()
    {
        var (parsed, refused) = Run(777, Mutation);
        Assert.That(parsed, Is.GreaterThan(100));
        Assert.That(refused, Is.GreaterThan(100));
    }

    [Test]
    public void RandomOverridesOnlyEverFailWithAPositionedXlConfigException()
    {
        var rng = new Random(31337);
        int applied = 0;
        for (int i = 0; i < Cases; i++)
        {
            var f = XlConfigParser.Parse("name = 'a'\nextra = 'b'\ndisk = []\n", "t.cfg");
            string arg = rng.Next(3) switch
            {
                0 => RandomBytes(rng),
                1 => TokenSoup(rng),
                _ => Tokens[rng.Next(5)] + "=" + TokenSoup(rng),
            };
            string before = f.ToString();
            try { XlConfigParser.ApplyOverride(f, arg); applied++; }
            catch (XlConfigException e)
            {
                Assert.That(e.Message, Does.StartWith("<command line>:").And.Not.Contain('\n').And.Not.Contain('\r'), arg);
                Assert.That(f.ToString(), Is.EqualTo(before), arg);
            }
        }
        Assert.That(applied, Is.GreaterThan(20));
    }
}
