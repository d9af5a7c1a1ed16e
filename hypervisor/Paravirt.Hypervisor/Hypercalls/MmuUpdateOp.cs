using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_mmu_update(reqs, count, done, foreigndom) (xen.h, do_mmu_update): each 16-byte struct mmu_update
/// { u64 ptr; u64 val; } carries its command in ptr[2:0]. Stops at the first failing request; *done gets the
/// number completed. foreigndom[15:0] names the owner of the frames being mapped (pg_owner), foreigndom[31:16]
/// (+1) the owner of the page tables (pt_owner); both default to the caller. Long batches continue through a
/// restarted hypercall with MMU_UPDATE_PREEMPTED in the count.
/// </summary>
public static class MmuUpdateOp
{
    public const int NormalPtUpdate = 0, MachphysUpdate = 1, PtUpdatePreserveAd = 2;
    public const int RequestSize = 16;

    public static long Do(Vcpu v, ulong ureqs, ulong countArg, ulong pdone, ulong foreigndomArg)
    {
        var d = v.Domain;
        uint count = (uint)countArg, foreigndom = (uint)foreigndomArg, done = 0;
        if (count == Continuation.MmuUpdatePreempted && ureqs == 0) return (int)foreigndom;
        if ((count & Continuation.MmuUpdatePreempted) != 0)
        {
            count &= ~Continuation.MmuUpdatePreempted;
            if (pdone != 0) GuestMemory.Read(v, pdone, out done);
        }
        if (!Continuation.HandleOk(ureqs, count, RequestSize)) return -XenErrno.EFAULT;

        Domain ptOwner = d;
        uint ptDom = foreigndom >> 16;
        long rc = 0;
        uint i = 0;
        if (ptDom != 0)
        {
            var o = d.Hypervisor.GetDomain((ushort)(ptDom - 1));
            if (o == null) return -XenErrno.ESRCH;
            if (o != d && o.Vcpus.Count == 0) { rc = -XenErrno.EINVAL; goto out_; }
            ptOwner = o;
        }
        var pgOwner = MmuextOp.GetPgOwner(d, (ushort)foreigndom);
        if (pgOwner == null) { rc = -XenErrno.ESRCH; goto out_; }

        for (; i < count; i++)
        {
            if (Continuation.PreemptCheck(v, i)) { rc = -XenErrno.ERESTART; break; }
            if (!GuestMemory.Read(v, ureqs, out ulong ptr) || !GuestMemory.Read(v, ureqs + 8, out ulong val))
            {
                rc = -XenErrno.EFAULT;
                break;
            }
            int cmd = (int)(ptr & 7);
            switch (cmd)
            {
                case NormalPtUpdate:
                case PtUpdatePreserveAd:
                    // xsm_mmu_update(XSM_TARGET): only a privileged caller acts on another domain's tables or frames.
                    if ((ptOwner != d || pgOwner != d) && !d.IsPrivileged) { rc = -XenErrno.EPERM; break; }
                    rc = d.Hypervisor.Mmu.UpdatePte(ptOwner, pgOwner, ptr - (ulong)cmd, val, cmd == PtUpdatePreserveAd);
                    break;
                case MachphysUpdate:
                    if (d != ptOwner) { rc = -XenErrno.EPERM; break; }
                    if (pgOwner != d && !d.IsPrivileged) { rc = -XenErrno.EPERM; break; }
                    rc = d.Hypervisor.Mmu.MachphysUpdate(pgOwner, ptr >> 12, val);
                    break;
                default:
                    rc = -XenErrno.ENOSYS;
                    break;
            }
            if (rc != 0) break;
            ureqs += RequestSize;
        }
        if (rc == -XenErrno.ERESTART)
            rc = Continuation.Create(v, Hypercall.MmuUpdate, ureqs, (count - i) | Continuation.MmuUpdatePreempted, pdone, foreigndom);
    out_:
        if (pdone != 0) GuestMemory.Write(v, pdone, done + i);
        return rc;
    }
}
