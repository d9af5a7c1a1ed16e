using NUnit.Framework;

namespace Paravirt.XlConfig.Tests;

/// <summary>The xl.cfg grammar of libxlu (libxlu_cfg_l.l / libxlu_cfg_y.y): what parses, to what, and where.</summary>
public class XlConfigSyntaxTests
{
    private static XlConfigFile Parse(string text) => XlConfigParser.Parse(text, "t.cfg");

    // Each input and the settings it yields, written back in canonical form ("key = value" per line).
    [TestCase("name = \"web\"", "name = \"web\"\n", TestName = "a double-quoted string")]
    [TestCase("name='web'", "name = \"web\"\n", TestName = "a single-quoted string")]
    [TestCase("", "", TestName = "an empty file")]
    [TestCase(";;\n\n;\n", "", TestName = "empty statements")]
    [TestCase("# only a comment\n", "", TestName = "a comment line")]
    [TestCase("a = 1 # trailing comment\nb = 2", "a = 1\nb = 2\n", TestName = "a comment after a value")]
    [TestCase("a = 1 # quotes ' \" and \\ in a comment\n", "a = 1\n", TestName = "anything inside a comment")]
    [TestCase("a = 1", "a = 1\n", TestName = "the last statement needs no line break")]
    [TestCase("a = 1; b = 2", "a = 1\nb = 2\n", TestName = "semicolons separate statements")]
    [TestCase("a=1;b=2;", "a = 1\nb = 2\n", TestName = "no blanks needed")]
    [TestCase("\ta\t=\t1\t;\t", "a = 1\n", TestName = "tabs are blanks")]
    [TestCase("x.y_z9 = 1", "x.y_z9 = 1\n", TestName = "names take digits, dots and underscores after a letter")]
    [TestCase("a = 0x1f", "a = 0x1f\n", TestName = "a hexadecimal number")]
    [TestCase("a = 0100", "a = 0100\n", TestName = "an octal number is kept as written")]
    [TestCase("a = 12ab", "a = 12ab\n", TestName = "libxlu lexes digits then hex letters and x as one number")]
    [TestCase("a = 0xx", "a = 0xx\n", TestName = "a number word that strtol will later refuse")]
    [TestCase("x = []", "x = []\n", TestName = "an empty list")]
    [TestCase("x = [\n\n]", "x = []\n", TestName = "an empty list over lines")]
    [TestCase("x = [1,]", "x = [1]\n", TestName = "a trailing comma")]
    [TestCase("x = [ 1 , 2 ,\n ]", "x = [1, 2]\n", TestName = "a trailing comma before a line break")]
    [TestCase("x = ['a', [1, [2]], []]", "x = [\"a\", [1, [2]], []]\n", TestName = "nested and heterogeneous lists")]
    [TestCase("x = [ # c\n 'a' # c\n , # c\n 'b' ]", "x = [\"a\", \"b\"]\n", TestName = "comments and line breaks inside a list")]
    [TestCase("a = 1\na = 2", "a = 2\n", TestName = "a later assignment replaces an earlier one")]
    [TestCase("a = 'x'\nb = 1\na = 'y'", "a = \"y\"\nb = 1\n", TestName = "a replaced setting keeps its first place")]
    [TestCase("s = 'a'; s += 'b'; s += \"c\"", "s = \"abc\"\n", TestName = "+= concatenates strings")]
    [TestCase("l = [1]; l += [2, [3]]", "l = [1, 2, [3]]\n", TestName = "+= joins lists")]
    [TestCase("n += 'z'", "n = \"z\"\n", TestName = "+= on an unset key assigns")]
    [TestCase("n = 1; n += 2", "n = \"12\"\n", TestName = "+= on numbers concatenates their text as libxlu does")]
    [TestCase("s = \"\\\"\\'\\\\\\a\\b\\f\\n\\r\\t\\v\"", "s = \"\\\"'\\\\\\a\\b\\f\\n\\r\\t\\v\"\n", TestName = "the ten escapes libxlu decodes")]
    [TestCase("s = 'say \"hi\"'", "s = \"say \\\"hi\\\"\"\n", TestName = "the other quote needs no escape")]
    [TestCase("s = \"# not a comment; a = 1\"", "s = \"# not a comment; a = 1\"\n", TestName = "comment and separator characters inside a string")]
    [TestCase("s = \"tab\there\"", "s = \"tab\\there\"\n", TestName = "a raw tab inside a string")]
    [TestCase("s = \"caf\u00e9\"", "s = \"caf\u00e9\"\n", TestName = "non-ASCII inside a string")]
    [TestCase("s = ''", "s = \"\"\n", TestName = "an empty string")]
    public void ValidInputParsesTo(string text, string settings) => Assert.That(Parse(text).ToString(), Is.EqualTo(settings));

    [TestCase("name = \"x", "t.cfg:1:8: unterminated string")]
    [TestCase("a = 1\nname = 'x\n", "t.cfg:2:8: unterminated string")]
    [TestCase("s = \"a\\\nb\"", "t.cfg:1:5: unterminated string")]
    [TestCase("s = \"a\\", "t.cfg:1:5: unterminated string")]
    [TestCase("memory 32", "t.cfg:1:8: expected `=' or `+=' after `memory', found number 32")]
    [TestCase("x\n= 1", "t.cfg:1:2: expected `=' or `+=' after `x', found end of line")]
    [TestCase("name = web", "t.cfg:1:8: unquoted word `web': strings must be quoted")]
    [TestCase("x = [1, 2", "t.cfg:1:5: unterminated list: this `[' has no matching `]'")]
    [TestCase("x = [\n1,\n", "t.cfg:1:5: unterminated list: this `[' has no matching `]'")]
    [TestCase("x = [1 2]", "t.cfg:1:8: expected `,' or `]' in the list, found number 2")]
    [TestCase("\tx = [\n\t1\n\t2]", "t.cfg:3:2: expected `,' or `]' in the list, found number 2")]
    [TestCase("x = [1,,2]", "t.cfg:1:8: expected a list element or `]', found `,' (empty list elements are not allowed)")]
    [TestCase("x = [,]", "t.cfg:1:6: expected a list element or `]', found `,' (empty list elements are not allowed)")]
    [TestCase("x = [1,]]", "t.cfg:1:9: expected `;' or a line break after the value of `x', found `]'")]
    [TestCase("x = 1 2", "t.cfg:1:7: expected `;' or a line break after the value of `x', found number 2")]
    [TestCase("a = \"x\" \"y\"", "t.cfg:1:9: expected `;' or a line break after the value of `a', found string \"y\"")]
    [TestCase("x =", "t.cfg:1:4: expected a value (a quoted string, a number or a [list]), found end of file")]
    [TestCase("x =\ny = 1", "t.cfg:1:4: expected a value (a quoted string, a number or a [list]), found end of line")]
    [TestCase("x = # c\n1", "t.cfg:1:5: expected a value (a quoted string, a number or a [list]), found end of line")]
    [TestCase("x = ]", "t.cfg:1:5: expected a value (a quoted string, a number or a [list]), found `]'")]
    [TestCase("x = ;", "t.cfg:1:5: expected a value (a quoted string, a number or a [list]), found `;'")]
    [TestCase("= 1", "t.cfg:1:1: expected a setting name, found `='")]
    [TestCase("'x' = 1", "t.cfg:1:1: expected a setting name, found string \"x\" (setting names are not quoted)")]
    [TestCase("1 = 1", "t.cfg:1:1: expected a setting name, found number 1")]
    [TestCase("[1]", "t.cfg:1:1: expected a setting name, found `['")]
    [TestCase("Name = 'x'", "t.cfg:1:1: unexpected `N': setting names are lower case")]
    [TestCase("_a = 1", "t.cfg:1:1: unexpected `_'")]
    [TestCase("x = 0xFF", "t.cfg:1:7: unexpected `F' in a number (xl.cfg hex digits are lower case)")]
    [TestCase("x = 1.5", "t.cfg:1:6: unexpected `.' (xl.cfg is not Python: values are quoted strings, numbers or [lists])")]
    [TestCase("x = (1, 2)", "t.cfg:1:5: unexpected `(' (xl.cfg is not Python: values are quoted strings, numbers or [lists])")]
    [TestCase("x = -1", "t.cfg:1:5: unexpected `-' (xl.cfg is not Python: values are quoted strings, numbers or [lists])")]
    [TestCase("x + = 1", "t.cfg:1:3: unexpected `+' (xl.cfg is not Python: values are quoted strings, numbers or [lists])")]
    [TestCase("x = @", "t.cfg:1:5: unexpected `@'")]
    [TestCase("x = \"bad\\q\"", "t.cfg:1:9: invalid character `q' after backslash in quoted string")]
    [TestCase("x = 'ok'\nx = 'tab\\\t'", "t.cfg:2:9: invalid character 0x09 after backslash in quoted string")]
    [TestCase("x = \"\\x41\"", "t.cfg:1:6: `\\x' escapes are not supported in quoted strings (xl rejects them)")]
    [TestCase("x = \"A\\101\"", "t.cfg:1:7: octal escape `\\101' is not supported in quoted strings (xl drops such characters)")]
    [TestCase("x = \"\\0\"", "t.cfg:1:6: octal escape `\\0' is not supported in quoted strings (xl drops such characters)")]
    [TestCase("x = 'a'\nx += [1]", "t.cfg:2:6: cannot add a list to string \"a\" of `x' (+= joins a string to a string or a list to a list)")]
    [TestCase("x = [1]\nx += 'a'", "t.cfg:2:6: cannot add string \"a\" to a list of `x' (+= joins a string to a string or a list to a list)")]
    [TestCase("a = 1\r\nb = 2\r\n", "t.cfg:1:6: unexpected carriage return: xl.cfg files need Unix (LF) line endings")]
    [TestCase("a = 1 # no line break", "t.cfg:1:7: comment on the last line must end with a line break (xl rejects it otherwise)")]
    [TestCase("a = 1\0", "t.cfg:1:6: unexpected NUL character")]
    [TestCase("a = 'x\0'", "t.cfg:1:7: unexpected NUL character in a quoted string")]
    [TestCase("a = \u00e9", "t.cfg:1:5: unexpected character U+00E9 outside a quoted string")]
    [TestCase("a = \u0001", "t.cfg:1:5: unexpected control character 0x01")]
    [TestCase("x += ", "t.cfg:1:6: expected a value (a quoted string, a number or a [list]), found end of file")]
    public void InvalidInputIsRefusedWithPosition(string text, string message)
    {
        var e = Assert.Throws<XlConfigException>(() => Parse(text))!;
        Assert.That(e.Message, Is.EqualTo(message));
    }

    [Test]
    public void KeysAndValuesKeepTheirPositions()
    {
        var f = Parse("name = \"web\"\n# comment\n  vcpus=2\ndisk = [\n\t'a',\n   [ 'b' ] ]\n");
        Assert.Multiple(() =>
        {
            Assert.That(f["name"]!.KeyPosition, Is.EqualTo(new SourcePosition("t.cfg", 1, 1)));
            Assert.That(f["name"]!.Value.Position, Is.EqualTo(new SourcePosition("t.cfg", 1, 8)));
            Assert.That(f["vcpus"]!.KeyPosition, Is.EqualTo(new SourcePosition("t.cfg", 3, 3)));
            Assert.That(f["vcpus"]!.Value.Position, Is.EqualTo(new SourcePosition("t.cfg", 3, 9)));
            Assert.That(f["disk"]!.Value.Position, Is.EqualTo(new SourcePosition("t.cfg", 4, 8)));
            Assert.That(f["disk"]!.Value.Items![0].Position, Is.EqualTo(new SourcePosition("t.cfg", 5, 2)));
            Assert.That(f["disk"]!.Value.Items![1].Position, Is.EqualTo(new SourcePosition("t.cfg", 6, 4)));
            Assert.That(f["disk"]!.Value.Items![1].Items![0].Position, Is.EqualTo(new SourcePosition("t.cfg", 6, 6)));
        });
    }

    [Test]
    public void SettingsKeepTheOrderTheyWereFirstSeen() =>
        Assert.That(Parse("c = 1\na = 2\nb = 3\nc = 4").Settings.Select(s => s.Key), Is.EqualTo(new[] { "c", "a", "b" }));

    [Test]
    public void NumbersAndStringsAreTellableApart()
    {
        var f = Parse("n = 64\ns = '64'");
        Assert.That((f["n"]!.Value.IsNumber, f["s"]!.Value.IsNumber), Is.EqualTo((true, false)));
    }

    [Test]
    public void AnAppendedValueTakesThePositionOfTheAppendedPart()
    {
        var f = Parse("extra = 'a'\nextra += ' b'");
        Assert.That(f["extra"]!.Value.Position, Is.EqualTo(new SourcePosition("t.cfg", 2, 10)));
        Assert.That(f["extra"]!.KeyPosition, Is.EqualTo(new SourcePosition("t.cfg", 2, 1)));
    }

    [Test]
    public void AnAssignmentAfterAnAppendIsNoLongerAnAppend()
    {
        var f = Parse("a += 'x'\nb = 'y'\nb += 'z'\na = 'w'");
        Assert.That((f["a"]!.IsAppend, f["b"]!.IsAppend), Is.EqualTo((false, true)));
    }

    [Test]
    public void ListsNestAsDeepAsTheLimit()
    {
        int depth = XlConfigParser.MaxListDepth;
        var f = Parse("x = " + new string('[', depth) + new string(']', depth));
        var v = f["x"]!.Value;
        int seen = 1;
        while (v.Items!.Count > 0) { v = v.Items[0]; seen++; }
        Assert.That(seen, Is.EqualTo(depth));
    }

    [Test]
    public void DeeperNestingIsRefusedNotOverflowed()
    {
        var e = Assert.Throws<XlConfigException>(() => Parse("x = " + new string('[', 100_000)))!;
        Assert.That(e.Message, Is.EqualTo($"t.cfg:1:{5 + XlConfigParser.MaxListDepth}: lists nested deeper than {XlConfigParser.MaxListDepth}"));
    }

    [Test]
    public void AnOversizedFileIsRefused()
    {
        var e = Assert.Throws<XlConfigException>(() => Parse(new string(' ', XlConfigParser.MaxLength + 1)))!;
        Assert.That(e.Message, Is.EqualTo($"t.cfg:1:1: config file too large ({XlConfigParser.MaxLength + 1} characters, at most {XlConfigParser.MaxLength})"));
    }

    [Test]
    public void MessagesStayOnOneLineWhateverTheStringHolds()
    {
        var e = Assert.Throws<XlConfigException>(() => Parse("x = 'a\\nb\\r\u2028c'\nx += [1]"))!;
        Assert.That(e.Message, Is.EqualTo("t.cfg:2:6: cannot add a list to string \"a\\nb\\r\\u2028c\" of `x' (+= joins a string to a string or a list to a list)"));
    }

    [Test]
    public void WrittenBackSettingsParseToTheSame()
    {
        const string text = "s = 'q\"\\'\\\\\\t\\n'\nl = [ [], ['x', 0x10], 7 ]\ne = ''\n";
        string once = Parse(text).ToString();
        Assert.That(Parse(once).ToString(), Is.EqualTo(once));
    }
}
