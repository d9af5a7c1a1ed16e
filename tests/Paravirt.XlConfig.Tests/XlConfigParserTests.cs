using NUnit.Framework;
using Paravirt.XlConfig;

namespace Paravirt.XlConfig.Tests;

public class XlConfigParserTests
{
    private static XlConfigFile Parse(string text) => XlConfigParser.Parse(text, "t.cfg");

    [Test]
    public void KeyValuePairsKeepTheirOrderAndPositions()
    {
        var f = Parse("name = \"web\"\nmemory = 512\n  vcpus=2\n");
        Assert.That(f.Settings.Select(s => s.Key), Is.EqualTo(new[] { "name", "memory", "vcpus" }));
        Assert.That(f["memory"]!.Value.Atom, Is.EqualTo("512"));
        Assert.That(f["memory"]!.Value.IsNumber, Is.True);
        Assert.That(f["vcpus"]!.KeyPosition, Is.EqualTo(new SourcePosition("t.cfg", 3, 3)));
        Assert.That(f["vcpus"]!.Value.Position, Is.EqualTo(new SourcePosition("t.cfg", 3, 9)));
    }

    [TestCase("x = 'single'", "single")]
    [TestCase("x = \"double\"", "double")]
    [TestCase("x = \"a\\\"b\"", "a\"b")]
    [TestCase("x = 'it\\'s'", "it's")]
    [TestCase("x = \"tab\\there\"", "tab\there")]
    [TestCase("x = \"nl\\n\"", "nl\n")]
    [TestCase("x = \"back\\\\slash\"", "back\\slash")]
    [TestCase("x = \"hex\\x41\"", "hexA")]
    [TestCase("x = \"oct\\101\"", "octA")]
    [TestCase("x = \"# not a comment\"", "# not a comment")]
    [TestCase("x = \"\"", "")]
    public void StringsAcceptLibxluEscapes(string text, string expected) => Assert.That(Parse(text)["x"]!.Value.Atom, Is.EqualTo(expected));

    [TestCase("x = 0x1F", "0x1F")]
    [TestCase("x = 42", "42")]
    [TestCase("x = 0", "0")]
    public void NumbersAreDecimalOrHex(string text, string atom) => Assert.That(Parse(text)["x"]!.Value.Atom, Is.EqualTo(atom));

    [Test]
    public void ListsMaySpanLinesAndEndWithAComma()
    {
        var f = Parse("disk = [ 'a',\n  'b', # second\n  ]\n");
        Assert.That(f["disk"]!.Value.Items!.Select(v => v.Atom), Is.EqualTo(new[] { "a", "b" }));
    }

    [Test]
    public void ListsNestAndMayBeEmpty()
    {
        var f = Parse("x = [ [1, 2], [] ]");
        Assert.That(f["x"]!.Value.Items![0].Items!.Count, Is.EqualTo(2));
        Assert.That(f["x"]!.Value.Items![1].Items!, Is.Empty);
    }

    [Test]
    public void CommentsBlankLinesAndSemicolonsSeparateStatements()
    {
        var f = Parse("# header\n\na = 1; b = 2 # trailing\n;\n");
        Assert.That(f.Settings.Select(s => s.Key), Is.EqualTo(new[] { "a", "b" }));
    }

    [Test]
    public void ALaterAssignmentReplacesAnEarlierOne() => Assert.That(Parse("a = 1\na = 2")["a"]!.Value.Atom, Is.EqualTo("2"));

    [Test]
    public void AppendConcatenatesStringsAndLists()
    {
        var f = Parse("extra = 'a'\nextra += ' b'\nl = ['x']\nl += ['y']\nnew += 'z'");
        Assert.That(f["extra"]!.Value.Atom, Is.EqualTo("a b"));
        Assert.That(f["l"]!.Value.Items!.Select(v => v.Atom), Is.EqualTo(new[] { "x", "y" }));
        Assert.That(f["new"]!.Value.Atom, Is.EqualTo("z"));
    }

    [TestCase("name = \"x", "t.cfg:1:8: unterminated string")]
    [TestCase("a = 1\nname = 'x\n", "t.cfg:2:8: unterminated string")]
    [TestCase("memory 32", "t.cfg:1:8: expected `=' after `memory', found `3'")]
    [TestCase("name = web", "t.cfg:1:8: unquoted string `web': strings must be quoted")]
    [TestCase("x = [1, 2", "t.cfg:1:5: unterminated list: no `]'")]
    [TestCase("x = [1 2]", "t.cfg:1:8: expected `,' or `]' in list, found `2'")]
    [TestCase("x = 1 2", "t.cfg:1:7: expected end of line after the value, found `2'")]
    [TestCase("x =", "t.cfg:1:4: expected a value, found end of file")]
    [TestCase("x =\ny = 1", "t.cfg:1:4: expected a value, found end of line")]
    [TestCase("= 1", "t.cfg:1:1: expected a setting name, found `='")]
    [TestCase("x = \"bad\\q\"", "t.cfg:1:9: invalid character `q' after backslash in quoted string")]
    [TestCase("x = \"bad\\x4\"", "t.cfg:1:9: invalid \\x escape: two hexadecimal digits needed")]
    [TestCase("x = 12ab", "t.cfg:1:5: malformed number `12ab'")]
    [TestCase("x = 0x", "t.cfg:1:5: hexadecimal number without digits")]
    [TestCase("x = 'a'\nx += [1]", "t.cfg:2:1: cannot append a list to string \"a\" of `x'")]
    [TestCase("x = @", "t.cfg:1:5: expected a value, found `@'")]
    public void SyntaxErrorsNameFileLineAndColumn(string text, string message)
    {
        var e = Assert.Throws<XlConfigException>(() => Parse(text))!;
        Assert.That(e.Message, Is.EqualTo(message));
    }

    [Test]
    public void DeeplyNestedListsAreRefusedNotOverflowed()
    {
        var e = Assert.Throws<XlConfigException>(() => Parse("x = " + new string('[', 10000)))!;
        Assert.That(e.Message, Does.Contain("nested deeper"));
    }

    [Test]
    public void RandomInputOnlyEverFailsWithXlConfigException()
    {
        var rng = new Random(20261125);
        string[] tokens = ["name", "=", "+=", "'a'", "\"b\\n\"", "[", "]", ",", ";", "\n", "#c", "0x1f", "12", " ", "\\", "\"", "'", "\t", "é", "\0"];
        int parsed = 0, refused = 0;
        for (int i = 0; i < 20000; i++)
        {
            string text = i % 2 == 0
                ? string.Concat(Enumerable.Range(0, rng.Next(1, 30)).Select(_ => tokens[rng.Next(tokens.Length)]))
                : new string(Enumerable.Range(0, rng.Next(1, 60)).Select(_ => (char)rng.Next(0, 128)).ToArray());
            try { Parse(text); parsed++; }
            catch (XlConfigException e) { refused++; Assert.That(e.Message, Does.Not.Contain("\n")); }
        }
        Assert.That(parsed, Is.GreaterThan(0));
        Assert.That(refused, Is.GreaterThan(0));
    }

    [Test]
    public void OverridesReplaceFileSettings()
    {
        var f = Parse("name = 'a'\nmemory = 32");
        XlConfigParser.ApplyOverride(f, "memory=64");
        XlConfigParser.ApplyOverride(f, "name=\"b\"");
        Assert.That(f["memory"]!.Value.Atom, Is.EqualTo("64"));
        Assert.That(f["name"]!.Value.Atom, Is.EqualTo("b"));
    }

    [Test]
    public void ABareWordOverrideIsAString()
    {
        var f = Parse("name = 'a'");
        XlConfigParser.ApplyOverride(f, "name=web-1");
        Assert.That(f["name"]!.Value.Atom, Is.EqualTo("web-1"));
        Assert.That(f["name"]!.Value.IsNumber, Is.False);
    }

    [Test]
    public void OverridesUseTheFileGrammarForLists()
    {
        var f = Parse("");
        XlConfigParser.ApplyOverride(f, "vif=['bridge=xenbr0']");
        Assert.That(f["vif"]!.Value.Items![0].Atom, Is.EqualTo("bridge=xenbr0"));
    }

    [TestCase("memory", "<command line>:1:7: expected `=' after `memory', found end of file")]
    [TestCase("=1", "<command line>:1:1: `=1' is not of the form key=value")]
    [TestCase("memory=", "<command line>:1:8: expected a value, found end of file")]
    [TestCase("memory=[1", "<command line>:1:8: unterminated list: no `]'")]
    public void ABadOverrideNamesTheCommandLine(string assignment, string message)
    {
        var e = Assert.Throws<XlConfigException>(() => XlConfigParser.ApplyOverride(Parse(""), assignment))!;
        Assert.That(e.Message, Is.EqualTo(message));
    }

    [Test]
    public void EveryExampleConfigParses()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Paravirt.sln"))) dir = dir.Parent;
        var examples = Directory.GetFiles(Path.Combine(dir!.FullName, "xl-config", "examples"), "*.cfg");
        Assert.That(examples, Is.Not.Empty);
        foreach (var path in examples)
            Assert.DoesNotThrow(() => XlConfigParser.Parse(File.ReadAllText(path), path), path);
    }
}
