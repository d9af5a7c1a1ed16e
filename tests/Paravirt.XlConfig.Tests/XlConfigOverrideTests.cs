using NUnit.Framework;

namespace Paravirt.XlConfig.Tests;

/// <summary><c>xl create cfg key=value…</c>: each argument is more config text, parsed with the file's grammar.</summary>
public class XlConfigOverrideTests
{
    private static XlConfigFile File(string text = "name = 'a'\nmemory = 32\nextra = 'quiet'\n") => XlConfigParser.Parse(text, "t.cfg");

    [Test]
    public void ANumberOverrideReplacesTheFileSetting()
    {
        var f = File();
        XlConfigParser.ApplyOverride(f, "memory=64");
        Assert.That(f["memory"]!.Value.ToString(), Is.EqualTo("64"));
    }

    [Test]
    public void AnOverrideIsPositionedOnTheCommandLine()
    {
        var f = File();
        XlConfigParser.ApplyOverride(f, "memory=64");
        Assert.That(f["memory"]!.KeyPosition, Is.EqualTo(new SourcePosition("<command line>", 1, 1)));
        Assert.That(f["memory"]!.Value.Position, Is.EqualTo(new SourcePosition("<command line>", 1, 8)));
    }

    [TestCase("name=\"x\"", "name", "\"x\"")]
    [TestCase("name='x y'", "name", "\"x y\"")]
    [TestCase("vif=['bridge=xenbr0']", "vif", "[\"bridge=xenbr0\"]")]
    [TestCase("vif = [ 'a', ['b'], ]", "vif", "[\"a\", [\"b\"]]")]
    [TestCase("memory=0x40", "memory", "0x40")]
    [TestCase("memory=64 # a comment needs no line break here", "memory", "64")]
    public void AnOverrideTakesAnyValueOfTheGrammar(string assignment, string key, string value)
    {
        var f = File();
        XlConfigParser.ApplyOverride(f, assignment);
        Assert.That(f[key]!.Value.ToString(), Is.EqualTo(value));
    }

    [Test]
    public void AnAppendOverrideExtendsTheFileSetting()
    {
        var f = File();
        XlConfigParser.ApplyOverride(f, "extra+=' console=hvc0'");
        Assert.That(f["extra"]!.Value.Atom, Is.EqualTo("quiet console=hvc0"));
    }

    [Test]
    public void OneArgumentMayHoldSeveralStatementsAsInXl()
    {
        var f = File();
        XlConfigParser.ApplyOverride(f, "memory=64; vcpus=2");
        Assert.That((f["memory"]!.Value.Atom, f["vcpus"]!.Value.Atom), Is.EqualTo(("64", "2")));
    }

    [TestCase("name=web-1", "web-1")]
    [TestCase("name=Hello.c", "Hello.c")]
    [TestCase("kernel=/boot/vmlinuz", "/boot/vmlinuz")]
    public void ABareWordValueIsTakenAsAString(string assignment, string value)
    {
        var f = File();
        XlConfigParser.ApplyOverride(f, assignment);
        Assert.That((f[assignment[..assignment.IndexOf('=')]]!.Value.Atom, f[assignment[..assignment.IndexOf('=')]]!.Value.IsNumber), Is.EqualTo((value, false)));
    }

    [TestCase("memory", "<command line>:1:1: \"memory\" is not of the form key=value")]
    [TestCase("memory=", "<command line>:1:8: expected a value (a quoted string, a number or a [list]), found end of line")]
    [TestCase("memory=[1", "<command line>:1:8: unterminated list: this `[' has no matching `]'")]
    [TestCase("Memory=64", "<command line>:1:1: unexpected `M': setting names are lower case")]
    [TestCase("name=web page", "<command line>:1:6: unquoted word `web': strings must be quoted")]
    [TestCase("name='x", "<command line>:1:6: unterminated string")]
    [TestCase("extra+=[1]", "<command line>:1:8: cannot add a list to string \"quiet\" of `extra' (+= joins a string to a string or a list to a list)")]
    public void ABadOverrideNamesTheCommandLine(string assignment, string message)
    {
        var e = Assert.Throws<XlConfigException>(() => XlConfigParser.ApplyOverride(File(), assignment))!;
        Assert.That(e.Message, Is.EqualTo(message));
    }

    [Test]
    public void AFailedOverrideLeavesTheFileAsItWas()
    {
        var f = File();
        string before = f.ToString();
        Assert.Throws<XlConfigException>(() => XlConfigParser.ApplyOverride(f, "memory=64; name="));
        Assert.That(f.ToString(), Is.EqualTo(before));
    }
}
