using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_update_va_mapping(va, val, flags) and _otherdomain(va, val, flags, domid) (xen.h,
/// __do_update_va_mapping): replace the L1 entry that maps <c>va</c> in the caller's current page tables, then flush
/// as UVMF_* asks: flags[1:0] = NONE / TLB_FLUSH / INVLPG; the rest is UVMF_LOCAL (0), UVMF_ALL (4) or a pointer to
/// a vCPU bitmap (UVMF_MULTI). As in Xen, the flush still happens when the update failed, and reading a bitmap
/// decides the result (so an update error is not reported when a bitmap flush follows).
/// </summary>
public static class UpdateVaMappingOp
{
    public const ulong UvmfNone = 0, UvmfTlbFlush = 1, UvmfInvlpg = 2, UvmfFlushTypeMask = 3, UvmfLocal = 0, UvmfAll = 4;

    public static long Do(Vcpu v, ulong va, ulong val, ulong flags) => Update(v, va, val, flags, v.Domain);

    public static long DoOtherDomain(Vcpu v, ulong va, ulong val, ulong flags, ulong domid)
    {
        var pgOwner = MmuextOp.GetPgOwner(v.Domain, (ushort)domid);
        if (pgOwner == null) return -XenErrno.ESRCH;
        return Update(v, va, val, flags, pgOwner);
    }

    private static long Update(Vcpu v, ulong va, ulong val, ulong flags, Domain pgOwner)
    {
        var d = v.Domain;
        // xsm_update_va_mapping(XSM_TARGET)
        if (pgOwner != d && !d.IsPrivileged) return -XenErrno.EPERM;
        var mmu = d.Hypervisor.Mmu;
        long rc = mmu.UpdateVaMapping(v, va, val, pgOwner);
        ulong bmap = flags & ~UvmfFlushTypeMask;
        switch (flags & UvmfFlushTypeMask)
        {
            case UvmfTlbFlush:
                if (bmap == UvmfLocal) v.Cpu.FlushTlb();
                else if (bmap == UvmfAll) mmu.Flush(d, v, null, null);
                else
                {
                    rc = MmuextOp.ReadVcpuMask(v, bmap, out ulong mask) ? 0 : -XenErrno.EFAULT;
                    mmu.Flush(d, v, mask, null);
                }
                break;
            case UvmfInvlpg:
                if (bmap == UvmfLocal)
                {
                    if (Paravirt.Cpu.PageTableWalker.IsCanonical(va)) v.Cpu.InvalidatePage(va);
                }
                else if (bmap == UvmfAll) mmu.Flush(d, v, null, va);
                else
                {
                    rc = MmuextOp.ReadVcpuMask(v, bmap, out ulong mask) ? 0 : -XenErrno.EFAULT;
                    mmu.Flush(d, v, mask, va);
                }
                break;
        }
        return rc;
    }
}
