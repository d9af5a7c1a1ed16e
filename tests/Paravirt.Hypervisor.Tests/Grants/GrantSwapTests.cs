using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Grants;
using Paravirt.Hypervisor.Hypercalls;

namespace Paravirt.Hypervisor.Tests.Grants;

/// <summary>GNTTABOP_swap_grant_ref (Xen's swap_grant_ref, grant table v1): was -ENOSYS.</summary>
public class GrantSwapTests
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

    private ulong EntryAddress(uint gref) => (_d.Grants.Frames[(int)(gref / 512)] << 12) + gref % 512 * 8UL;
    private void SetEntry(uint gref, ulong value) => _f.Memory.WriteUInt64(EntryAddress(gref), value);
    private ulong Entry(uint gref) => _f.Memory.ReadUInt64(EntryAddress(gref));

    /// <summary>One gnttab_swap_grant_ref (12 bytes) at scratch + 12 * index, its status poisoned.</summary>
    private void Put(int index, uint a, uint b)
    {
        ulong at = _scratch + (ulong)index * GrantTableOp.SwapSize;
        Assert.That(GuestMemory.Write(_v, at, a | ((ulong)b << 32)), Is.True);
        Assert.That(GuestMemory.Write(_v, at + 8, (short)0x7777), Is.True);
    }

    private short Status(int index)
    {
        Assert.That(GuestMemory.Read(_v, _scratch + (ulong)index * GrantTableOp.SwapSize + 8, out short st), Is.True);
        return st;
    }

    private long Swap(ulong count, ulong uop = 0) =>
        _f.Hv.Hypercalls.Call(_v, (ulong)Hypercall.GrantTableOp, GrantTableOp.SwapGrantRef, uop == 0 ? _scratch : uop, count, 0, 0);

    private ulong Grant(ulong mfn) => GrantFlags.PermitAccess | ((ulong)_peer.Id << 16) | (mfn << 32);

    [Test]
    public void TwoIdleEntriesAreSwappedWholeAcrossFrames()
    {
        GrantTable.SetupTable(_d, DomId.Self, 2, new ulong[2]);
        SetEntry(3, Grant(0x1234));
        SetEntry(600, Grant(0x5678) | GrantFlags.Readonly);
        Put(0, 3, 600);
        Assert.That(Swap(1), Is.Zero);
        Assert.That(Status(0), Is.EqualTo(GrantStatus.Okay));
        Assert.That((Entry(3), Entry(600)), Is.EqualTo((Grant(0x5678) | GrantFlags.Readonly, Grant(0x1234))));
    }

    [Test]
    public void TheSameRefTwiceIsANoOp()
    {
        GrantTable.SetupTable(_d, DomId.Self, 1, new ulong[1]);
        SetEntry(5, Grant(0x42));
        Put(0, 5, 5);
        Assert.That(Swap(1), Is.Zero);
        Assert.That(Status(0), Is.EqualTo(GrantStatus.Okay));
        Assert.That(Entry(5), Is.EqualTo(Grant(0x42)));
    }

    [Test]
    public void ARefPastTheTableIsBadGntrefAndChangesNothing()
    {
        GrantTable.SetupTable(_d, DomId.Self, 1, new ulong[1]);
        SetEntry(1, Grant(0x42));
        Put(0, 1, 512);
        Assert.That(Swap(1), Is.Zero, "a per-entry failure is a status, not an errno");
        Assert.That(Status(0), Is.EqualTo(GrantStatus.BadGntref));
        Assert.That(Entry(1), Is.EqualTo(Grant(0x42)));
    }

    [Test]
    public void WithoutATableEveryRefIsBad()
    {
        Put(0, 0, 1);
        Assert.That(Swap(1), Is.Zero);
        Assert.That(Status(0), Is.EqualTo(GrantStatus.BadGntref));
    }

    [Test]
    public void AnEntryInUseIsEagain()
    {
        GrantTable.SetupTable(_d, DomId.Self, 1, new ulong[1]);
        ulong mfn = _d.P2m[30];
        SetEntry(4, Grant(mfn));
        SetEntry(9, Grant(_d.P2m[31]));
        Assert.That(GrantTable.Map(_peer, _d.Id, 4, GrantMapFlags.DeviceMap, 0, out uint handle, out _), Is.EqualTo(GrantStatus.Okay));
        ulong inUse = Entry(4);
        Put(0, 9, 4);
        Assert.That(Swap(1), Is.Zero);
        Assert.That(Status(0), Is.EqualTo(GrantStatus.Eagain));
        Assert.That((Entry(4), Entry(9)), Is.EqualTo((inUse, Grant(_d.P2m[31]))));

        Assert.That(GrantTable.Unmap(_peer, handle, 0, mfn << 12), Is.EqualTo(GrantStatus.Okay));
        Assert.That(Swap(1), Is.Zero);
        Assert.That(Status(0), Is.EqualTo(GrantStatus.Okay), "idle again: swapped");
    }

    [Test]
    public void EachEntryOfABatchGetsItsOwnStatusAndABadHandleIsEFAULT()
    {
        GrantTable.SetupTable(_d, DomId.Self, 1, new ulong[1]);
        Put(0, 1, 2);
        Put(1, 1, 9999);
        Assert.That(Swap(2), Is.Zero);
        Assert.That((Status(0), Status(1)), Is.EqualTo((GrantStatus.Okay, GrantStatus.BadGntref)));
        Assert.That(Swap(1, 0x10), Is.EqualTo(-XenErrno.EFAULT));
    }
}
