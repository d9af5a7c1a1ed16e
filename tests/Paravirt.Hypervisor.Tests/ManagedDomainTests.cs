using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Grants;

namespace Paravirt.Hypervisor.Tests;

/// <summary>Managed domains besides Dom0 (driver domains): their own id, no privilege, no memory; they see only grants.</summary>
public class ManagedDomainTests
{
    [Test]
    public void AManagedDomainHasAFreshIdNoMemoryAndNoPrivilege()
    {
        using var f = new HypervisorFixture();
        ulong free = f.Hv.Frames.FreeFrames;
        var (guest, _) = f.Build();
        var dd = f.Hv.CreateManagedDomain("storage", Guid.NewGuid());
        Assert.Multiple(() =>
        {
            Assert.That(dd.Id, Is.Not.Zero.And.Not.EqualTo(guest.Id));
            Assert.That(dd.IsManaged, Is.True);
            Assert.That(dd.IsPrivileged, Is.False);
            Assert.That(dd.P2m, Is.Empty);
            Assert.That(dd.Vcpus, Is.Empty);
            Assert.That(f.Hv.GetDomain(dd.Id), Is.SameAs(dd));
        });
        f.Hv.DestroyDomain(dd);
        Assert.That(f.Hv.GetDomain(dd.Id), Is.Null);
        f.Hv.DestroyDomain(guest);
        Assert.That(f.Hv.Frames.FreeFrames, Is.EqualTo(free));
    }

    [Test]
    public void AManagedDomainMayNotMapAnotherDomainsFramesWithoutAGrant()
    {
        using var f = new HypervisorFixture();
        var (guest, _) = f.Build();
        var dd = f.Hv.CreateManagedDomain("storage", Guid.NewGuid());
        var e = Assert.Throws<HypervisorException>(() => f.Hv.MapForeignFrame(dd, guest.Id, guest.P2m[100]))!;
        Assert.That(e.Errno, Is.EqualTo(XenErrno.EPERM));
    }

    [Test]
    public void AManagedDomainMapsOnlyGrantsMadeOutToItAndItsDeathReleasesThem()
    {
        using var f = new HypervisorFixture();
        var (guest, _) = f.Build();
        var dd = f.Hv.CreateManagedDomain("storage", Guid.NewGuid());
        Span<ulong> frames = stackalloc ulong[1];
        Assert.That(GrantTable.SetupTable(guest, DomId.Self, 1, frames), Is.EqualTo(GrantStatus.Okay));
        ulong table = guest.Grants.Frames[0] << 12;
        ulong mfn = guest.P2m[4000];
        f.Memory.WriteUInt64(table + 8 * 8, GrantFlags.PermitAccess | ((ulong)dd.Id << 16) | (mfn << 32));
        f.Memory.WriteUInt64(table + 9 * 8, GrantFlags.PermitAccess | (0UL << 16) | (mfn << 32)); // to Dom0

        Assert.That(GrantTable.Map(dd, guest.Id, 9, GrantMapFlags.HostMap, 0, out _, out _), Is.EqualTo(GrantStatus.GeneralError), "not its grant");
        Assert.That(GrantTable.Map(dd, guest.Id, 8, GrantMapFlags.HostMap, 0, out uint handle, out _), Is.EqualTo(GrantStatus.Okay));
        dd.Grants.MappedFrame(handle)[0] = 0x5a;
        Assert.That(f.Memory.FrameForRead(mfn)[0], Is.EqualTo(0x5a));
        Assert.That((ushort)f.Memory.ReadUInt64(table + 8 * 8) & GrantFlags.Reading, Is.Not.Zero);

        f.Hv.DestroyDomain(dd);
        Assert.That((ushort)f.Memory.ReadUInt64(table + 8 * 8) & (GrantFlags.Reading | GrantFlags.Writing), Is.Zero, "no mapping outlives it");
    }

    [Test]
    public void DomainZeroStillCannotBeDestroyed()
    {
        using var f = new HypervisorFixture();
        var e = Assert.Throws<HypervisorException>(() => f.Hv.DestroyDomain(f.Hv.Dom0))!;
        Assert.That(e.Errno, Is.EqualTo(XenErrno.EPERM));
    }
}
