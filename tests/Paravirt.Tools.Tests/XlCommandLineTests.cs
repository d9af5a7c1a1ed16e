using NUnit.Framework;
using Paravirt.Xl;

namespace Paravirt.Tools.Tests;

public class XlCommandLineTests
{
    private sealed class NoDaemon : IDaemonConnector
    {
        public Task<Paravirt.Control.ControlClient> ConnectAsync(CancellationToken cancellationToken) =>
            throw new AssertionException("this command line must fail before contacting the daemon");
    }

    private static async Task<(int Code, string Out, string Error)> Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var context = new XlContext(output, error, new MemoryStream(), Stream.Null, false, new NoDaemon(), () => null);
        int code = await XlCommandLine.RunAsync(args, context);
        return (code, output.ToString(), error.ToString());
    }

    [Test]
    public async Task AnUnknownCommandIsNotImplementedAndFails()
    {
        var (code, _, error) = await Run("frobnicate");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(error, Is.EqualTo("command not implemented" + Environment.NewLine));
    }

    [Test]
    public async Task NoCommandPrintsTheCommandListAndFails()
    {
        var (code, output, _) = await Run();
        Assert.That(code, Is.EqualTo(1));
        Assert.That(output, Does.Contain(" create").And.Contain(" list").And.Contain(" console"));
    }

    [TestCase("destroy")]
    [TestCase("pause")]
    [TestCase("unpause")]
    [TestCase("console")]
    public async Task ADomainCommandWithoutItsDomainIsAUsageError(string command)
    {
        var (code, _, error) = await Run(command);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(error, Does.StartWith($"xl {command}: "));
    }

    [Test]
    public async Task AnUnsupportedOptionIsAUsageError()
    {
        var (code, _, error) = await Run("list", "--bogus");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error, Does.StartWith("xl list: "));
    }

    [Test]
    public async Task CreateWithoutAConfigFileIsAUsageError()
    {
        var (code, _, error) = await Run("create", "-c");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error, Does.Contain("requires a config file"));
    }

    [Test]
    public async Task CreateReportsAnUnreadableConfigFileBeforeContactingTheDaemon()
    {
        var (code, _, error) = await Run("create", "/nonexistent/dir/guest.cfg");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(error, Does.Contain("Parsing config from /nonexistent/dir/guest.cfg"));
        Assert.That(error, Does.Contain("Failed to read config file: /nonexistent/dir/guest.cfg"));
    }

    [Test]
    public async Task CreateQuietDoesNotAnnounceTheConfigFile()
    {
        var (_, _, error) = await Run("create", "-q", "/nonexistent/guest.cfg");
        Assert.That(error, Does.Not.Contain("Parsing config"));
    }

    [Test]
    public async Task HelpForACommandShowsItsOptionsAndSucceeds()
    {
        var (code, output, _) = await Run("help", "create");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(output, Does.Contain("-p").And.Contain("-c").And.Contain("Create a domain from config file"));
    }

    [Test]
    public async Task ConsoleRefusesATypeAPvDomainDoesNotHave()
    {
        var (code, _, error) = await Run("console", "-t", "vuart", "guest");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(error, Does.Contain("no vuart console"));
    }

    [Test]
    public async Task ConsoleRefusesAConsoleNumberOtherThanZero()
    {
        var (code, _, error) = await Run("console", "-n", "1", "guest");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(error, Does.Contain("console 1 does not exist"));
    }

    [TestCase(new[] { "guest.cfg" }, null, "guest.cfg", new string[0])]
    [TestCase(new[] { "guest.cfg", "memory=256", "name=x" }, null, "guest.cfg", new[] { "memory=256", "name=x" })]
    [TestCase(new[] { "memory=256", "guest.cfg" }, null, "guest.cfg", new[] { "memory=256" })]
    [TestCase(new[] { "memory=256" }, "other.cfg", "other.cfg", new[] { "memory=256" })]
    public void CreateOperandsSplitIntoTheConfigFileAndOverrides(string[] operands, string? defconfig, string file, string[] vars)
    {
        var (actualFile, actualVars) = XlCommands.SplitCreateArguments(defconfig, operands);
        Assert.That(actualFile, Is.EqualTo(file));
        Assert.That(actualVars, Is.EqualTo(vars));
    }

    [Test]
    public void ASecondConfigFileOperandIsAUsageError()
    {
        var e = Assert.Throws<XlFailure>(() => XlCommands.SplitCreateArguments("a.cfg", ["b.cfg"]));
        Assert.That(e!.ExitCode, Is.EqualTo(2));
    }
}
