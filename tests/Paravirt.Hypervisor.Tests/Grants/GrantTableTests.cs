using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Grants;
using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor.Tests.Grants;

/// <summary>Grant tables v1 through the typed operations: setup, query, map/unmap, copy, versions, teardown.</summary>
public class GrantTableTests
{
    private HypervisorFixture _f = null!;
    private Domain _granter = null!;
    private Domain _grantee = null!;
    private Domain Dom0 => _f.Hv.Dom0;
    private const ulong SharedPfn = 4000;

    [SetUp]
    public void SetUp()
    {
        _f = new HypervisorFixture();
        _granter = _f.Build().Domain;
        _grantee = _f.Build().Domain;
        Span<ulong> frames = stackalloc ulong[1];
        Assert.That(GrantTable.SetupTable(_granter, DomId.Self, 1, frames), Is.EqualTo(GrantStatus.Okay));
    }

    [TearDown]
    public void TearDown() => _f.Dispose();

    private ulong SharedMfn => _granter.P2m[SharedPfn];

    /// <summary>What the granting guest writes: frame first, then flags+domid (as gnttab_grant_foreign_access).</summary>
    private void Grant(uint gref, ushort to, ulong mfn, ushort flags = GrantFlags.PermitAccess, Domain? granter = null)
    {
        var g = granter ?? _granter;
        ulong entry = (g.Grants.Frames[0] << 12) + gref * 8UL;
        _f.Memory.WriteUInt64(entry, flags | ((ulong)to << 16) | (mfn << 32));
    }

    private ushort EntryFlags(uint gref) => (ushort)_f.Memory.ReadUInt64((_granter.Grants.Frames[0] << 12) + gref * 8UL);

    [Test]
    public void SetupTableHandsOutZeroedFramesOwnedByTheDomain()
    {
        var frames = _granter.Grants.Frames;
        Assert.That(frames, Has.Length.EqualTo(1));
        Assert.That(_f.Hv.Frames.OwnerOf(frames[0]), Is.EqualTo(_granter.Id));
        Assert.That(_f.Memory.FrameForRead(frames[0]).ToArray(), Is.All.Zero);
    }

    [Test]
    public void SetupTableGrowsButNeverShrinksTheTable()
    {
        Span<ulong> frames = stackalloc ulong[4];
        Assert.That(GrantTable.SetupTable(_granter, DomId.Self, 4, frames), Is.EqualTo(GrantStatus.Okay));
        Assert.That(GrantTable.SetupTable(_granter, DomId.Self, 2, frames), Is.EqualTo(GrantStatus.Okay));
        Assert.That(_granter.Grants.FrameCount, Is.EqualTo(4));
    }

    [Test]
    public void SetupTablePastMaxGrantFramesIsAGeneralError()
    {
        var frames = new ulong[GrantTable.DefaultMaxFrames + 1];
        Assert.That(GrantTable.SetupTable(_granter, DomId.Self, (uint)frames.Length, frames), Is.EqualTo(GrantStatus.GeneralError));
        Assert.That(_granter.Grants.FrameCount, Is.EqualTo(1));
    }

    [Test]
    public void SetupTableForAnotherDomainIsPermissionDeniedToAGuest() =>
        Assert.That(GrantTable.SetupTable(_grantee, _granter.Id, 1, new ulong[1]), Is.EqualTo(GrantStatus.PermissionDenied));

    [Test]
    public void Dom0MaySetUpAGuestsTable() =>
        Assert.That(GrantTable.SetupTable(Dom0, _grantee.Id, 2, new ulong[2]), Is.EqualTo(GrantStatus.Okay));

    [Test]
    public void SetupTableForAMissingOrManagedDomainIsBadDomain()
    {
        Assert.That(GrantTable.SetupTable(Dom0, 4000, 1, new ulong[1]), Is.EqualTo(GrantStatus.BadDomain));
        Assert.That(GrantTable.SetupTable(Dom0, 0, 1, new ulong[1]), Is.EqualTo(GrantStatus.BadDomain));
    }

    [Test]
    public void QuerySizeReportsCurrentAndMaximumFrames()
    {
        Assert.That(GrantTable.QuerySize(_granter, DomId.Self, out var nr, out var max), Is.EqualTo(GrantStatus.Okay));
        Assert.That((nr, max), Is.EqualTo((1u, (uint)GrantTable.DefaultMaxFrames)));
        Assert.That(GrantTable.QuerySize(_grantee, _granter.Id, out _, out _), Is.EqualTo(GrantStatus.PermissionDenied));
        Assert.That(GrantTable.QuerySize(Dom0, 4000, out _, out _), Is.EqualTo(GrantStatus.BadDomain));
    }

    [Test]
    public void AManagedGranteeAndTheGranterSeeEachOthersWrites()
    {
        Grant(5, Dom0.Id, SharedMfn);
        Assert.That(GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap, 0, out var h, out _), Is.EqualTo(GrantStatus.Okay));
        var span = Dom0.Grants.MappedFrame(h);
        span[100] = 0xAB;
        Assert.That(_f.Memory.FrameForRead(SharedMfn)[100], Is.EqualTo(0xAB));
        _f.Memory.FrameForWrite(SharedMfn)[200] = 0xCD;
        Assert.That(Dom0.Grants.MappedFrame(h)[200], Is.EqualTo(0xCD));
    }

    [Test]
    public void AWritableMappingSetsReadingAndWritingUntilUnmapped()
    {
        Grant(5, Dom0.Id, SharedMfn);
        GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap, 0, out var h, out _);
        Assert.That(EntryFlags(5), Is.EqualTo(GrantFlags.PermitAccess | GrantFlags.Reading | GrantFlags.Writing));
        Assert.That(GrantTable.Unmap(Dom0, h, 0, 0), Is.EqualTo(GrantStatus.Okay));
        Assert.That(EntryFlags(5), Is.EqualTo(GrantFlags.PermitAccess));
    }

    [Test]
    public void AReadOnlyMappingSetsOnlyReadingAndRefusesAWritableSpan()
    {
        Grant(5, Dom0.Id, SharedMfn, GrantFlags.PermitAccess | GrantFlags.Readonly);
        Assert.That(GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap | GrantMapFlags.Readonly, 0, out var h, out _), Is.EqualTo(GrantStatus.Okay));
        Assert.That(EntryFlags(5) & (GrantFlags.Reading | GrantFlags.Writing), Is.EqualTo(GrantFlags.Reading));
        Assert.That(Dom0.Grants.MappedFrameReadOnly(h).Length, Is.EqualTo(4096));
        Assert.That(() => Dom0.Grants.MappedFrame(h), Throws.InvalidOperationException);
    }

    [Test]
    public void WritingStaysSetWhileAnyWritableMappingLives()
    {
        Grant(5, Dom0.Id, SharedMfn);
        GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap, 0, out var w, out _);
        GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap | GrantMapFlags.Readonly, 0, out var r, out _);
        GrantTable.Unmap(Dom0, r, 0, 0);
        Assert.That(EntryFlags(5), Is.EqualTo(GrantFlags.PermitAccess | GrantFlags.Reading | GrantFlags.Writing));
        GrantTable.Unmap(Dom0, w, 0, 0);
        Assert.That(EntryFlags(5), Is.EqualTo(GrantFlags.PermitAccess));
    }

    [Test]
    public void MappingWithoutHostOrDeviceFlagIsBadGntref()
    {
        Grant(5, Dom0.Id, SharedMfn);
        Assert.That(GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.Readonly, 0, out _, out _), Is.EqualTo(GrantStatus.BadGntref));
    }

    [Test]
    public void MappingARefPastTheTableIsBadGntref() =>
        Assert.That(GrantTable.Map(Dom0, _granter.Id, GrantTable.EntriesPerFrame, GrantMapFlags.HostMap, 0, out _, out _), Is.EqualTo(GrantStatus.BadGntref));

    [Test]
    public void MappingFromAMissingDomainIsBadDomain() =>
        Assert.That(GrantTable.Map(Dom0, 4000, 0, GrantMapFlags.HostMap, 0, out _, out _), Is.EqualTo(GrantStatus.BadDomain));

    [TestCase(GrantFlags.Invalid)]
    [TestCase(GrantFlags.AcceptTransfer)]
    public void MappingAnEntryThatDoesNotPermitAccessFailsAndLeavesItAlone(ushort flags)
    {
        Grant(5, Dom0.Id, SharedMfn, flags);
        Assert.That(GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap, 0, out _, out _), Is.EqualTo(GrantStatus.GeneralError));
        Assert.That(EntryFlags(5), Is.EqualTo(flags));
    }

    [Test]
    public void MappingAGrantMeantForAnotherDomainFails()
    {
        Grant(5, _grantee.Id, SharedMfn);
        Assert.That(GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap, 0, out _, out _), Is.EqualTo(GrantStatus.GeneralError));
        Assert.That(Dom0.Grants.ActiveMappings, Is.Zero);
    }

    [Test]
    public void WriteMappingAReadOnlyGrantFails()
    {
        Grant(5, Dom0.Id, SharedMfn, GrantFlags.PermitAccess | GrantFlags.Readonly);
        Assert.That(GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap, 0, out _, out _), Is.EqualTo(GrantStatus.GeneralError));
        Assert.That(EntryFlags(5), Is.EqualTo(GrantFlags.PermitAccess | GrantFlags.Readonly));
    }

    [Test]
    public void GrantingAFrameTheGranterDoesNotOwnFailsWithoutTrace()
    {
        Grant(5, Dom0.Id, _grantee.P2m[SharedPfn]);
        Assert.That(GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap, 0, out _, out _), Is.EqualTo(GrantStatus.GeneralError));
        Assert.That(EntryFlags(5), Is.EqualTo(GrantFlags.PermitAccess));
    }

    [Test]
    public void GrantingTheGrantTableItselfOrSharedInfoFails()
    {
        Grant(5, Dom0.Id, _granter.Grants.Frames[0]);
        Assert.That(GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap | GrantMapFlags.Readonly, 0, out _, out _), Is.EqualTo(GrantStatus.GeneralError));
        Grant(6, Dom0.Id, _granter.SharedInfoMfn);
        Assert.That(GrantTable.Map(Dom0, _granter.Id, 6, GrantMapFlags.HostMap, 0, out _, out _), Is.EqualTo(GrantStatus.GeneralError));
    }

    [Test]
    public void APageTableCanBeMappedReadOnlyButNeverWritable()
    {
        ulong root = _granter.Vcpus[0].Registers.Cr3 >> 12;
        Assert.That(root, Is.Not.Zero);
        Grant(5, Dom0.Id, root);
        Assert.That(GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap, 0, out _, out _), Is.EqualTo(GrantStatus.GeneralError));
        Assert.That(GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap | GrantMapFlags.Readonly, 0, out _, out _), Is.EqualTo(GrantStatus.Okay));
    }

    [Test]
    public void AGuestGetsADeviceMappingWithTheBusAddress()
    {
        Grant(5, _grantee.Id, SharedMfn);
        Assert.That(GrantTable.Map(_grantee, _granter.Id, 5, GrantMapFlags.DeviceMap, 0, out var h, out var bus), Is.EqualTo(GrantStatus.Okay));
        Assert.That(bus, Is.EqualTo(SharedMfn << 12));
        Assert.That(GrantTable.Unmap(_grantee, h, 0, bus + 4096), Is.EqualTo(GrantStatus.BadDevAddr));
        Assert.That(GrantTable.Unmap(_grantee, h, 0, bus), Is.EqualTo(GrantStatus.Okay));
    }

    [Test]
    public void AGuestHostMappingIsRefusedUntilThePvMmuCanInstallIt()
    {
        Grant(5, _grantee.Id, SharedMfn);
        Assert.That(GrantTable.Map(_grantee, _granter.Id, 5, GrantMapFlags.HostMap, 0x400000, out _, out _), Is.EqualTo(GrantStatus.GeneralError));
        Assert.That(EntryFlags(5), Is.EqualTo(GrantFlags.PermitAccess));
    }

    [Test]
    public void UnmappingAnUnknownOrAlreadyUnmappedHandleIsBadHandle()
    {
        Assert.That(GrantTable.Unmap(Dom0, 7, 0, 0), Is.EqualTo(GrantStatus.BadHandle));
        Grant(5, Dom0.Id, SharedMfn);
        GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap, 0, out var h, out _);
        GrantTable.Unmap(Dom0, h, 0, 0);
        Assert.That(GrantTable.Unmap(Dom0, h, 0, 0), Is.EqualTo(GrantStatus.BadHandle));
        Assert.That(() => Dom0.Grants.MappedFrame(h), Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public void TheMaptrackLimitGivesNoSpace()
    {
        Grant(5, Dom0.Id, SharedMfn);
        Dom0.Grants.MaxMaptrack = 2;
        GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap, 0, out _, out _);
        GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap, 0, out _, out _);
        Assert.That(GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap, 0, out _, out _), Is.EqualTo(GrantStatus.NoSpace));
    }

    [Test]
    public void DestroyingTheGranterUnderALiveMappingFailsCleanlyAndTheFrameReturnsOnUnmap()
    {
        Grant(5, Dom0.Id, SharedMfn);
        GrantTable.Map(Dom0, _granter.Id, 5, GrantMapFlags.HostMap, 0, out var h, out _);
        ulong mfn = SharedMfn;
        _f.Hv.DestroyDomain(_granter);
        Assert.That(() => Dom0.Grants.MappedFrame(h), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(_f.Hv.Frames.OwnerOf(mfn), Is.Not.EqualTo(FrameTable.Free), "still held by the mapping");
        Assert.That(GrantTable.Unmap(Dom0, h, 0, 0), Is.EqualTo(GrantStatus.Okay));
        Assert.That(_f.Hv.Frames.OwnerOf(mfn), Is.EqualTo(FrameTable.Free));
    }

    [Test]
    public void DestroyingTheGrantTableOwnerReturnsItsTableFrames()
    {
        ulong before = _f.Hv.Frames.FreeFrames;
        ulong pages = (ulong)_granter.P2m.Length + 2; // memory, shared_info, one grant frame
        _f.Hv.DestroyDomain(_granter);
        Assert.That(_f.Hv.Frames.FreeFrames, Is.EqualTo(before + pages));
    }

    [Test]
    public void DestroyingTheGranteeDropsItsMappingsAndClearsTheGrantersStatus()
    {
        Grant(5, _grantee.Id, SharedMfn);
        GrantTable.Map(_grantee, _granter.Id, 5, GrantMapFlags.DeviceMap, 0, out _, out _);
        Assert.That(EntryFlags(5) & GrantFlags.Writing, Is.Not.Zero);
        _f.Hv.DestroyDomain(_grantee);
        Assert.That(EntryFlags(5), Is.EqualTo(GrantFlags.PermitAccess));
    }

    [Test]
    public void MappingFromADyingGranterIsBadDomain()
    {
        Grant(5, Dom0.Id, SharedMfn);
        var id = _granter.Id;
        _f.Hv.DestroyDomain(_granter);
        Assert.That(GrantTable.Map(Dom0, id, 5, GrantMapFlags.HostMap, 0, out _, out _), Is.EqualTo(GrantStatus.BadDomain));
    }

    [Test]
    public void CopyMovesBytesFromAGrantIntoTheCallersOwnFrame()
    {
        Grant(5, _grantee.Id, SharedMfn, GrantFlags.PermitAccess | GrantFlags.Readonly);
        _f.Memory.FrameForWrite(SharedMfn)[10] = 42;
        ulong mine = _grantee.P2m[SharedPfn];
        var st = GrantTable.Copy(_grantee, new(5, _granter.Id, 10), new(mine, DomId.Self, 20), 1, GrantCopyFlags.SourceGref);
        Assert.That(st, Is.EqualTo(GrantStatus.Okay));
        Assert.That(_f.Memory.FrameForRead(mine)[20], Is.EqualTo(42));
        Assert.That(EntryFlags(5), Is.EqualTo(GrantFlags.PermitAccess | GrantFlags.Readonly), "no status left behind");
    }

    [Test]
    public void CopyWritesIntoAWritableGrant()
    {
        Grant(5, _grantee.Id, SharedMfn);
        ulong mine = _grantee.P2m[SharedPfn];
        _f.Memory.FrameForWrite(mine)[0] = 7;
        Assert.That(GrantTable.Copy(_grantee, new(mine, _grantee.Id, 0), new(5, _granter.Id, 4095), 1, GrantCopyFlags.DestGref), Is.EqualTo(GrantStatus.Okay));
        Assert.That(_f.Memory.FrameForRead(SharedMfn)[4095], Is.EqualTo(7));
    }

    [Test]
    public void CopyIntoAReadOnlyGrantFails()
    {
        Grant(5, _grantee.Id, SharedMfn, GrantFlags.PermitAccess | GrantFlags.Readonly);
        ulong mine = _grantee.P2m[SharedPfn];
        Assert.That(GrantTable.Copy(_grantee, new(mine, DomId.Self, 0), new(5, _granter.Id, 0), 8, GrantCopyFlags.DestGref), Is.EqualTo(GrantStatus.GeneralError));
    }

    [Test]
    public void CopyPastTheEndOfAPageIsBadCopyArg()
    {
        Grant(5, _grantee.Id, SharedMfn);
        ulong mine = _grantee.P2m[SharedPfn];
        Assert.That(GrantTable.Copy(_grantee, new(mine, DomId.Self, 4090), new(5, _granter.Id, 0), 8, GrantCopyFlags.DestGref), Is.EqualTo(GrantStatus.BadCopyArg));
    }

    [Test]
    public void CopyByFrameFromAnotherDomainIsPermissionDenied()
    {
        ulong mine = _grantee.P2m[SharedPfn];
        Assert.That(GrantTable.Copy(_grantee, new(SharedMfn, _granter.Id, 0), new(mine, DomId.Self, 0), 8, 0), Is.EqualTo(GrantStatus.PermissionDenied));
    }

    [Test]
    public void CopyByAFrameTheCallerDoesNotOwnIsBadPage()
    {
        ulong mine = _grantee.P2m[SharedPfn];
        Assert.That(GrantTable.Copy(_grantee, new(SharedMfn, DomId.Self, 0), new(mine, DomId.Self, 0), 8, 0), Is.EqualTo(GrantStatus.BadPage));
    }

    [Test]
    public void CopyIntoTheCallersOwnPageTableIsBadPage()
    {
        ulong root = _grantee.Vcpus[0].Registers.Cr3 >> 12;
        ulong mine = _grantee.P2m[SharedPfn];
        Assert.That(GrantTable.Copy(_grantee, new(mine, DomId.Self, 0), new(root, DomId.Self, 0), 8, 0), Is.EqualTo(GrantStatus.BadPage));
    }

    [Test]
    public void ManagedCopiesGoBothWays()
    {
        Grant(5, Dom0.Id, SharedMfn);
        Assert.That(GrantTable.CopyToGrant(Dom0, _granter.Id, 5, 16, [1, 2, 3]), Is.EqualTo(GrantStatus.Okay));
        var back = new byte[3];
        Assert.That(GrantTable.CopyFromGrant(Dom0, _granter.Id, 5, 16, back), Is.EqualTo(GrantStatus.Okay));
        Assert.That(back, Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(GrantTable.CopyFromGrant(Dom0, _granter.Id, 5, 4095, back), Is.EqualTo(GrantStatus.BadCopyArg));
        Assert.That(GrantTable.CopyToGrant(Dom0, _granter.Id, 6, 0, back), Is.EqualTo(GrantStatus.GeneralError));
    }

    [Test]
    public void OnlyVersionOneIsOffered()
    {
        Assert.That(GrantTable.SetVersion(_granter, 1, out var v), Is.Zero);
        Assert.That(v, Is.EqualTo(1));
        Assert.That(GrantTable.SetVersion(_granter, 2, out _), Is.EqualTo(-XenErrno.ENOSYS));
        Assert.That(GrantTable.SetVersion(_granter, 3, out _), Is.EqualTo(-XenErrno.EINVAL));
        Assert.That(GrantTable.GetVersion(_granter, DomId.Self, out v), Is.Zero);
        Assert.That(v, Is.EqualTo(1));
        Assert.That(GrantTable.GetVersion(_grantee, _granter.Id, out _), Is.EqualTo(-XenErrno.EPERM));
        Assert.That(GrantTable.GetVersion(Dom0, 4000, out _), Is.EqualTo(-XenErrno.ESRCH));
    }
}
