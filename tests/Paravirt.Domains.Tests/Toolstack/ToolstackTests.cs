using NUnit.Framework;
using Paravirt.Domains.Toolstack;
using Paravirt.Hypervisor.Events;

namespace Paravirt.Domains.Tests.Toolstack;

public class ToolstackTests
{
    [Test]
    public void CreatePublishesTheDomainInXenstoreAsLibxlDoes()
    {
        using var f = new ToolstackFixture();
        var info = f.Toolstack.Create(f.Config("web"), paused: true);
        string dom = $"/local/domain/{info.DomId}";
        Assert.Multiple(() =>
        {
            Assert.That(f.XenStore.ReadString(0, $"{dom}/name"), Is.EqualTo("web"));
            Assert.That(f.XenStore.ReadString(0, $"{dom}/domid"), Is.EqualTo(info.DomId.ToString()));
            Assert.That(f.XenStore.ReadString(0, $"{dom}/memory/target"), Is.EqualTo((32 * 1024).ToString()));
            Assert.That(f.XenStore.ReadString(0, $"{dom}/vm"), Is.EqualTo($"/vm/{info.Uuid}"));
            Assert.That(f.XenStore.ReadString(0, $"{dom}/console/port"), Is.EqualTo("2"));
            Assert.That(f.XenStore.ReadString(0, $"{dom}/store/port"), Is.EqualTo("1"));
            // The guest can read its own subtree (relative path "domid" works for it).
            Assert.That(f.XenStore.ReadString((ushort)info.DomId, $"{dom}/domid"), Is.EqualTo(info.DomId.ToString()));
        });
    }

    [Test]
    public void AGuestCannotReadAnotherGuestsSubtree()
    {
        using var f = new ToolstackFixture();
        var a = f.Toolstack.Create(f.Config("a"), paused: true);
        var b = f.Toolstack.Create(f.Config("b"), paused: true);
        var e = Assert.Throws<Paravirt.Domains.XenStore.XenStoreException>(() => f.XenStore.ReadString((ushort)a.DomId, $"/local/domain/{b.DomId}/name"))!;
        Assert.That(e.Message, Does.Contain("EACCES"));
    }

    [Test]
    public void ListShowsDomain0AndTheNewDomainPaused()
    {
        using var f = new ToolstackFixture();
        var info = f.Toolstack.Create(f.Config("web"), paused: true);
        var list = f.Toolstack.List();
        Assert.That(list.Select(d => d.Name), Is.EqualTo(new[] { "Domain-0", "web" }));
        Assert.That(list[1].State, Is.EqualTo("--p---"));
        Assert.That(list[1].MemoryMiB, Is.EqualTo(32));
        Assert.That(f.Toolstack.Find("web").DomId, Is.EqualTo(info.DomId));
        Assert.That(f.Toolstack.Find(info.DomId.ToString()).Name, Is.EqualTo("web"));
    }

    [Test]
    public void DestroyReturnsEveryFramePortAndNode()
    {
        using var f = new ToolstackFixture();
        var free = f.Hv.Frames.FreeFrames;
        var dom0Ports = f.Hv.Dom0.EventChannels.OpenPorts;
        var nodes = f.XenStore.NodeCount;
        var info = f.Toolstack.Create(f.Config(), paused: true);
        f.Toolstack.Destroy(info.DomId);
        Assert.Multiple(() =>
        {
            Assert.That(f.Hv.Frames.FreeFrames, Is.EqualTo(free));
            Assert.That(f.Hv.Dom0.EventChannels.OpenPorts, Is.EqualTo(dom0Ports));
            Assert.That(f.XenStore.NodeCount, Is.EqualTo(nodes));
            Assert.That(f.Toolstack.List().Select(d => d.Name), Is.EqualTo(new[] { "Domain-0" }));
        });
    }

    private static readonly object[] BadKernels =
    [
        new object[] { "not ELF", "kernel.txt", "just some text, certainly not an ELF image at all................."u8.ToArray(), "not an ELF image" },
        new object[] { "no Xen notes", "true", System.IO.File.ReadAllBytes("/bin/true"), "no Xen ELF notes" },
    ];

    [TestCaseSource(nameof(BadKernels))]
    public void ARefusedKernelLeavesNoTrace(string what, string file, byte[] bytes, string message)
    {
        using var f = new ToolstackFixture();
        var free = f.Hv.Frames.FreeFrames;
        var nodes = f.XenStore.NodeCount;
        var e = Assert.Throws<ToolstackException>(() => f.Toolstack.Create(f.Config(kernel: f.File(file, bytes)), paused: true))!;
        Assert.That(e.Message, Does.Contain(message), what);
        Assert.That(f.Hv.Frames.FreeFrames, Is.EqualTo(free));
        Assert.That(f.XenStore.NodeCount, Is.EqualTo(nodes));
        Assert.That(f.Hv.Domains, Has.Count.EqualTo(1));
    }

    [Test]
    public void MemoryTooSmallForTheKernelLeavesNoTrace()
    {
        using var f = new ToolstackFixture();
        var free = f.Hv.Frames.FreeFrames;
        var e = Assert.Throws<ToolstackException>(() => f.Toolstack.Create(f.Config(memory: 1), paused: true))!;
        Assert.That(e.Message, Does.Contain("memory"));
        Assert.That(f.Hv.Frames.FreeFrames, Is.EqualTo(free));
        Assert.That(f.Hv.Dom0.EventChannels.OpenPorts, Is.Zero);
        Assert.That(f.Hv.Domains, Has.Count.EqualTo(1));
    }

    [Test]
    public void MemoryLargerThanTheHostPoolIsRefused()
    {
        using var f = new ToolstackFixture(frames: 4096);
        var e = Assert.Throws<ToolstackException>(() => f.Toolstack.Create(f.Config(memory: 64), paused: true))!;
        Assert.That(e.Message, Does.Contain("not enough free host memory"));
        Assert.That(f.Hv.Domains, Has.Count.EqualTo(1));
    }

    [Test]
    public void NamesAreUnique()
    {
        using var f = new ToolstackFixture();
        f.Toolstack.Create(f.Config("same"), paused: true);
        Assert.That(Assert.Throws<ToolstackException>(() => f.Toolstack.Create(f.Config("same"), paused: true))!.Message, Does.Contain("already exists"));
    }

    [TestCase("nosuch")]
    [TestCase("4000")]
    [TestCase("65535")]
    public void AnUnknownDomainIsAnInvalidIdentifier(string id) =>
        Assert.That(Assert.Throws<ToolstackException>(() => f_Find(id))!.Message, Does.StartWith($"{id} is an invalid domain identifier"));

    private static void f_Find(string id)
    {
        using var f = new ToolstackFixture();
        f.Toolstack.Find(id);
    }

    [Test]
    public void Domain0CannotBeDestroyed()
    {
        using var f = new ToolstackFixture();
        Assert.Throws<ToolstackException>(() => f.Toolstack.Destroy(0));
    }

    [Test]
    public void PoweroffDestroysTheDomainAndEndsItsConsoleSessions()
    {
        using var f = new ToolstackFixture();
        var info = f.Toolstack.Create(f.Config(), paused: true);
        using var session = f.Toolstack.AttachConsole(info.DomId);
        f.Hv.ShutdownDomain(f.Hv.GetDomain((ushort)info.DomId)!, Hypervisor.ShutdownReason.Poweroff);
        Assert.That(session.End.Wait(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(session.End.Result.Reason, Is.EqualTo(ShutdownReason.Poweroff));
        Assert.That(f.Hv.GetDomain((ushort)info.DomId), Is.Null);
    }

    [Test]
    public void ConsoleOutputWrittenBeforeAttachIsReplayed()
    {
        using var f = new ToolstackFixture();
        var info = f.Toolstack.Create(f.Config(), paused: true);
        var d = f.Hv.GetDomain((ushort)info.DomId)!;
        ulong ring = ulong.Parse(f.XenStore.ReadString(0, $"/local/domain/{info.DomId}/console/ring-ref"));
        // Play the guest: put "hi\n" in out[] and bump out_prod, then notify on port 2.
        var page = f.Memory.FrameForWrite(ring);
        "hi\n"u8.CopyTo(page[1024..]);
        BitConverter.TryWriteBytes(page[3084..], 3u);
        Assert.That(EventChannelTable.Send(d, 2), Is.Zero);
        Assert.That(SpinWait.SpinUntil(() => f.Consoled.Get(d.Id)!.HistorySnapshot().Length == 3, 5000), Is.True);
        using var session = f.Toolstack.AttachConsole(info.DomId);
        Assert.That(session.Output.TryRead(out var first), Is.True);
        Assert.That(first, Is.EqualTo("hi\n"u8.ToArray()));
        Assert.That(BitConverter.ToUInt32(f.Memory.FrameForRead(ring)[3080..]), Is.EqualTo(3), "out_cons advanced");
    }
}
