using System.Buffers.Binary;
using NUnit.Framework;
using Paravirt.Domains.Toolstack;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Tests.Toolstack;

/// <summary>Shutdown through control/shutdown with its fallbacks, rename, memory target/max and the on_* death actions.</summary>
public class ToolstackLifecycleTests
{
    private static DomainEnd WaitEnd(Task<DomainEnd> end)
    {
        Assert.That(end.Wait(TimeSpan.FromSeconds(10)), Is.True, "the domain did not end");
        return end.Result;
    }

    [Test]
    public void ShutdownWritesPoweroffToControlShutdown()
    {
        using var f = new ToolstackFixture();
        var d = f.Toolstack.Create(f.Config("web"), paused: true);
        f.Toolstack.Shutdown(d.DomId, ShutdownReason.Poweroff, force: false);
        Assert.That(f.XenStore.ReadString(0, $"/local/domain/{d.DomId}/control/shutdown"), Is.EqualTo("poweroff"));
    }

    [Test]
    public void RebootWritesRebootToControlShutdown()
    {
        using var f = new ToolstackFixture();
        var d = f.Toolstack.Create(f.Config("web"), paused: true);
        f.Toolstack.Shutdown(d.DomId, ShutdownReason.Reboot, force: false);
        Assert.That(f.XenStore.ReadString(0, $"/local/domain/{d.DomId}/control/shutdown"), Is.EqualTo("reboot"));
    }

    [Test]
    public void AGuestThatIgnoresControlShutdownIsStoppedAfterTheTimeout()
    {
        using var f = new ToolstackFixture();
        f.Toolstack.ShutdownTimeout = TimeSpan.FromMilliseconds(100);
        var d = f.Toolstack.Create(f.Config("web"), paused: true);
        var end = f.Toolstack.WaitForEnd(d.DomId);
        f.Toolstack.Shutdown(d.DomId, ShutdownReason.Poweroff, force: false);
        Assert.That(WaitEnd(end).Reason, Is.EqualTo(ShutdownReason.Poweroff));
        Assert.That(f.Hv.Console.Read(false), Does.Contain("forced poweroff"));
    }

    [Test]
    public void ForcedShutdownStopsAGuestWithoutFeaturePoweroffAtOnce()
    {
        using var f = new ToolstackFixture();
        var d = f.Toolstack.Create(f.Config("web"), paused: true);
        var end = f.Toolstack.WaitForEnd(d.DomId);
        f.Toolstack.Shutdown(d.DomId, ShutdownReason.Poweroff, force: true);
        Assert.That(WaitEnd(end).Reason, Is.EqualTo(ShutdownReason.Poweroff));
    }

    [Test]
    public void ForcedShutdownOfAGuestThatAdvertisesFeaturePoweroffUsesThePvProtocol()
    {
        using var f = new ToolstackFixture();
        var d = f.Toolstack.Create(f.Config("web"), paused: true);
        f.XenStore.Write((ushort)d.DomId, $"/local/domain/{d.DomId}/control/feature-poweroff", "1");
        f.Toolstack.Shutdown(d.DomId, ShutdownReason.Poweroff, force: true);
        Assert.That(f.XenStore.ReadString(0, $"/local/domain/{d.DomId}/control/shutdown"), Is.EqualTo("poweroff"));
        Assert.That(f.Toolstack.List().Any(x => x.DomId == d.DomId), Is.True);
    }

    [Test]
    public void RenameChangesXenstoreNamesAndLookup()
    {
        using var f = new ToolstackFixture();
        var d = f.Toolstack.Create(f.Config("old"), paused: true);
        f.Toolstack.Rename(d.DomId, "new");
        Assert.Multiple(() =>
        {
            Assert.That(f.XenStore.ReadString(0, $"/local/domain/{d.DomId}/name"), Is.EqualTo("new"));
            Assert.That(f.XenStore.ReadString(0, $"/vm/{d.Uuid}/name"), Is.EqualTo("new"));
            Assert.That(f.Toolstack.Find("new").DomId, Is.EqualTo(d.DomId));
            Assert.Throws<ToolstackException>(() => f.Toolstack.Find("old"));
        });
    }

    [Test]
    public void RenameToANameInUseIsRefused()
    {
        using var f = new ToolstackFixture();
        var a = f.Toolstack.Create(f.Config("a"), paused: true);
        f.Toolstack.Create(f.Config("b"), paused: true);
        Assert.Throws<ToolstackException>(() => f.Toolstack.Rename(a.DomId, "b"));
        Assert.That(f.XenStore.ReadString(0, $"/local/domain/{a.DomId}/name"), Is.EqualTo("a"));
    }

    [TestCase("")]
    [TestCase("12")]
    [TestCase("with space")]
    [TestCase("a/b")]
    public void RenameToAnUnusableNameIsRefused(string name)
    {
        using var f = new ToolstackFixture();
        var a = f.Toolstack.Create(f.Config("a"), paused: true);
        Assert.Throws<ToolstackException>(() => f.Toolstack.Rename(a.DomId, name));
    }

    [Test]
    public void MemSetWritesMemoryTarget()
    {
        using var f = new ToolstackFixture();
        var d = f.Toolstack.Create(f.Config("web"), paused: true);
        f.Toolstack.SetMemoryTarget(d.DomId, 16 * 1024);
        Assert.That(f.XenStore.ReadString(0, $"/local/domain/{d.DomId}/memory/target"), Is.EqualTo("16384"));
        Assert.That(f.Toolstack.Find("web").TargetKiB, Is.EqualTo(16384));
    }

    [Test]
    public void MemSetAboveTheMaximumIsRefusedAndLeavesTheTarget()
    {
        using var f = new ToolstackFixture();
        var d = f.Toolstack.Create(f.Config("web"), paused: true);
        Assert.Throws<ToolstackException>(() => f.Toolstack.SetMemoryTarget(d.DomId, 64 * 1024));
        Assert.That(f.XenStore.ReadString(0, $"/local/domain/{d.DomId}/memory/target"), Is.EqualTo("32768"));
    }

    [Test]
    public void MemMaxBelowTheTargetIsRefused()
    {
        using var f = new ToolstackFixture();
        var d = f.Toolstack.Create(f.Config("web"), paused: true);
        Assert.Throws<ToolstackException>(() => f.Toolstack.SetMaxMemory(d.DomId, 1024));
        f.Toolstack.SetMemoryTarget(d.DomId, 1024);
        f.Toolstack.SetMaxMemory(d.DomId, 1024);
        Assert.That(f.XenStore.ReadString(0, $"/local/domain/{d.DomId}/memory/static-max"), Is.EqualTo("1024"));
    }

    [Test]
    public void VcpuSetWritesCpuAvailability()
    {
        using var f = new ToolstackFixture();
        var d = f.Toolstack.Create(f.Config("web"), paused: true);
        f.Toolstack.SetOnlineVcpus(d.DomId, 1);
        Assert.That(f.XenStore.ReadString(0, $"/local/domain/{d.DomId}/cpu/0/availability"), Is.EqualTo("online"));
        Assert.Throws<ToolstackException>(() => f.Toolstack.SetOnlineVcpus(d.DomId, 2));
        Assert.Throws<ToolstackException>(() => f.Toolstack.SetOnlineVcpus(d.DomId, 0));
    }

    [Test]
    public void OnCrashCoredumpDestroyWritesAnElfCoreOfTheGuestMemory()
    {
        using var f = new ToolstackFixture();
        f.Toolstack.CoreDumpDirectory = Path.Combine(f.Dir, "dump");
        var config = f.Config("dumpme", memory: 4);
        config.OnCrash = DomainAction.CoredumpDestroy;
        var d = f.Toolstack.Create(config, paused: true);
        var end = f.Toolstack.WaitForEnd(d.DomId);
        f.Hv.CrashDomain(f.Hv.GetDomain((ushort)d.DomId)!, "test crash");
        Assert.That(WaitEnd(end).Reason, Is.EqualTo(ShutdownReason.Crash));
        string core = Directory.GetFiles(f.Toolstack.CoreDumpDirectory, $"*.dumpme.{d.DomId}.core").Single();
        var bytes = File.ReadAllBytes(core);
        Assert.Multiple(() =>
        {
            Assert.That(bytes[..4], Is.EqualTo(new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F' }));
            Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(16)), Is.EqualTo(4), "ET_CORE");
            Assert.That(bytes.Length, Is.EqualTo(4096 + 4 * 1024 * 1024), "one header page, then every guest page");
        });
        Assert.That(f.Toolstack.List().Any(x => x.DomId == d.DomId), Is.False);
    }

    [Test]
    public void OnCrashPreserveKeepsTheDomain()
    {
        using var f = new ToolstackFixture();
        var config = f.Config("keep");
        config.OnCrash = DomainAction.Preserve;
        var d = f.Toolstack.Create(config, paused: true);
        var end = f.Toolstack.WaitForEnd(d.DomId);
        f.Hv.CrashDomain(f.Hv.GetDomain((ushort)d.DomId)!, "test crash");
        WaitEnd(end);
        Assert.That(f.Toolstack.List().Single(x => x.DomId == d.DomId).State, Does.Contain("c"));
    }

    [Test]
    public void OnCrashRenameRestartKeepsTheOldDomainUnderXlsTimeSuffix()
    {
        using var f = new ToolstackFixture();
        var config = f.Config("phoenix");
        config.OnCrash = DomainAction.RenameRestart;
        var d = f.Toolstack.Create(config, paused: true);
        var end = f.Toolstack.WaitForEnd(d.DomId);
        f.Hv.CrashDomain(f.Hv.GetDomain((ushort)d.DomId)!, "test crash");
        WaitEnd(end);
        for (int i = 0; i < 200 && f.Toolstack.List().Count < 3; i++) Thread.Sleep(10);
        var names = f.Toolstack.List().Select(x => x.Name).ToList();
        Assert.That(names, Has.Count.EqualTo(3).And.Contains("Domain-0").And.Contains("phoenix"));
        Assert.That(names, Has.One.Match(@"^phoenix-\d{8}T\d{4}Z$"), "preserved under xl's -%Y%m%dT%H%MZ suffix");
        Assert.That(f.Toolstack.Find("phoenix").DomId, Is.Not.EqualTo(d.DomId));
    }

    [Test]
    public void CoreDumpSplitsSegmentsAtMissingFrames()
    {
        var p2m = new ulong[] { 10, 11, ulong.MaxValue, 12 };
        using var stream = new MemoryStream();
        CoreDump.Write(stream, p2m, (mfn, page) => page.Fill((byte)mfn));
        var bytes = stream.ToArray();
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(56)), Is.EqualTo(2), "e_phnum");
        ulong secondPaddr = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(64 + 56 + 24));
        Assert.That(secondPaddr, Is.EqualTo(3UL * 4096));
        Assert.That(bytes[4096 + 2 * 4096], Is.EqualTo(12), "the third page written is pfn 3's frame");
    }
}
