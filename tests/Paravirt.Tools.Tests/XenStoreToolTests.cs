using System.Diagnostics;
using NUnit.Framework;
using Paravirt.Domains.XenStore;
using Paravirt.XenStoreCli;

namespace Paravirt.Tools.Tests;

/// <summary>
/// tools/xenstore against a real xenstored socket. Where Debian's xenstore-utils are installed, the same command
/// run through Xen's own tool must print the same bytes and exit with the same status.
/// </summary>
public class XenStoreToolTests
{
    private string _dir = null!;
    private XenStoreDaemon _daemon = null!;
    private XenStoreSocketServer _server = null!;

    [SetUp]
    public void Start()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pv-xst-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_dir);
        _daemon = new XenStoreDaemon();
        _server = new XenStoreSocketServer(_daemon, Path.Combine(_dir, "socket"));
        _daemon.Write(0, "/local/domain/0/name", "Domain-0");
        _daemon.Write(0, "/local/domain/0/domid", "0");
        _daemon.Write(0, "/vm/abc/name", "guest one");
        _daemon.Write(0, "/vm/abc/long", new string('x', 120));
        _daemon.Write(0, "/vm/abc/odd", "tab\there\nnl\\back\u0001");
        _daemon.Write(0, "/edge/a", new string('y', 68)); // " a = \"" + 68 + "\"": exactly at the cut
        _daemon.Write(0, "/edge/b", new string('y', 69));
        _daemon.SetPerms(0, "/vm/abc/name", [new XsPermission(0, XsPerm.None), new XsPermission(5, XsPerm.Read)]);
    }

    [TearDown]
    public void Stop()
    {
        _server.Dispose();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private (int Exit, string Out, string Err) Ours(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = new XenStoreTool(output, error).Run(args, () => XsClient.Connect(_server.Path));
        return (code, output.ToString(), error.ToString());
    }

    private (int Exit, string Out, string Err) Xens(string command, params string[] args)
    {
        string tool = "/usr/bin/xenstore-" + command;
        if (!File.Exists(tool)) Assert.Ignore("xenstore-utils is not installed (apt-get install xenstore-utils)");
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["XENSTORED_PATH"] = _server.Path;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(15000)) { p.Kill(); Assert.Fail($"{tool} hung"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [TestCase("read", "/vm/abc/name")]
    [TestCase("read", "-p", "/vm/abc/name", "/local/domain/0/domid")]
    [TestCase("read", "/vm/abc/odd")]
    [TestCase("read", "-R", "/vm/abc/odd")]
    [TestCase("read", "/no/such")]
    [TestCase("list", "/vm/abc")]
    [TestCase("list", "-p", "/local/domain")]
    [TestCase("list", "/no/such")]
    [TestCase("ls", "/vm")]
    [TestCase("ls", "-f", "/vm")]
    [TestCase("ls")]
    [TestCase("ls", "/edge")]
    [TestCase("ls", "-p", "/vm")]
    [TestCase("ls", "/no/such")]
    [TestCase("rm", "/no/such/deeper")]
    [TestCase("list", "-p", "/vm/")]
    [TestCase("exists", "/vm/abc")]
    [TestCase("exists", "/no/such")]
    public void OutputAndStatusMatchXensTool(params string[] args)
    {
        var xen = Xens(args[0], args[1..]);
        var ours = Ours(args);
        Assert.That((ours.Exit, ours.Out), Is.EqualTo((xen.Exit, xen.Out)), $"xen stderr: {xen.Err}\nour stderr: {ours.Err}");
    }

    [Test]
    public void WriteThenXensReadSeesTheValueWithEscapesExpanded()
    {
        Assert.That(Ours("write", "/vm/abc/w", "a\\tb", "/vm/abc/v", "plain").Exit, Is.Zero);
        Assert.That(_daemon.ReadString(0, "/vm/abc/w"), Is.EqualTo("a\tb"));
        Assert.That(_daemon.ReadString(0, "/vm/abc/v"), Is.EqualTo("plain"));
    }

    [Test]
    public void WriteWithAnOddNumberOfArgumentsIsAUsageError()
    {
        Assert.That(Ours("write", "/vm/abc/w").Exit, Is.EqualTo(XenStoreTool.Usage));
    }

    [Test]
    public void RmRemovesTheNodeAndWithDashTItsEmptyParents()
    {
        _daemon.Write(0, "/a/b/c", "");
        Assert.That(Ours("rm", "-t", "/a/b/c").Exit, Is.Zero);
        Assert.That(Ours("exists", "/a").Exit, Is.EqualTo(1));
        Assert.That(Ours("rm", "/vm/abc/name").Exit, Is.Zero);
        Assert.That(Ours("exists", "/vm/abc/name").Exit, Is.EqualTo(1));
    }

    [Test]
    public void ChmodSetsThePermissionsXenReports()
    {
        Assert.That(Ours("chmod", "/vm/abc", "n0", "r5").Exit, Is.Zero);
        Assert.That(_daemon.GetPerms(0, "/vm/abc").Select(p => p.ToString()), Is.EqualTo(new[] { "n0", "r5" }));
    }

    [Test]
    public void ChmodRecursiveReachesEveryChild()
    {
        Assert.That(Ours("chmod", "-r", "/vm", "b0").Exit, Is.Zero);
        Assert.That(_daemon.GetPerms(0, "/vm/abc/name").Select(p => p.ToString()), Is.EqualTo(new[] { "b0" }));
    }

    [Test]
    public void ChmodRefusesAMalformedPermission()
    {
        Assert.That(Ours("chmod", "/vm/abc", "x1").Exit, Is.EqualTo(1));
    }

    [Test]
    public void WatchPrintsThePathOfEachEventAndStopsAfterN()
    {
        var output = new StringWriter();
        var watch = Task.Run(() => new XenStoreTool(TextWriter.Synchronized(output), TextWriter.Null)
            .Run(["watch", "-n", "2", "/vm/abc"], () => XsClient.Connect(_server.Path)));
        // The first event fires on registration; the second when the subtree changes.
        for (int i = 0; i < 200 && output.ToString().Length == 0; i++) Thread.Sleep(10);
        _daemon.Write(0, "/vm/abc/name", "changed");
        Assert.That(watch.Wait(TimeSpan.FromSeconds(10)), Is.True, "watch -n 2 returns after two events");
        Assert.That(output.ToString(), Is.EqualTo("/vm/abc\n/vm/abc/name\n"));
    }

    [TestCase("plain", "plain")]
    [TestCase("a\tb\nc\rd\\e", "a\\tb\\nc\\rd\\\\e")]
    [TestCase("\u0001\u007f", "\\001\\177")]
    public void SanitiseEscapesAsXenDoes(string raw, string shown)
    {
        Assert.That(XenStoreTool.Sanitise(System.Text.Encoding.UTF8.GetBytes(raw)), Is.EqualTo(shown));
        Assert.That(XenStoreTool.Unsanitise(shown), Is.EqualTo(System.Text.Encoding.UTF8.GetBytes(raw)));
    }
}
