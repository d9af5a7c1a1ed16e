using NUnit.Framework;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Tests;

public class DomainLifecycleTests
{
    [Test]
    public void DestroyingADomainReturnsAllItsFramesToThePool()
    {
        using var f = new HypervisorFixture();
        var free = f.Hv.Frames.FreeFrames;
        var (d, _) = f.Build();
        Assert.That(f.Hv.Frames.FreeFrames, Is.EqualTo(free - 8192 - 1));
        f.Hv.DestroyDomain(d);
        Assert.That(f.Hv.Frames.FreeFrames, Is.EqualTo(free));
        Assert.That(f.Hv.GetDomain(d.Id), Is.Null);
    }

    [Test]
    public void FramesAreScrubbedBeforeReuse()
    {
        using var f = new HypervisorFixture(frames: 9000);
        var (d, _) = f.Build();
        f.Hv.DestroyDomain(d);
        var d2 = f.Hv.CreateDomain("second", Guid.NewGuid(), 8192, 1);
        Assert.That(d2.P2m.All(mfn => f.Memory.FrameForRead(mfn).IndexOfAnyExcept((byte)0) < 0), Is.True);
    }

    [Test]
    public void MemoryBeyondThePoolIsRefusedAndLeavesNothingBehind()
    {
        using var f = new HypervisorFixture(frames: 4096);
        var free = f.Hv.Frames.FreeFrames;
        var e = Assert.Throws<HypervisorException>(() => f.Hv.CreateDomain("big", Guid.NewGuid(), 8192, 1))!;
        Assert.That(e.Errno, Is.EqualTo(XenErrno.ENOMEM));
        Assert.That(f.Hv.Frames.FreeFrames, Is.EqualTo(free));
        Assert.That(f.Hv.Domains.Count, Is.EqualTo(1));
    }

    [Test]
    public void DomainIdsAreNotReusedImmediately()
    {
        using var f = new HypervisorFixture();
        var a = f.Hv.CreateDomain("a", Guid.NewGuid(), 16, 1);
        f.Hv.DestroyDomain(a);
        var b = f.Hv.CreateDomain("b", Guid.NewGuid(), 16, 1);
        Assert.That(b.Id, Is.GreaterThan(a.Id));
    }

    [Test]
    public void ANewDomainIsPausedUntilUnpaused()
    {
        using var f = new HypervisorFixture();
        var (d, _) = f.Build();
        Assert.That(d.StateLetters[2], Is.EqualTo('p'));
        f.Hv.Unpause(d);
        Assert.That(d.IsPaused, Is.False);
        Assert.Throws<HypervisorException>(() => f.Hv.Unpause(d));
    }

    [Test]
    public void ShutdownIsReportedOnceWithTheFirstReason()
    {
        using var f = new HypervisorFixture();
        var (d, _) = f.Build();
        var seen = new List<ShutdownReason?>();
        f.Hv.DomainShutdown += dom => seen.Add(dom.ShutdownReason);
        f.Hv.ShutdownDomain(d, ShutdownReason.Poweroff);
        f.Hv.CrashDomain(d, "late crash");
        Assert.That(seen, Is.EqualTo(new ShutdownReason?[] { ShutdownReason.Poweroff }));
        Assert.That(d.StateLetters, Is.EqualTo("--ps--")); // built paused, then shut down
    }

    [Test]
    public void ACrashIsLoggedWithItsReasonAndRegisters()
    {
        using var f = new HypervisorFixture();
        var (d, _) = f.Build();
        f.Hv.CrashDomain(d, "d1v0 Unhandled page fault fault/trap [#14, ec=0002]");
        var log = f.Hv.Console.Read(clear: false);
        Assert.That(log, Does.Contain("(XEN) d1v0 Unhandled page fault"));
        Assert.That(log, Does.Contain("crashed"));
        Assert.That(log, Does.Contain("RIP: e033:[<ffffffff80000000>]"));
        Assert.That(d.StateLetters[4], Is.EqualTo('c'));
    }

    [Test]
    public void AForeignMappingKeepsItsFrameUntilUnmapped()
    {
        using var f = new HypervisorFixture();
        var free = f.Hv.Frames.FreeFrames;
        var (d, r) = f.Build();
        var map = f.Hv.MapForeignFrame(f.Hv.Dom0, d.Id, r.ConsoleMfn);
        f.Hv.DestroyDomain(d);
        Assert.That(f.Hv.Frames.FreeFrames, Is.EqualTo(free - 1));
        Assert.Throws<ObjectDisposedException>(() => _ = map.Span.Length);
        map.Dispose();
        Assert.That(f.Hv.Frames.FreeFrames, Is.EqualTo(free));
    }

    [Test]
    public void OnlyPrivilegedDomainsMapForeignFramesAndOnlyOfTheTarget()
    {
        using var f = new HypervisorFixture();
        var (a, ra) = f.Build();
        var (b, _) = f.Build();
        Assert.That(Assert.Throws<HypervisorException>(() => f.Hv.MapForeignFrame(a, b.Id, b.P2m[0]))!.Errno, Is.EqualTo(XenErrno.EPERM));
        Assert.That(Assert.Throws<HypervisorException>(() => f.Hv.MapForeignFrame(f.Hv.Dom0, b.Id, ra.ConsoleMfn))!.Errno, Is.EqualTo(XenErrno.EINVAL));
    }
}
