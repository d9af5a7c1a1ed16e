using System.Collections.Concurrent;
using NUnit.Framework;
using Paravirt.Domains.Backends;
using Paravirt.Domains.Block;
using Paravirt.Domains.Tests.Toolstack;
using Paravirt.Domains.Toolstack;
using Paravirt.Domains.XenStore;
using Paravirt.Hypervisor.Events;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Tests.Block;

/// <summary>
/// Driver domains (xl.cfg driver_domain=1) through the real toolstack: a managed domain with its own id, name and
/// xenstore home whose blkback serves the guests' disks that say backend=&lt;it&gt;, seeing only what they grant it.
/// </summary>
public class DriverDomainTests
{
    private static string Image(ToolstackFixture f, string name, long bytes = 1 << 20)
    {
        string p = Path.Combine(f.Dir, name);
        using (var s = new FileStream(p, FileMode.Create)) s.SetLength(bytes);
        return p;
    }

    private static DomainConfig DriverConfig(string name) => new() { Name = name, DriverDomain = true };

    private static TestFrontend Frontend(ToolstackFixture f, uint domId, uint devid, ushort backendId)
    {
        var d = f.Hv.GetDomain((ushort)domId)!;
        return new TestFrontend(f.Memory, f.XenStore, d, devid, firstPfn: (ulong)d.P2m.Length - 600, backendId: backendId);
    }

    /// <summary>A driver domain, and a guest whose xvda is served by it (named as <paramref name="backend"/>, default its name).</summary>
    private static (DomainInfo Dd, DomainInfo Guest, string Image) GuestOnDriverDomain(ToolstackFixture f, string? backend = null)
    {
        var dd = f.Toolstack.Create(DriverConfig("storage"), paused: false);
        var config = f.Config("client");
        string img = Image(f, "client.img");
        config.Disks.Add(DiskSpec.Parse($"vdev=xvda,backend={backend ?? "storage"},target={img}"));
        var guest = f.Toolstack.Create(config, paused: true);
        return (dd, guest, img);
    }

    [Test]
    public void ADriverDomainHasItsOwnIdNameAndXenstoreHomeAndIsAnUnprivilegedManagedDomain()
    {
        using var f = new ToolstackFixture();
        var dd = f.Toolstack.Create(DriverConfig("storage"), paused: false);
        var d = f.Hv.GetDomain((ushort)dd.DomId)!;
        string home = $"/local/domain/{dd.DomId}";
        Assert.Multiple(() =>
        {
            Assert.That(dd.DomId, Is.Not.Zero);
            Assert.That(d.IsManaged, Is.True);
            Assert.That(d.IsPrivileged, Is.False);
            Assert.That(f.Toolstack.List().Select(x => x.Name), Is.EqualTo(new[] { "Domain-0", "storage" }));
            Assert.That(f.Toolstack.Find("storage").DomId, Is.EqualTo(dd.DomId));
            Assert.That(f.XenStore.ReadString(0, $"{home}/name"), Is.EqualTo("storage"));
            Assert.That(f.XenStore.ReadString(0, $"{home}/domid"), Is.EqualTo(dd.DomId.ToString()));
            Assert.That(f.XenStore.ReadString((ushort)dd.DomId, $"{home}/name"), Is.EqualTo("storage"), "it reads its home");
            Assert.That(f.XenStore.IsDomainIntroduced((ushort)dd.DomId), Is.True);
            Assert.That(f.Toolstack.ConfigOf(dd.DomId)!.DriverDomain, Is.True);
        });
        var e = Assert.Throws<XenStoreException>(() => f.XenStore.Write((ushort)dd.DomId, $"{home}/name", "dom0"))!;
        Assert.That(e.Errno, Is.EqualTo(XsErrno.EACCES), "its name is the toolstack's");
        Assert.Throws<XenStoreException>(() => f.XenStore.ReadString((ushort)dd.DomId, "/local/domain/0/name"), "Dom0's tree is not its");
    }

    [TestCase(true, "kernel=/boot/vmlinuz is not used")]
    [TestCase(false, "a driver domain has no disks of its own")]
    public void ADriverDomainConfigWithAKernelOrDisksIsRefused(bool kernel, string message)
    {
        using var f = new ToolstackFixture();
        var c = DriverConfig("dd");
        if (kernel) c.Kernel = "/boot/vmlinuz";
        else c.Disks.Add(DiskSpec.Parse("vdev=xvda,target=/tmp/x.img"));
        var e = Assert.Throws<ToolstackException>(() => f.Toolstack.Create(c, paused: false))!;
        Assert.That(e.Message, Does.Contain(message));
        Assert.That(f.Toolstack.List(), Has.Count.EqualTo(1));
    }

    [Test]
    public void ADriverDomainRunsAtOnceCannotBePausedHasNoConsoleAndItsNameIsItsOwn()
    {
        using var f = new ToolstackFixture();
        var dd = f.Toolstack.Create(DriverConfig("dd"), paused: true); // xl create -c asks for paused; nothing to hold
        Assert.That(f.Toolstack.Find("dd").State, Does.Not.Contain('p'));
        Assert.That(Assert.Throws<ToolstackException>(() => f.Toolstack.Pause(dd.DomId))!.Message,
            Is.EqualTo($"cannot pause driver domain {dd.DomId}: it runs managed code, not vCPUs"));
        Assert.That(Assert.Throws<ToolstackException>(() => f.Toolstack.AttachConsole(dd.DomId))!.Message, Does.Contain("has no console"));
        Assert.That(Assert.Throws<ToolstackException>(() => f.Toolstack.Create(DriverConfig("dd"), paused: false))!.Message,
            Does.Contain("already exists"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void ADiskWithBackendSetIsServedByTheDriverDomainNamedByNameOrId(bool byId)
    {
        using var f = new ToolstackFixture();
        var dd0 = f.Toolstack.Create(DriverConfig("storage"), paused: false);
        var config = f.Config("client");
        string img = Image(f, "client.img");
        config.Disks.Add(DiskSpec.Parse($"vdev=xvda,backend={(byId ? dd0.DomId.ToString() : "storage")},target={img}"));
        var guest = f.Toolstack.Create(config, paused: true);
        ushort be = (ushort)dd0.DomId, fe = (ushort)guest.DomId;
        string bePath = $"/local/domain/{be}/backend/vbd/{fe}/51712", fePath = $"/local/domain/{fe}/device/vbd/51712";
        Assert.Multiple(() =>
        {
            Assert.That(f.XenStore.ReadString(0, $"{bePath}/state"), Is.EqualTo("2"), "its blkback took the device to InitWait");
            Assert.That(f.XenStore.ReadString(0, $"{fePath}/backend"), Is.EqualTo(bePath));
            Assert.That(f.XenStore.ReadString(0, $"{fePath}/backend-id"), Is.EqualTo(be.ToString()));
            Assert.That(f.XenStore.GetPerms(0, bePath), Is.EqualTo(new[] { new XsPermission(be, XsPerm.None), new XsPermission(fe, XsPerm.Read) }));
            Assert.That(f.XenStore.GetPerms(0, fePath), Is.EqualTo(new[] { new XsPermission(fe, XsPerm.None), new XsPermission(be, XsPerm.Read) }));
            Assert.That(f.Toolstack.ListDisks(guest.DomId).Single().BackendId, Is.EqualTo((uint)be));
            Assert.That(f.Toolstack.ListDisks(guest.DomId).Single().BackendPath, Is.EqualTo(bePath));
            Assert.That(f.Toolstack.BlkBackDriver.Devices, Is.Empty, "Dom0's blkback does not serve it");
        });
    }

    [Test]
    public void TheDriverDomainReadsOnlyTheFrontEndDirectoriesOfDevicesItServes()
    {
        using var f = new ToolstackFixture();
        var (dd, guest, _) = GuestOnDriverDomain(f);
        var other = f.Toolstack.Create(f.Config("other"), paused: true);
        f.Toolstack.AttachDisk(other.DomId, DiskSpec.Parse($"vdev=xvdb,target={Image(f, "other.img")}")); // served by Dom0
        ushort be = (ushort)dd.DomId;
        Assert.That(f.XenStore.ReadString(be, $"/local/domain/{guest.DomId}/device/vbd/51712/state"), Is.EqualTo("1"));
        foreach (var path in new[]
                 {
                     $"/local/domain/{guest.DomId}/name", $"/local/domain/{other.DomId}/device/vbd/51728/state",
                     $"/local/domain/0/backend/vbd/{other.DomId}/51728/params",
                 })
        {
            var e = Assert.Throws<XenStoreException>(() => f.XenStore.ReadString(be, path), path)!;
            Assert.That(e.Errno, Is.EqualTo(XsErrno.EACCES), path);
        }
        Assert.Throws<XenStoreException>(() => f.XenStore.Write(be, $"/local/domain/{guest.DomId}/device/vbd/51712/state", "6"),
            "it may not write the front-end's state");
    }

    [Test]
    public void AGuestDoesIoThroughTheDriverDomainWhichMapsOnlyWhatTheGuestGrantedIt()
    {
        using var f = new ToolstackFixture();
        var (dd, guest, img) = GuestOnDriverDomain(f);
        var fe = Frontend(f, guest.DomId, 51712, (ushort)dd.DomId);
        fe.Connect(persistent: true);
        var data = new byte[11 * 4096];
        new Random(8).NextBytes(data);
        Assert.That(fe.WriteBlocks(0, data), Is.All.EqualTo(BlkifStatus.Okay));
        Assert.That(File.ReadAllBytes(img).AsSpan(0, data.Length).ToArray(), Is.EqualTo(data));
        Assert.That(f.Hv.GetDomain((ushort)dd.DomId)!.Grants.ActiveMappings, Is.GreaterThan(0), "the driver domain holds the mappings");
        Assert.That(f.Hv.Dom0.Grants.ActiveMappings, Is.Zero, "Dom0 holds none");

        // A grant made out to Dom0 instead is not the driver domain's to use.
        var (pfn, _) = fe.Data(0);
        var status = fe.Submit(TestFrontend.Request(BlkifOp.Write, 99, 0, [TestFrontend.Segment(fe.Grant(pfn, to: 0))]));
        Assert.That(status.Status, Is.EqualTo(BlkifStatus.Error));
    }

    [Test]
    public void DestroyingTheGuestReleasesEveryGrantPortAndNodeOfTheDriverDomain()
    {
        using var f = new ToolstackFixture();
        ulong free = f.Hv.Frames.FreeFrames;
        var (dd, guest, _) = GuestOnDriverDomain(f);
        var ddDomain = f.Hv.GetDomain((ushort)dd.DomId)!;
        int ddNodes = f.XenStore.NodeCount;
        var fe = Frontend(f, guest.DomId, 51712, (ushort)dd.DomId);
        fe.Connect(persistent: true);
        Assert.That(fe.WriteBlocks(0, new byte[8 * 4096]), Is.All.EqualTo(BlkifStatus.Okay));
        for (int i = 0; i < 10; i++)
            fe.Put(TestFrontend.Request(BlkifOp.Write, (ulong)i, (ulong)i * 8, [TestFrontend.Segment(fe.Data(0).Gref)]));
        fe.Push();

        f.Toolstack.Destroy(guest.DomId);
        Assert.Multiple(() =>
        {
            Assert.That(ddDomain.Grants.ActiveMappings, Is.Zero);
            Assert.That(ddDomain.EventChannels.OpenPorts, Is.Zero);
            Assert.That(f.XenStore.Directory(0, $"/local/domain/{dd.DomId}/backend/vbd"), Is.Empty);
            Assert.That(f.Toolstack.IsDriverDomain(dd.DomId), Is.True, "the driver domain lives on");
        });
        f.Toolstack.Destroy(dd.DomId);
        Assert.That(f.Hv.Frames.FreeFrames, Is.EqualTo(free));
        Assert.That(f.XenStore.NodeCount, Is.LessThan(ddNodes));
    }

    [Test]
    public void DestroyingTheDriverDomainClosesItsBackEndsAndLeavesNoMappingBehind()
    {
        using var f = new ToolstackFixture();
        int nodes = f.XenStore.NodeCount;
        var (dd, guest, _) = GuestOnDriverDomain(f);
        var fe = Frontend(f, guest.DomId, 51712, (ushort)dd.DomId);
        fe.Connect(persistent: true);
        Assert.That(fe.WriteBlocks(0, new byte[8 * 4096]), Is.All.EqualTo(BlkifStatus.Okay));
        Assert.That(fe.GrantsInUse, Is.Not.Zero, "persistent grants stay mapped");

        // What blkfront sees: its watch on the back-end's state node (read when it fires, as blkfront does).
        var seen = new ConcurrentQueue<string>();
        string state = $"{fe.BackendPath}/state";
        f.XenStore.Watch(fe.Id, state, "be-state", _ =>
        {
            try { seen.Enqueue(f.XenStore.ReadString(fe.Id, state)); }
            catch (XenStoreException) { seen.Enqueue("gone"); }
        });

        f.Toolstack.Destroy(dd.DomId);
        Assert.Multiple(() =>
        {
            Assert.That(seen, Does.Contain("5"), "Closing");
            Assert.That(seen, Does.Contain("6"), "Closed");
            Assert.That(seen.Last(), Is.EqualTo("gone"), "then the driver domain's nodes go");
            Assert.That(fe.GrantsInUse, Is.Zero, "no grant of the guest is mapped any more");
            Assert.That(fe.Domain.EventChannels.StateOf(fe.Port), Is.EqualTo(EventChannelState.Unbound), "the back-end's end of the channel closed");
            Assert.That(f.Hv.GetDomain((ushort)dd.DomId), Is.Null);
            Assert.That(f.Toolstack.List().Select(x => x.Name), Is.EqualTo(new[] { "Domain-0", "client" }));
            Assert.That(f.XenStore.IsDomainIntroduced((ushort)dd.DomId), Is.False);
        });
        // The guest keeps its disk entry (the front-end's directory) until it is detached.
        Assert.That(f.Toolstack.ListDisks(guest.DomId).Single().BackendId, Is.EqualTo(dd.DomId));
        f.Toolstack.DetachDisk(guest.DomId, "xvda", force: false); // nothing to ask: the back-end is gone
        f.Toolstack.Destroy(guest.DomId);
        Assert.That(f.XenStore.NodeCount, Is.EqualTo(nodes));
    }

    [Test]
    public void AttachingToADestroyedDriverDomainIsRefused()
    {
        using var f = new ToolstackFixture();
        var dd = f.Toolstack.Create(DriverConfig("storage"), paused: false);
        var guest = f.Toolstack.Create(f.Config("client"), paused: true);
        f.Toolstack.Destroy(dd.DomId);
        var e = Assert.Throws<ToolstackException>(() =>
            f.Toolstack.AttachDisk(guest.DomId, DiskSpec.Parse($"vdev=xvda,backend=storage,target={Image(f, "x.img")}")))!;
        Assert.That(e.Message, Does.Contain("backend=storage is an invalid domain identifier"));
    }

    [Test]
    public void ShuttingDownADriverDomainDestroysIt()
    {
        using var f = new ToolstackFixture();
        var dd = f.Toolstack.Create(DriverConfig("storage"), paused: false);
        f.Toolstack.Shutdown(dd.DomId, Domains.Toolstack.ShutdownReason.Poweroff, force: false);
        Assert.That(f.Toolstack.List(), Has.Count.EqualTo(1));
    }
}
