using Newtonsoft.Json.Linq;
using NUnit.Framework;
using Paravirt.Domains.Toolstack;
using Paravirt.XlConfig;

namespace Paravirt.Tools.Tests;

/// <summary>xl block-attach, block-detach and block-list (tools/xl/xl_block.c) through paravirtd's server.</summary>
public class XlBlockCommandsTests
{
    private DaemonHarness _daemon = null!;

    [SetUp]
    public void Start() => _daemon = DaemonHarness.Start();

    [TearDown]
    public async Task Stop() => await _daemon.DisposeAsync();

    private DomainInfo Create(string name) =>
        _daemon.Toolstack.Create(new DomainConfig { Name = name, MemoryMiB = 64, MaxMemMiB = 64, Vcpus = 1, Kernel = "/k/hello" }, paused: false);

    [Test]
    public async Task BlockAttachSendsTheParsedDiskToTheToolstack()
    {
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["block-attach", "web", "/srv/web.img,raw,xvdb,ro"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var disk = _daemon.Toolstack.Disks[d.DomId].Single();
        Assert.That((disk.Target, disk.Format, disk.Vdev, disk.ReadWrite), Is.EqualTo(("/srv/web.img", "raw", "xvdb", false)));
    }

    [Test]
    public async Task BlockAttachJoinsSeveralSpecComponentsAsOneSpec()
    {
        var d = Create("web");
        var run = await _daemon.RunXlAsync(["block-attach", "web", "vdev=xvdc", "access=ro", "target=/srv/a b.img"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var disk = _daemon.Toolstack.Disks[d.DomId].Single();
        Assert.That((disk.Target, disk.Vdev, disk.ReadWrite), Is.EqualTo(("/srv/a b.img", "xvdc", false)));
    }

    [Test]
    public async Task ABadDiskSpecFailsInXlWithTheParsersLine()
    {
        Create("web");
        var run = await _daemon.RunXlAsync(["block-attach", "web", "/srv/x.img,raw,xvda,rw,frobnicate=1"]);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Error, Does.Contain("unknown keyword `frobnicate'"));
        Assert.That(_daemon.Toolstack.Disks, Is.Empty);
    }

    [Test]
    public async Task ScriptIsRejectedWithAClearError()
    {
        Create("web");
        var run = await _daemon.RunXlAsync(["block-attach", "web", "script=block-iscsi,vdev=xvda,target=iqn.2001-05.com.example:disk"]);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Error, Does.Contain("script=block-iscsi is not supported yet"));
    }

    [Test]
    public async Task BlockAttachToAnUnknownDomainFails()
    {
        var run = await _daemon.RunXlAsync(["block-attach", "nosuch", "/srv/x.img,raw,xvda,rw"]);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Error, Does.Contain("nosuch is an invalid domain identifier"));
    }

    [Test]
    public async Task DryRunBlockAttachPrintsTheDiskAsLibxlJsonAndAttachesNothing()
    {
        var run = await _daemon.RunXlAsync(["-N", "block-attach", "0", "/dev/vg/guest-volume,raw,hda,rw"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Out, Does.StartWith("disk: {"), run.Out);
        var json = JObject.Parse(run.Out["disk: ".Length..]);
        Assert.That(json, Is.EqualTo(new JObject
        {
            ["pdev_path"] = "/dev/vg/guest-volume",
            ["vdev"] = "hda",
            ["format"] = "raw",
            ["readwrite"] = 1,
        }).Using<JToken>((a, b) => JToken.DeepEquals(a, b) ? 0 : 1), run.Out);
        Assert.That(run.Out, Does.Contain("\n    \"vdev\": \"hda\""), "libxl indents by four spaces");
        Assert.That(_daemon.Toolstack.Disks, Is.Empty);
    }

    [Test]
    public async Task DryRunShowsCdromAndDiscardSettings()
    {
        var run = await _daemon.RunXlAsync(["-N", "block-attach", "0", "/root/image.iso,,hdc,cdrom"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var json = JObject.Parse(run.Out["disk: ".Length..]);
        Assert.That((int)json["is_cdrom"]!, Is.EqualTo(1));
        Assert.That((int)json["removable"]!, Is.EqualTo(1));
        Assert.That(json["readwrite"], Is.Null, "a cdrom is read-only: readwrite stays at its default");

        run = await _daemon.RunXlAsync(["-N", "block-attach", "0", "/srv/x.img,raw,xvda,rw,no-discard"]);
        Assert.That((string)JObject.Parse(run.Out["disk: ".Length..])["discard_enable"]!, Is.EqualTo("False"));
    }

    [Test]
    public async Task BlockListPrintsXlsColumns()
    {
        var d = Create("web");
        _daemon.Toolstack.AttachDisk(d.DomId, DiskSpec.Parse("/srv/a.img,raw,xvda,rw"));
        _daemon.Toolstack.AttachDisk(d.DomId, DiskSpec.Parse("/srv/b.img,raw,xvdb,rw"));
        var run = await _daemon.RunXlAsync(["block-list", "web"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var lines = run.Out.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[0], Is.EqualTo("Vdev  BE  handle state evt-ch ring-ref BE-path                       "));
        Assert.That(lines[1], Is.EqualTo($"51712 0   {d.DomId,-6} 1     -1     -1       /local/domain/0/backend/vbd/{d.DomId}/51712"));
        Assert.That(lines, Has.Length.EqualTo(3));
    }

    [Test]
    public async Task BlockListGoesOnPastAnUnknownDomain()
    {
        var d = Create("web");
        _daemon.Toolstack.AttachDisk(d.DomId, DiskSpec.Parse("/srv/a.img,raw,xvda,rw"));
        var run = await _daemon.RunXlAsync(["block-list", "nosuch", "web"]);
        Assert.That(run.ExitCode, Is.EqualTo(0));
        Assert.That(run.Error, Does.Contain("nosuch is an invalid domain identifier"));
        Assert.That(run.Out.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(2));
    }

    [Test]
    public async Task BlockDetachPassesTheDeviceAndForce()
    {
        var d = Create("web");
        _daemon.Toolstack.AttachDisk(d.DomId, DiskSpec.Parse("/srv/a.img,raw,xvda,rw"));
        var run = await _daemon.RunXlAsync(["block-detach", "-f", "web", "xvda"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(_daemon.Toolstack.DetachRequests, Is.EqualTo(new[] { (d.DomId, "xvda", true) }));
        Assert.That(_daemon.Toolstack.Disks[d.DomId], Is.Empty);
    }

    [Test]
    public async Task BlockDetachOfAnUnknownDeviceSaysItIsNotConnected()
    {
        Create("web");
        var run = await _daemon.RunXlAsync(["block-detach", "web", "xvdz"]);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Error, Is.EqualTo("Error: Device xvdz not connected." + Environment.NewLine));
    }

    [Test]
    public async Task OtherCommandsStillRefuseDryRun()
    {
        var run = await _daemon.RunXlAsync(["-N", "block-list", "0"]);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Error, Does.Contain("does not implement -N"));
    }
}
