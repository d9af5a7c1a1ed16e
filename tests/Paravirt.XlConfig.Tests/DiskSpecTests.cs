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

    // "These might be specified in the domain config file like this:"
    [Test]
    public void TheDocumentsDiskListInAConfigFileIsTwoDisks()
    {
        string kernel = typeof(DiskSpecTests).Assembly.Location; // any existing file
        var file = XlConfigParser.Parse($"name = 'g'\nkernel = '{kernel}'\ndisk = [ '/dev/vg/guest-volume,,hda', '/root/image.iso,,hdc,cdrom' ]\n", "g.cfg");
        var disks = XlDomainConfigReader.Read(file, "/").Disks;
        Assert.That(disks, Is.EqualTo(new[]
        {
            new DiskSpec { Target = "/dev/vg/guest-volume", Vdev = "hda" },
            new DiskSpec { Target = "/root/image.iso", Vdev = "hdc", ReadWrite = false, IsCdrom = true },
        }));
    }

    // "[<format>:][<target>],<vdev>[:<devtype>],<access>   (deprecated)", and the prefixes that may be stacked on it:
    // "eg tap:aio:qcow:", "tap:aio:/some/path...".
    [TestCase("tap:aio:/some/path,xvda,w", "raw", null)]
    [TestCase("tap:aio:qcow:/some/path,xvda,w", "qcow", null)]
    [TestCase("qcow2:/some/path,xvda,w", "qcow2", null)]
    [TestCase("vhd:/some/path,xvda:disk,w", "vhd", null)]
    [TestCase("tapdisk:tap2:ioemu:file:phy:/some/path,xvda,w", "raw", null)]
    [TestCase("nbd:/some/path,xvda,w", "raw", "block-nbd")]
    [TestCase("enbd:/some/path,xvda,w", "raw", "block-enbd")]
    [TestCase("drbd:/some/path,xvda,w", "raw", "block-drbd")]
    public void TheDeprecatedSyntaxAndPrefixesAreRead(string spec, string format, string? script)
    {
        var d = DiskSpec.Parse(spec);
        Assert.That(d, Is.EqualTo(new DiskSpec { Target = "/some/path", Format = format, Vdev = "xvda", Script = script }));
    }

    [Test]
    public void AnUnknownDeprecatedPrefixIsRefusedAsXlDoes()
    {
        var e = Assert.Throws<DiskSpecException>(() => DiskSpec.Parse("cow:/some/path,xvda,w"))!;
        Assert.That(e.Message, Does.Contain("unknown deprecated disk prefix `cow:'"));
    }

    // Every value the document lists for each parameter.
    [TestCase("format=raw", nameof(DiskSpec.Format), "raw")]
    [TestCase("format=qcow", nameof(DiskSpec.Format), "qcow")]
    [TestCase("format=qcow2", nameof(DiskSpec.Format), "qcow2")]
    [TestCase("format=vhd", nameof(DiskSpec.Format), "vhd")]
    [TestCase("format=qed", nameof(DiskSpec.Format), "qed")]
    [TestCase("access=ro", nameof(DiskSpec.ReadWrite), false)]
    [TestCase("access=r", nameof(DiskSpec.ReadWrite), false)]
    [TestCase("access=rw", nameof(DiskSpec.ReadWrite), true)]
    [TestCase("access=w", nameof(DiskSpec.ReadWrite), true)]
    [TestCase("devtype=cdrom", nameof(DiskSpec.IsCdrom), true)]
    [TestCase("cdrom", nameof(DiskSpec.IsCdrom), true)]
    [TestCase("backend=driverdom", nameof(DiskSpec.Backend), "driverdom")]
    [TestCase("backendtype=phy", nameof(DiskSpec.BackendType), "phy")]
    [TestCase("backendtype=qdisk", nameof(DiskSpec.BackendType), "qdisk")]
    [TestCase("backendtype=standalone", nameof(DiskSpec.BackendType), "standalone")]
    [TestCase("backendtype=tap", nameof(DiskSpec.BackendType), "tap")]
    [TestCase("script=block-iscsi", nameof(DiskSpec.Script), "block-iscsi")]
    [TestCase("direct-io-safe", nameof(DiskSpec.DirectIoSafe), true)]
    [TestCase("discard", nameof(DiskSpec.Discard), true)]
    [TestCase("no-discard", nameof(DiskSpec.Discard), false)]
    [TestCase("trusted", nameof(DiskSpec.Trusted), true)]
    [TestCase("untrusted", nameof(DiskSpec.Trusted), false)]
    [TestCase("specification=xen", nameof(DiskSpec.Specification), "xen")]
    [TestCase("specification=virtio", nameof(DiskSpec.Specification), "virtio")]
    [TestCase("grant_usage=1", nameof(DiskSpec.GrantUsage), true)]
    [TestCase("grant_usage=0", nameof(DiskSpec.GrantUsage), false)]
    [TestCase("colo", nameof(DiskSpec.Colo), true)]
    public void EveryDocumentedValueIsRead(string parameter, string property, object expected)
    {
        var d = DiskSpec.Parse($"{parameter}, vdev=xvda, target=/img/a.img");
        Assert.That(typeof(DiskSpec).GetProperty(property)!.GetValue(d), Is.EqualTo(expected));
    }

    [Test]
    public void TheColoParametersAreRead() =>
        Assert.DoesNotThrow(() => DiskSpec.Parse("colo,colo-host=192.168.1.2,colo-port=9000,colo-export=e,active-disk=/a,hidden-disk=/h,vdev=xvda,target=/img"));

    // "Default values apply if the parameter is not specified, or if it is specified with an empty value (whether
    // positionally or explicitly)."
    [TestCase("/img/a.img,,xvda,,format=")]
    [TestCase("/img/a.img,,xvda,rw,format=raw")]
    [TestCase("/img/a.img,raw,xvda,rw,format=raw")]
    [TestCase("format=,vdev=xvda,access=,target=/img/a.img")]
    public void AnEmptyValueIsTheDefaultAndMayBeGivenAgain(string spec) =>
        Assert.That(DiskSpec.Parse(spec), Is.EqualTo(new DiskSpec { Target = "/img/a.img", Vdev = "xvda" }));

    [Test]
    public void DevtypeDiskIsAPlainDisk() =>
        Assert.That(DiskSpec.Parse("/img/a.img,,hdc,devtype=disk").IsCdrom, Is.False);

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
    [TestCase("/img/a.img,raw,xvda,format=qcow2", "format specified twice")]
    [TestCase("/img/a.img,,xvda,specification=scsi", "unknown value for specification: scsi")]
    [TestCase("/img/a.img,,xvda,grant_usage=2", "unknown value for grant_usage: 2")]
    [TestCase("/img/a.img,,xvda,trusted,untrusted", "trusted and untrusted both given")]
    [TestCase("/img/a.img,,xvda,colo-port=none", "unknown value for colo_port: none")]
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
    public void LibxlJsonCarriesSpecificationTrustAndGrantUsageOnlyWhenGiven()
    {
        var plain = DiskSpec.Parse("/img/a.img,raw,xvda,rw").ToLibxlJson();
        Assert.That(plain.ContainsKey("specification") || plain.ContainsKey("trusted") || plain.ContainsKey("grant_usage"), Is.False);
        var j = DiskSpec.Parse("vdev=xvda,specification=xen,untrusted,grant_usage=1,target=/img/a.img").ToLibxlJson();
        Assert.That((string?)j["specification"], Is.EqualTo("xen"));
        Assert.That((string?)j["trusted"], Is.EqualTo("False"));
        Assert.That((string?)j["grant_usage"], Is.EqualTo("True"));
        Assert.That(j.Properties().Select(p => p.Name).TakeLast(3), Is.EqualTo(new[] { "specification", "trusted", "grant_usage" }));
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
