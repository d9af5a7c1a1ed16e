using NUnit.Framework;

namespace Paravirt.XlConfig.Tests;

/// <summary>The configs shipped in xl-config/examples are valid and say what their comments promise.</summary>
public class ExampleConfigTests
{
    private static string ExamplesDirectory()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Paravirt.sln"))) dir = dir.Parent;
        Assert.That(dir, Is.Not.Null, "repository root not found above " + AppContext.BaseDirectory);
        return Path.Combine(dir!.FullName, "xl-config", "examples");
    }

    private static IEnumerable<string> Examples() => Directory.GetFiles(ExamplesDirectory(), "*.cfg").Select(Path.GetFileName)!;

    [Test]
    public void ThereAreExamples() => Assert.That(Examples(), Does.Contain("hello.cfg"));

    [TestCaseSource(nameof(Examples))]
    public void EveryExampleParses(string name)
    {
        string path = Path.Combine(ExamplesDirectory(), name);
        Assert.DoesNotThrow(() => XlConfigParser.Parse(File.ReadAllText(path), path));
    }

    [Test]
    public void HelloDescribesTheHelloGuest()
    {
        string path = Path.Combine(ExamplesDirectory(), "hello.cfg");
        var file = XlConfigParser.Parse(File.ReadAllText(path), path);
        Assert.That(file["kernel"]!.Value.Atom, Is.EqualTo("../../guest-sdk/build/examples/hello"));

        // The guest ELF may not be built here: point kernel at a stand-in to check everything else xl would read.
        string kernel = Path.GetTempFileName();
        try
        {
            XlConfigParser.ApplyOverride(file, $"kernel='{kernel}'");
            var c = XlDomainConfigReader.Read(file, Path.GetDirectoryName(path)!);
            Assert.That((c.Name, c.Type, c.MemoryMiB, c.Vcpus, c.OnPoweroff, c.OnCrash, c.Warnings.Count),
                Is.EqualTo(("hello", "pv", 32L, 1, DomainAction.Destroy, DomainAction.Destroy, 0)));
        }
        finally { File.Delete(kernel); }
    }
}
