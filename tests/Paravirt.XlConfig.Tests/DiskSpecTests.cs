using NUnit.Framework;
using Paravirt.XlConfig;

namespace Paravirt.XlConfig.Tests;

/// <summary>xl-disk-configuration(5): every example in the document, and its rules.</summary>
public class DiskSpecTests
{
    // "For example, these strings are equivalent:"
    [TestCase("/dev/vg/guest-volume,,hda")]
    [TestCase("/dev/vg/guest-volume,raw,hda,rw")]
    [TestCase("format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume")]
    [TestCase("raw:/dev/vg/guest-volume,hda,w")]
    public void TheDocumentsFirstGroupIsOneDisk(string spec)
    {
        var d = DiskSpec.Parse(spec);
        Assert.That(d, Is.EqualTo(new DiskSpec { Target = "/dev/vg/guest-volume", Format = "raw", Vdev = "hda", ReadWrite = true }));
    }

    // "As are these:"
    [TestCase("/root/image.iso,,hdc,cdrom")]
    [TestCase("/root/image.iso,,hdc,,cdrom")]
    [TestCase("/root/image.iso,raw,hdc,devtype=cdrom")]
    [TestCase("format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso")]
    [TestCase("raw:/root/image.iso,hdc:cdrom,ro")]
    public void TheDocumentsCdromGroupIsOneDisk(string spec)
    {
        var d = DiskSpec.Parse(spec);
        Assert.That(d, Is.EqualTo(new DiskSpec { Target = "/root/image.iso", Format = "raw", Vdev = "hdc", ReadWrite = false, IsCdrom = true }));
    }

    [Test]
    public void AnEmptyCdromInXendsSyntaxHasNoTarget()
    {
        var d = DiskSpec.Parse(",hdc:cdrom,r");
        Assert.That(d, Is.EqualTo(new DiskSpec { Target = null, Vdev = "hdc", ReadWrite = false, IsCdrom = true }));
    }

    [Test]
    public void TargetEqualsTakesTheRestIncludingCommas() =>
        Assert.That(DiskSpec.Parse("vdev=xvda, target=/images/a,b.img ").Target, Is.EqualTo("/images/a,b.img "));

    [Test]
    public void ARelativeTargetIsUnderDev() => Assert.That(DiskSpec.Parse("vg/root,,xvda").Target, Is.EqualTo("/dev/vg/root"));

    [TestCase("tap:aio:/img/disk.img,xvda,w")]
    [TestCase("phy:/img/disk.img,xvda,w")]
    [TestCase("file:/img/disk.img,xvda,w")]
    public void DeprecatedPrefixesAreStripped(string spec)
    {
        var d = DiskSpec.Parse(spec);
        Assert.That(d.Target, Is.EqualTo("/img/disk.img"));
        Assert.That(d.Vdev, Is.EqualTo("xvda"));
    }

    [Test]
    public void AScriptPrefixNamesTheBlockScript()
    {
        var d = DiskSpec.Parse("iscsi:iqn.2001-05.com.example:disk,xvda,w");
        Assert.That(d.Script, Is.EqualTo("block-iscsi"));
        Assert.That(d.Target, Is.EqualTo("iqn.2001-05.com.example:disk"));
    }

    [Test]
    public void FlagsAndNamedKeysAreRead()
    {
        var d = DiskSpec.Parse("/img/a.img,qcow2,xvdb,ro,backend=driverdom,backendtype=qdisk,direct-io-safe,no-discard");
        Assert.Multiple(() =>
        {
            Assert.That(d.Format, Is.EqualTo("qcow2"));
            Assert.That(d.ReadWrite, Is.False);
            Assert.That(d.Backend, Is.EqualTo("driverdom"));
            Assert.That(d.BackendType, Is.EqualTo("qdisk"));
            Assert.That(d.DirectIoSafe, Is.True);
            Assert.That(d.Discard, Is.False);
        });
    }

    [TestCase("/img/a.img,,xvda,rw,vdev=xvdb", "vdev specified twice")]
    [TestCase("/img/a.img,vmdk,xvda", "unknown value for format: vmdk")]
    [TestCase("/img/a.img,,xvda,rx", "unknown value for access: rx")]
    [TestCase("/img/a.img,,,rw", "no vdev specified")]
    [TestCase("/img/a.img,,floppy0", "invalid vdev `floppy0'")]
    [TestCase("/img/a.img,,xvda,devtype=tape", "unknown value for devtype: tape")]
    [TestCase("/img/a.img,,xvda,colour=blue", "unknown keyword `colour'")]
    [TestCase("/img/a.img,,xvda,rw,extra", "too many positional parameters")]
    [TestCase("/img/a.img,,xvda,backendtype=nfs", "unknown value for backendtype: nfs")]
    [TestCase("vdev=xvda", "no target specified")]
    public void BadSpecsAreRefusedWithOneLine(string spec, string what)
    {
        var e = Assert.Throws<DiskSpecException>(() => DiskSpec.Parse(spec))!;
        Assert.That(e.Message, Does.Contain(what));
        Assert.That(e.Message, Does.Contain($"in `{spec}'"));
        Assert.That(e.Message, Does.Not.Contain("\n"));
    }

    [Test]
    public void LibxlJsonHasLibxlsFieldNames()
    {
        var j = DiskSpec.Parse("/img/a.img,raw,xvda,rw").ToLibxlJson();
        Assert.That((string?)j["pdev_path"], Is.EqualTo("/img/a.img"));
        Assert.That((string?)j["vdev"], Is.EqualTo("xvda"));
        Assert.That((int)j["readwrite"]!, Is.EqualTo(1));
        Assert.That((string?)j["backend"], Is.EqualTo("unknown"));
        Assert.That((string?)j["format"], Is.EqualTo("raw"));
    }

    [Test]
    public void RandomSpecsOnlyFailWithDiskSpecException()
    {
        var rng = new Random(7);
        string[] parts = ["/img/a.img", "", "raw", "xvda", "hdc:cdrom", "rw", "ro", "cdrom", "target=", "vdev=", "format=", "raw:", "tap:", ",", " ", "=", ":", "discard", "no-discard", "x"];
        for (int i = 0; i < 20000; i++)
        {
            var s = string.Concat(Enumerable.Range(0, rng.Next(1, 12)).Select(_ => parts[rng.Next(parts.Length)]));
            try { DiskSpec.Parse(s); } catch (DiskSpecException) { }
        }
        Assert.Pass();
    }
}
