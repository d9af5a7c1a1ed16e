using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;

namespace Paravirt.Hypervisor.Tests.Mmu;

/// <summary>HYPERVISOR_update_va_mapping(_otherdomain): the L1 entry of a virtual address, and the UVMF flushes.</summary>
internal class UpdateVaMappingTests : MmuTestBase
{
    private ulong Va => Layout.VirtOf(Layout.StartInfoPfn);

    private long Uvm(ulong va, ulong val, ulong flags = UpdateVaMappingOp.UvmfInvlpg) => CallL(Hypercall.UpdateVaMapping, va, val, flags);

    [Test]
    public void RemappingAnAddressShowsTheNewFrameThroughIt()
    {
        ulong frame = Spare(Dom, 0);
        F.Memory.WriteUInt64((frame << 12) + 24, 0x1122334455667788);
        Assert.That(Uvm(Va, (frame << 12) | P | Rw), Is.Zero);
        Assert.That(GuestMemory.Read(V, Va + 24, out ulong value), Is.True);
        Assert.That(value, Is.EqualTo(0x1122334455667788UL));
        Assert.That(Pages.RefCountOf(frame), Is.EqualTo(1));
    }

    [Test]
    public void AnAddressWithNoL1TableIsEINVAL() => Assert.That(Uvm(0x1000, (Spare(Dom, 0) << 12) | P), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void AnAddressInTheHypervisorRangeIsEINVAL() =>
        Assert.That(Uvm(X86_64.MachToPhysVirtStart, (Spare(Dom, 0) << 12) | P), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void ANonCanonicalAddressIsEINVAL() =>
        Assert.That(Uvm(0x0000_8000_0000_0000, (Spare(Dom, 0) << 12) | P), Is.EqualTo(-XenErrno.EINVAL));

    [Test]
    public void MappingAnotherDomainsFrameIsEBUSY() =>
        Assert.That(Uvm(Va, (Spare(Peer, 0) << 12) | P | Rw), Is.EqualTo(-XenErrno.EBUSY));

    [Test]
    public void MappingOwnPageTableWritableIsEBUSY() =>
        Assert.That(Uvm(Va, (L4 << 12) | P | Rw), Is.EqualTo(-XenErrno.EBUSY));

    [Test]
    public void EveryFlushVariantIsAccepted()
    {
        ulong val = (Spare(Dom, 0) << 12) | P;
        Put64(0x300, 1);
        foreach (ulong flags in new[] { UpdateVaMappingOp.UvmfNone, UpdateVaMappingOp.UvmfTlbFlush,
                     UpdateVaMappingOp.UvmfTlbFlush | UpdateVaMappingOp.UvmfAll, UpdateVaMappingOp.UvmfInvlpg | UpdateVaMappingOp.UvmfAll,
                     UpdateVaMappingOp.UvmfInvlpg | (Scratch + 0x300), UpdateVaMappingOp.UvmfTlbFlush | (Scratch + 0x300) })
            Assert.That(Uvm(Va, val, flags), Is.Zero, $"flags 0x{flags:x}");
    }

    [Test]
    public void AnUnreadableVcpuMaskIsEFAULT() =>
        Assert.That(Uvm(Va, (Spare(Dom, 0) << 12) | P, UpdateVaMappingOp.UvmfTlbFlush | 0x2000), Is.EqualTo(-XenErrno.EFAULT));

    [Test]
    public void OtherDomainWithAnUnknownDomainIsESRCH() =>
        Assert.That(CallL(Hypercall.UpdateVaMappingOtherdomain, Va, 0, 0, 0x7000), Is.EqualTo(-XenErrno.ESRCH));

    [Test]
    public void OtherDomainWithoutPrivilegeIsEPERM() =>
        Assert.That(CallL(Hypercall.UpdateVaMappingOtherdomain, Va, (Spare(Peer, 0) << 12) | P, 0, Peer.Id), Is.EqualTo(-XenErrno.EPERM));

    [Test]
    public void OtherDomainWithDomidSelfActsOnTheCaller() =>
        Assert.That(CallL(Hypercall.UpdateVaMappingOtherdomain, Va, (Spare(Dom, 0) << 12) | P, 0, DomId.Self), Is.Zero);
}
