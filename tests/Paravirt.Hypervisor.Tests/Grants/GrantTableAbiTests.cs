using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Grants;
using Paravirt.Hypervisor.Hypercalls;

namespace Paravirt.Hypervisor.Tests.Grants;

/// <summary>HYPERVISOR_grant_table_op marshalling: grant_table.h struct layouts, per-op status, EFAULT paths.</summary>
public class GrantTableAbiTests
{
    private HypervisorFixture _f = null!;
    private Domain _d = null!;
    private Domain _peer = null!;
    private Vcpu _v = null!;
    private ulong _scratch;
    private ulong _readOnly;

    [SetUp]
    public void SetUp()
    {
        _f = new HypervisorFixture();
        var (d, r) = _f.Build();
        _d = d;
        _v = d.Vcpus[0];
        _peer = _f.Build().Domain;
        _scratch = r.Layout.VirtOf(r.Layout.BootStackPfn);
        _readOnly = r.Layout.VirtOf(r.Layout.PageTablePfn);
    }

    [TearDown]
    public void TearDown() => _f.Dispose();

    private long Op(int cmd, ulong uop, ulong count = 1) =>
        _f.Hv.Hypercalls.Call(_v, (ulong)Hypercall.GrantTableOp, (ulong)cmd, uop, count, 0, 0);

    private void Put(ulong offset, byte[] bytes) => Assert.That(GuestMemory.CopyTo(_v, _scratch + offset, bytes), Is.True);
    private void Put64(ulong offset, ulong value) => Put(offset, BitConverter.GetBytes(value));
    private byte[] Get(ulong offset, int n)
    {
        var b = new byte[n];
        Assert.That(GuestMemory.CopyFrom(_v, _scratch + offset, b), Is.True);
        return b;
    }

    private void GrantFromPeer(uint gref, ulong mfn, ushort flags = GrantFlags.PermitAccess)
    {
        GrantTable.SetupTable(_peer, DomId.Self, 1, new ulong[1]);
        _f.Memory.WriteUInt64((_peer.Grants.Frames[0] << 12) + gref * 8UL, flags | ((ulong)_d.Id << 16) | (mfn << 32));
    }

    [Test]
    public void SetupTableWritesStatusAndTheFrameList()
    {
        Put64(0, DomId.Self | (2UL << 32));
        Put64(8, 0xFFFF);
        Put64(16, _scratch + 64);
        Assert.That(Op(GrantTableOp.SetupTable, _scratch), Is.Zero);
        Assert.That(BitConverter.ToInt16(Get(8, 2)), Is.EqualTo(GrantStatus.Okay));
        Assert.That(BitConverter.ToUInt64(Get(64, 8)), Is.EqualTo(_d.Grants.Frames[0]));
        Assert.That(BitConverter.ToUInt64(Get(72, 8)), Is.EqualTo(_d.Grants.Frames[1]));
    }

    [Test]
    public void SetupTableFailuresAreAStatusNotAnErrno()
    {
        Put64(0, DomId.Self | (65UL << 32));
        Put64(16, _scratch + 64);
        Assert.That(Op(GrantTableOp.SetupTable, _scratch), Is.Zero);
        Assert.That(BitConverter.ToInt16(Get(8, 2)), Is.EqualTo(GrantStatus.GeneralError));
    }

    [Test]
    public void SetupTableWithAnUnwritableFrameListIsEFAULT()
    {
        Put64(0, DomId.Self | (1UL << 32));
        Put64(16, 0x10);
        Assert.That(Op(GrantTableOp.SetupTable, _scratch), Is.EqualTo(-XenErrno.EFAULT));
    }

    [Test]
    public void QuerySizeLaysOutFramesMaximumAndStatus()
    {
        GrantTable.SetupTable(_d, DomId.Self, 3, new ulong[3]);
        Put64(0, DomId.Self);
        Put64(8, ulong.MaxValue);
        Assert.That(Op(GrantTableOp.QuerySize, _scratch), Is.Zero);
        Assert.That(BitConverter.ToUInt32(Get(4, 4)), Is.EqualTo(3));
        Assert.That(BitConverter.ToUInt32(Get(8, 4)), Is.EqualTo(GrantTable.DefaultMaxFrames));
        Assert.That(BitConverter.ToInt16(Get(12, 2)), Is.EqualTo(GrantStatus.Okay));
    }

    [Test]
    public void MapAndUnmapADeviceMappingThroughTheAbi()
    {
        ulong mfn = _peer.P2m[4000];
        GrantFromPeer(9, mfn);
        Put64(0, 0);
        Put64(8, GrantMapFlags.DeviceMap | (9UL << 32));
        Put64(16, _peer.Id | (0xFFFFUL << 16) | (0xFFFFFFFFUL << 32));
        Put64(24, 0);
        Assert.That(Op(GrantTableOp.MapGrantRef, _scratch), Is.Zero);
        Assert.That(BitConverter.ToInt16(Get(18, 2)), Is.EqualTo(GrantStatus.Okay));
        uint handle = BitConverter.ToUInt32(Get(20, 4));
        Assert.That(BitConverter.ToUInt64(Get(24, 8)), Is.EqualTo(mfn << 12));

        Put64(64, 0);
        Put64(72, mfn << 12);
        Put64(80, handle | (0xFFFFUL << 32));
        Assert.That(Op(GrantTableOp.UnmapGrantRef, _scratch + 64), Is.Zero);
        Assert.That(BitConverter.ToInt16(Get(84, 2)), Is.EqualTo(GrantStatus.Okay));
        Assert.That(_d.Grants.ActiveMappings, Is.Zero);
    }

    [Test]
    public void AMapWhoseStatusCannotBeWrittenIsEFAULTAndLeavesNoMapping()
    {
        GrantFromPeer(9, _peer.P2m[4000]);
        Assert.That(Op(GrantTableOp.MapGrantRef, _readOnly), Is.EqualTo(-XenErrno.EFAULT));
        Assert.That(_d.Grants.ActiveMappings, Is.Zero);
    }

    [Test]
    public void ABatchStopsAtTheFirstFault()
    {
        Put64(0, 0);
        Assert.That(Op(GrantTableOp.UnmapGrantRef, 0x1000, 2), Is.EqualTo(-XenErrno.EFAULT));
    }

    [TestCase(GrantTableOp.SetupTable, 0)]
    [TestCase(GrantTableOp.SetupTable, 2)]
    [TestCase(GrantTableOp.QuerySize, 0)]
    [TestCase(GrantTableOp.QuerySize, 2)]
    [TestCase(GrantTableOp.GetStatusFrames, 2)]
    public void SingleStructOperationsRefuseAnyOtherCountWithEINVAL(int cmd, int count)
    {
        Put64(0, DomId.Self);
        Assert.That(Op(cmd, _scratch, (ulong)count), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void GetStatusFramesOfAV1TableOffersNone()
    {
        // { u32 nr_frames @0; domid_t dom @4; i16 status @6; frame_list @8 }
        Put64(0, 0 | ((ulong)DomId.Self << 32) | (0x7777UL << 48));
        Assert.That(Op(GrantTableOp.GetStatusFrames, _scratch), Is.Zero);
        Assert.That(BitConverter.ToInt16(Get(6, 2)), Is.EqualTo(GrantStatus.Okay));
        Put64(0, 1 | ((ulong)DomId.Self << 32) | (0x7777UL << 48));
        Assert.That(Op(GrantTableOp.GetStatusFrames, _scratch), Is.Zero);
        Assert.That(BitConverter.ToInt16(Get(6, 2)), Is.EqualTo(GrantStatus.GeneralError));
    }

    [Test]
    public void CopyLaysOutBothPointersLengthAndFlags()
    {
        ulong mfn = _peer.P2m[4000];
        GrantFromPeer(3, mfn);
        _f.Memory.FrameForWrite(mfn)[5] = 0x5A;
        ulong mine = _d.P2m[4000];
        Put64(0, 3);                                       // source.u.ref
        Put64(8, _peer.Id | (5UL << 16));                  // source.domid, source.offset
        Put64(16, mine);                                   // dest.u.gmfn
        Put64(24, DomId.Self | (6UL << 16));               // dest.domid, dest.offset
        Put64(32, 1 | ((ulong)GrantCopyFlags.SourceGref << 16) | (0x7777UL << 32)); // len, flags, status
        Assert.That(Op(GrantTableOp.Copy, _scratch), Is.Zero);
        Assert.That(BitConverter.ToInt16(Get(36, 2)), Is.EqualTo(GrantStatus.Okay));
        Assert.That(_f.Memory.FrameForRead(mine)[6], Is.EqualTo(0x5A));
    }

    [Test]
    public void SetVersionWritesTheVersionInForceBack()
    {
        Put(0, BitConverter.GetBytes(2u));
        Assert.That(Op(GrantTableOp.SetVersion, _scratch), Is.EqualTo(-XenErrno.ENOSYS));
        Assert.That(BitConverter.ToUInt32(Get(0, 4)), Is.EqualTo(1));
        Assert.That(Op(GrantTableOp.SetVersion, _scratch, 2), Is.EqualTo(-XenErrno.EINVAL));
    }

    [Test]
    public void GetVersionWritesAtOffset4()
    {
        Put64(0, DomId.Self | (0xEEEEUL << 32));
        Assert.That(Op(GrantTableOp.GetVersion, _scratch), Is.Zero);
        Assert.That(BitConverter.ToUInt32(Get(4, 4)), Is.EqualTo(1));
    }

    [TestCase(GrantTableOp.Transfer)]
    [TestCase(GrantTableOp.DumpTable)]
    [TestCase(99)]
    public void UnsupportedOperationsAreENOSYS(int cmd) => Assert.That(Op(cmd, _scratch), Is.EqualTo(-XenErrno.ENOSYS));
}
