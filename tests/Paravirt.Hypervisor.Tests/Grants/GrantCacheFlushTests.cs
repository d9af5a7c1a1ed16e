using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Grants;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor.Tests.Grants;

/// <summary>
/// GNTTABOP_cache_flush as Xen implements it on x86 (common/grant_table.c cache_flush): argument checks, the
/// frame's owner, and the op semantics (CLEAN writes back and invalidates; INVAL alone is not supported on x86).
/// Found by XTF's xsa-232 test, which got -ENOSYS for the whole sub-op.
/// </summary>
public class GrantCacheFlushTests
{
    private HypervisorFixture _f = null!;
    private Domain _d = null!;
    private Domain _peer = null!;
    private Vcpu _v = null!;
    private ulong _scratch;

    [SetUp]
    public void SetUp()
    {
        _f = new HypervisorFixture();
        var (d, r) = _f.Build();
        _d = d;
        _v = d.Vcpus[0];
        _peer = _f.Build().Domain;
        _scratch = r.Layout.VirtOf(r.Layout.BootStackPfn);
    }

    [TearDown]
    public void TearDown() => _f.Dispose();

    /// <summary>One gnttab_cache_flush at scratch + 16 * index.</summary>
    private void Put(int index, ulong busAddr, ushort offset, ushort length, uint op)
    {
        ulong a = _scratch + (ulong)index * GrantTableOp.CacheFlushSize;
        Assert.That(GuestMemory.Write(_v, a, busAddr), Is.True);
        Assert.That(GuestMemory.Write(_v, a + 8, offset | ((ulong)length << 16) | ((ulong)op << 32)), Is.True);
    }

    private long Flush(ulong count = 1) =>
        _f.Hv.Hypercalls.Call(_v, (ulong)Hypercall.GrantTableOp, GrantTableOp.CacheFlush, _scratch, count, 0, 0);

    private const uint Clean = GrantTableOp.CacheClean, Inval = GrantTableOp.CacheInval;

    private ulong OwnFrame => _d.P2m[10] << 12;

    [Test]
    public void CleaningOwnMemoryIsZeroWithOrWithoutInvalidate()
    {
        Put(0, OwnFrame, 0, 4096, Clean);
        Assert.That(Flush(), Is.Zero);
        Put(0, OwnFrame, 128, 64, Clean | Inval);
        Assert.That(Flush(), Is.Zero);
    }

    [Test]
    public void InvalidateAloneIsEOPNOTSUPPOnX86()
    {
        Put(0, OwnFrame, 0, 4096, Inval);
        Assert.That(Flush(), Is.EqualTo(-XenErrno.EOPNOTSUPP));
    }

    [TestCase((ushort)4096, (ushort)1, Clean)]
    [TestCase((ushort)0, (ushort)4097, Clean)]
    [TestCase((ushort)4000, (ushort)200, Clean)]
    [TestCase((ushort)0, (ushort)16, Clean | (1u << 31))] // SOURCE_GREF is not one of the op bits accepted
    [TestCase((ushort)0, (ushort)16, 4u)]
    public void ARangeOutsideOnePageOrAnUnknownOpBitIsEINVAL(ushort offset, ushort length, uint op)
    {
        Put(0, OwnFrame, offset, length, op);
        Assert.That(Flush(), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void AnEmptyRangeOrNoOpDoesNothingEvenForABogusAddress()
    {
        Put(0, ulong.MaxValue, 0, 0, Clean);
        Assert.That(Flush(), Is.Zero);
        Put(0, ulong.MaxValue, 0, 16, 0);
        Assert.That(Flush(), Is.Zero);
    }

    [Test]
    public void AFrameBeyondMachineMemoryIsEINVAL()
    {
        Put(0, _f.Hv.Frames.TotalFrames << 12, 0, 16, Clean);
        Assert.That(Flush(), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void AFrameNoDomainOwnsIsEPERM()
    {
        ulong free = 0;
        for (ulong mfn = _f.Hv.Frames.TotalFrames - 1; mfn > 0; mfn--)
            if (_f.Hv.Frames.OwnerOf(mfn) == FrameTable.Free) { free = mfn; break; }
        Assert.That(free, Is.Not.Zero, "a free frame to aim at");
        Put(0, free << 12, 0, 16, Clean);
        Assert.That(Flush(), Is.EqualTo(-XenErrno.EPERM));
    }

    [Test]
    public void AnotherDomainsFrameNeedsAGrantMappingOfIt()
    {
        ulong mfn = _peer.P2m[20];
        Put(0, mfn << 12, 0, 16, Clean);
        Assert.That(Flush(), Is.EqualTo(-XenErrno.EINVAL), "no mapping of the peer's frame");

        GrantTable.SetupTable(_peer, DomId.Self, 1, new ulong[1]);
        _f.Memory.WriteUInt64((_peer.Grants.Frames[0] << 12) + 7 * 8UL, GrantFlags.PermitAccess | ((ulong)_d.Id << 16) | (mfn << 32));
        Assert.That(GrantTable.Map(_d, _peer.Id, 7, GrantMapFlags.DeviceMap, 0, out _, out _), Is.EqualTo(GrantStatus.Okay));
        Assert.That(Flush(), Is.Zero, "mapped through a grant: the flush is allowed");
    }

    [Test]
    public void ABatchStopsAtTheFirstFailingEntry()
    {
        Put(0, OwnFrame, 0, 16, Clean);
        Put(1, OwnFrame, 0, 16, Inval);
        Put(2, OwnFrame, 0, 16, Clean);
        Assert.That(Flush(3), Is.EqualTo(-XenErrno.EOPNOTSUPP));
        Assert.That(Flush(0), Is.Zero);
    }

    [Test]
    public void AnUnreadableEntryIsEFAULT()
    {
        Assert.That(_f.Hv.Hypercalls.Call(_v, (ulong)Hypercall.GrantTableOp, GrantTableOp.CacheFlush, 0x10, 1, 0, 0),
            Is.EqualTo(-XenErrno.EFAULT));
    }
}
