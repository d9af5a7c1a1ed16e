using NUnit.Framework;
using Paravirt.Domains.Backends;
using Paravirt.Domains.Block;
using Paravirt.Domains.Tests.Toolstack;
using Paravirt.Domains.Toolstack;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Tests.Block;

/// <summary>Disks from the domain configuration and hot-plugged ones, through the real toolstack and blkback.</summary>
public class ToolstackDiskTests
{
    private static string Image(ToolstackFixture f, string name, long bytes = 1 << 20)
    {
        string p = Path.Combine(f.Dir, name);
        using (var s = new FileStream(p, FileMode.Create)) s.SetLength(bytes);
        return p;
    }

    private static TestFrontend Frontend(ToolstackFixture f, uint domId, uint devid)
    {
        var d = f.Hv.GetDomain((ushort)domId)!;
        // The front-end's pages sit at the top of the guest's memory, clear of the built kernel.
        return new TestFrontend(f.Memory, f.XenStore, d, devid, firstPfn: (ulong)d.P2m.Length - 600);
    }

    [Test]
    public void DisksOfTheConfigGetLibxlsNodesAndABackendWaitingInInitWait()
    {
        using var f = new ToolstackFixture();
        var config = f.Config("web");
        string img = Image(f, "web.img");
        config.Disks.Add(DiskSpec.Parse($"format=raw, vdev=xvda, access=rw, target={img}"));
        config.Disks.Add(DiskSpec.Parse($"untrusted,{Image(f, "cd.img")},raw,xvdb,ro"));
        var info = f.Toolstack.Create(config, paused: true);
        string be = $"/local/domain/0/backend/vbd/{info.DomId}/51712", fe = $"/local/domain/{info.DomId}/device/vbd/51712";
        Assert.Multiple(() =>
        {
            Assert.That(f.XenStore.ReadString(0, $"{be}/frontend"), Is.EqualTo(fe));
            Assert.That(f.XenStore.ReadString(0, $"{be}/frontend-id"), Is.EqualTo(info.DomId.ToString()));
            Assert.That(f.XenStore.ReadString(0, $"{be}/params"), Is.EqualTo(img));
            Assert.That(f.XenStore.ReadString(0, $"{be}/mode"), Is.EqualTo("w"));
            Assert.That(f.XenStore.ReadString(0, $"{be}/dev"), Is.EqualTo("xvda"));
            Assert.That(f.XenStore.ReadString(0, $"{be}/state"), Is.EqualTo("2"));
            Assert.That(f.XenStore.ReadString(0, $"{fe}/backend"), Is.EqualTo(be));
            Assert.That(f.XenStore.ReadString(0, $"{fe}/backend-id"), Is.EqualTo("0"));
            Assert.That(f.XenStore.ReadString(0, $"{fe}/virtual-device"), Is.EqualTo("51712"));
            Assert.That(f.XenStore.ReadString(0, $"{fe}/state"), Is.EqualTo("1"));
            Assert.That(f.XenStore.ReadString((ushort)info.DomId, $"{be}/state"), Is.EqualTo("2"), "the guest can read its back-end");
            Assert.That(f.XenStore.ReadString(0, $"/local/domain/0/backend/vbd/{info.DomId}/51728/mode"), Is.EqualTo("r"));
            Assert.That(f.XenStore.ReadString(0, $"{fe}/trusted"), Is.EqualTo("1"), "libxl's default: trusted");
            Assert.That(f.XenStore.ReadString(0, $"/local/domain/{info.DomId}/device/vbd/51728/trusted"), Is.EqualTo("0"));
        });
        Assert.That(f.Toolstack.ListDisks(info.DomId).Select(d => d.Vdev), Is.EqualTo(new[] { "xvda", "xvdb" }));
    }

    [Test]
    public void AGuestOfTheToolstackDoesIoAndDestroyLeavesNothingBehind()
    {
        using var f = new ToolstackFixture();
        ulong free = f.Hv.Frames.FreeFrames;
        int ports = f.Hv.Dom0.EventChannels.OpenPorts;
        int nodes = f.XenStore.NodeCount;
        var config = f.Config("io");
        string img = Image(f, "io.img");
        config.Disks.Add(DiskSpec.Parse($"vdev=xvda, target={img}"));
        var info = f.Toolstack.Create(config, paused: true);
        var fe = Frontend(f, info.DomId, 51712);
        fe.Connect(persistent: true);
        var data = new byte[11 * 4096];
        new Random(4).NextBytes(data);
        Assert.That(fe.WriteBlocks(0, data), Is.All.EqualTo(BlkifStatus.Okay));
        Assert.That(File.ReadAllBytes(img).AsSpan(0, data.Length).ToArray(), Is.EqualTo(data));
        var listed = f.Toolstack.ListDisks(info.DomId).Single();
        Assert.That(listed.State, Is.EqualTo(4));
        Assert.That(listed.EventChannel, Is.EqualTo((int)fe.Port));

        // Destroy with requests in flight.
        for (int i = 0; i < 20; i++)
            fe.Put(TestFrontend.Request(BlkifOp.Write, (ulong)i, (ulong)i * 8, [TestFrontend.Segment(fe.Data(0).Gref)]));
        fe.Push();
        f.Toolstack.Destroy(info.DomId);
        Assert.Multiple(() =>
        {
            Assert.That(f.Hv.Dom0.Grants.ActiveMappings, Is.Zero);
            Assert.That(f.Hv.Dom0.EventChannels.OpenPorts, Is.EqualTo(ports));
            Assert.That(f.Hv.Frames.FreeFrames, Is.EqualTo(free));
            Assert.That(f.XenStore.NodeCount, Is.EqualTo(nodes));
            Assert.That(f.Toolstack.BlkBackDriver.Devices, Is.Empty);
        });
    }

    [Test]
    public void ACdromIsReadOnlyRemovableAndSaysSo()
    {
        using var f = new ToolstackFixture();
        var info = f.Toolstack.Create(f.Config("cd"), paused: true);
        string iso = Image(f, "cd.iso");
        f.Toolstack.AttachDisk(info.DomId, DiskSpec.Parse($"{iso},,hdc,cdrom"));
        uint devid = (22u << 8);
        var fe = Frontend(f, info.DomId, devid);
        fe.Connect();
        Assert.Multiple(() =>
        {
            Assert.That(fe.BackendNode("device-type"), Is.EqualTo("cdrom"));
            Assert.That(fe.BackendNode("mode"), Is.EqualTo("r"));
            Assert.That(fe.BackendNode("removable"), Is.EqualTo("1"));
            Assert.That(fe.BackendNode("info"), Is.EqualTo("7"), "VDISK_CDROM | VDISK_REMOVABLE | VDISK_READONLY");
        });
        Assert.That(fe.WriteBlocks(0, new byte[4096]), Is.All.EqualTo(BlkifStatus.Error));
    }

    [Test]
    public void BlockAttachListAndDetachOnARunningDomain()
    {
        using var f = new ToolstackFixture();
        var info = f.Toolstack.Create(f.Config("hot"), paused: true);
        int nodes = f.XenStore.NodeCount;
        string img = Image(f, "hot.img");
        f.Toolstack.AttachDisk(info.DomId, DiskSpec.Parse($"{img},raw,xvdc,rw"));
        var disk = f.Toolstack.ListDisks(info.DomId).Single();
        Assert.That(disk.DevId, Is.EqualTo(51744u));
        Assert.That(disk.BackendPath, Is.EqualTo($"/local/domain/0/backend/vbd/{info.DomId}/51744"));
        Assert.That(disk.State, Is.EqualTo(1));
        Assert.That(disk.EventChannel, Is.EqualTo(-1));
        var e = Assert.Throws<ToolstackException>(() => f.Toolstack.AttachDisk(info.DomId, DiskSpec.Parse($"{img},raw,xvdc,rw")))!;
        Assert.That(e.Message, Does.Contain("already"));
        f.Toolstack.DetachDisk(info.DomId, "xvdc", force: false);
        Assert.That(f.Toolstack.ListDisks(info.DomId), Is.Empty);
        Assert.That(f.XenStore.NodeCount, Is.EqualTo(nodes + 1), "only the emptied device/vbd directory remains in the guest's tree");
        Assert.That(f.Toolstack.BlkBackDriver.Devices, Is.Empty);
        e = Assert.Throws<ToolstackException>(() => f.Toolstack.DetachDisk(info.DomId, "xvdc", force: false))!;
        Assert.That(e.Message, Is.EqualTo("Error: Device xvdc not connected."));
    }

    [Test]
    public void DetachOfAConnectedDiskAsksTheFrontendAndRemovesItWhenItCloses()
    {
        using var f = new ToolstackFixture();
        var info = f.Toolstack.Create(f.Config("det"), paused: true);
        string img = Image(f, "det.img");
        f.Toolstack.AttachDisk(info.DomId, DiskSpec.Parse($"vdev=xvda,target={img}"));
        var fe = Frontend(f, info.DomId, 51712);
        fe.Connect();
        var closer = Task.Run(() =>
        {
            // blkfront's reaction to its back-end going Closing.
            BlockTestBed.WaitUntil(() => fe.BackendNode("state") == "5", "the back-end to ask for a close");
            fe.SetState(XenbusState.Closed);
        });
        f.Toolstack.DetachDisk(info.DomId, "51712", force: false);
        closer.Wait();
        Assert.That(f.Hv.Dom0.Grants.ActiveMappings, Is.Zero);
        Assert.That(f.Toolstack.ListDisks(info.DomId), Is.Empty);
    }

    [TestCase("script=block-iscsi,vdev=xvda,target=iqn.x", "script=block-iscsi is not supported yet")]
    [TestCase("format=qcow2,vdev=xvda,target=/tmp/x.qcow2", "format=qcow2 is not supported")]
    [TestCase("vdev=xvda,target=/nonexistent/disk.img", "cannot open disk image /nonexistent/disk.img")]
    [TestCase("vdev=xvda,backendtype=qdisk,target=/tmp/x", "backendtype=qdisk is not supported")]
    [TestCase("vdev=xvda,backend=nosuchdomain,target=/tmp/x", "backend=nosuchdomain is an invalid domain identifier")]
    public void UnsupportedDisksAreRefusedWithOneLineAndLeaveNothing(string spec, string message)
    {
        using var f = new ToolstackFixture();
        ulong free = f.Hv.Frames.FreeFrames;
        int nodes = f.XenStore.NodeCount;
        var config = f.Config("bad");
        config.Disks.Add(DiskSpec.Parse(spec));
        var e = Assert.Throws<ToolstackException>(() => f.Toolstack.Create(config, paused: true))!;
        Assert.That(e.Message, Does.Contain(message));
        Assert.That(f.Hv.Frames.FreeFrames, Is.EqualTo(free));
        Assert.That(f.XenStore.NodeCount, Is.EqualTo(nodes));
        Assert.That(f.Toolstack.List(), Has.Count.EqualTo(1));
    }

    [Test]
    public void ASecondDiskThatFailsUndoesTheFirst()
    {
        using var f = new ToolstackFixture();
        int nodes = f.XenStore.NodeCount;
        var config = f.Config("half");
        config.Disks.Add(DiskSpec.Parse($"vdev=xvda,target={Image(f, "ok.img")}"));
        config.Disks.Add(DiskSpec.Parse("vdev=xvdb,target=/nonexistent.img"));
        Assert.Throws<ToolstackException>(() => f.Toolstack.Create(config, paused: true));
        Assert.That(f.XenStore.NodeCount, Is.EqualTo(nodes));
        Assert.That(f.Toolstack.BlkBackDriver.Devices, Is.Empty);
    }

    [Test]
    public void ABackendInAnOrdinaryGuestIsRefused()
    {
        using var f = new ToolstackFixture();
        var other = f.Toolstack.Create(f.Config("notdd"), paused: true);
        var config = f.Config("client");
        config.Disks.Add(DiskSpec.Parse($"vdev=xvda,backend=notdd,target={Image(f, "c.img")}"));
        var e = Assert.Throws<ToolstackException>(() => f.Toolstack.Create(config, paused: true))!;
        Assert.That(e.Message, Does.Contain($"domain {other.DomId} is not a driver domain (create one with driver_domain=1)"));
    }

    [Test]
    public void TheSameImageCannotBeAttachedReadWriteTwice()
    {
        using var f = new ToolstackFixture();
        string img = Image(f, "shared.img");
        var a = f.Toolstack.Create(f.Config("a"), paused: true);
        var b = f.Toolstack.Create(f.Config("b"), paused: true);
        f.Toolstack.AttachDisk(a.DomId, DiskSpec.Parse($"vdev=xvda,target={img}"));
        var e = Assert.Throws<ToolstackException>(() => f.Toolstack.AttachDisk(b.DomId, DiskSpec.Parse($"vdev=xvda,access=ro,target={img}")))!;
        Assert.That(e.Message, Does.Contain("already in use"));
    }
}
