using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_mmuext_op(ops, count, done, foreigndom) (xen.h, do_mmuext_op): extended MMU operations, each a
/// 24-byte struct mmuext_op { u32 cmd @0; union arg1 @8 (mfn | linear_addr); union arg2 @16 (nr_ents | vcpumask |
/// src_mfn) }. Stops at the first failure; *done gets the number completed; long batches are continued.
/// </summary>
public static class MmuextOp
{
    public const uint PinL1Table = 0, PinL2Table = 1, PinL3Table = 2, PinL4Table = 3, UnpinTable = 4, NewBaseptr = 5,
        TlbFlushLocal = 6, InvlpgLocal = 7, TlbFlushMulti = 8, InvlpgMulti = 9, TlbFlushAll = 10, InvlpgAll = 11,
        FlushCache = 12, SetLdt = 13, NewUserBaseptr = 15, ClearPage = 16, CopyPage = 17, FlushCacheGlobal = 18,
        MarkSuper = 19, UnmarkSuper = 20;
    public const int OpSize = 24;
    /// <summary>The most LDT entries MMUEXT_SET_LDT accepts (8192 descriptors = 64 KiB).</summary>
    public const uint MaxLdtEntries = 8192;

    /// <summary>
    /// get_pg_owner: DOMID_SELF is the caller; naming oneself by number is refused (null → -ESRCH); DOMID_IO and
    /// DOMID_XEN stand for pseudo-domains that own nothing a guest may touch (represented by the managed Dom0, so
    /// the privilege check that follows refuses them).
    /// </summary>
    internal static Domain? GetPgOwner(Domain caller, ushort domid)
    {
        if (domid == DomId.Self) return caller;
        if (domid == caller.Id) return null;
        if (domid == DomId.Io || domid == DomId.Xen) return caller.Hypervisor.Dom0;
        return caller.Hypervisor.GetDomain(domid);
    }

    public static long Do(Vcpu v, ulong uops, ulong countArg, ulong pdone, ulong foreigndomArg)
    {
        var d = v.Domain;
        uint count = (uint)countArg, done = 0;
        if (count == Continuation.MmuUpdatePreempted && uops == 0) return (int)(uint)foreigndomArg;
        if ((count & Continuation.MmuUpdatePreempted) != 0)
        {
            count &= ~Continuation.MmuUpdatePreempted;
            if (pdone != 0) GuestMemory.Read(v, pdone, out done);
        }
        if (!Continuation.HandleOk(uops, count, OpSize)) return -XenErrno.EFAULT;
        var pgOwner = GetPgOwner(d, (ushort)foreigndomArg);
        if (pgOwner == null) return -XenErrno.ESRCH;
        // xsm_mmuext_op(XSM_TARGET)
        if (pgOwner != d && !d.IsPrivileged) return -XenErrno.EPERM;

        long rc = 0;
        uint i = 0;
        for (; i < count; i++)
        {
            if (Continuation.PreemptCheck(v, i)) { rc = -XenErrno.ERESTART; break; }
            if (!GuestMemory.Read(v, uops, out uint cmd) || !GuestMemory.Read(v, uops + 8, out ulong arg1)
                || !GuestMemory.Read(v, uops + 16, out ulong arg2))
            {
                rc = -XenErrno.EFAULT;
                break;
            }
            rc = One(v, pgOwner, cmd, arg1, arg2);
            if (rc != 0) break;
            uops += OpSize;
        }
        if (rc == -XenErrno.ERESTART)
            rc = Continuation.Create(v, Hypercall.MmuextOp, uops, (count - i) | Continuation.MmuUpdatePreempted, pdone, foreigndomArg);
        if (pdone != 0) GuestMemory.Write(v, pdone, done + i);
        return rc;
    }

    private static long One(Vcpu v, Domain pgOwner, uint cmd, ulong arg1, ulong arg2)
    {
        var d = v.Domain;
        var mmu = d.Hypervisor.Mmu;
        bool self = pgOwner == d;
        switch (cmd)
        {
            case PinL1Table: case PinL2Table: case PinL3Table: case PinL4Table:
                return mmu.Pin(pgOwner, (PageType)(cmd - PinL1Table + 1), arg1);
            case UnpinTable:
                return mmu.Unpin(pgOwner, arg1);
            case NewBaseptr:
                return !self ? -XenErrno.EPERM : mmu.NewBaseptr(v, arg1);
            case NewUserBaseptr:
                return !self ? -XenErrno.EPERM : mmu.NewUserBaseptr(v, arg1);
            case TlbFlushLocal:
                if (!self) return -XenErrno.EPERM;
                v.Cpu.FlushTlb();
                return 0;
            case InvlpgLocal:
                if (!self) return -XenErrno.EPERM;
                if (Paravirt.Cpu.PageTableWalker.IsCanonical(arg1)) v.Cpu.InvalidatePage(arg1);
                return 0;
            case TlbFlushMulti:
            case InvlpgMulti:
            {
                if (!self) return -XenErrno.EPERM;
                if (!ReadVcpuMask(v, arg2, out ulong mask)) return -XenErrno.EINVAL;
                if (cmd == TlbFlushMulti) mmu.Flush(d, v, mask, null);
                else if (Continuation.AddrOk(arg1)) mmu.Flush(d, v, mask, arg1);
                return 0;
            }
            case TlbFlushAll:
                if (!self) return -XenErrno.EPERM;
                mmu.Flush(d, v, null, null);
                return 0;
            case InvlpgAll:
                if (!self) return -XenErrno.EPERM;
                if (Continuation.AddrOk(arg1)) mmu.Flush(d, v, null, arg1);
                return 0;
            case FlushCache:
                // wbinvd needs cache_flush_permitted: I/O memory or ports, which no guest here has.
                return !self ? -XenErrno.EPERM : -XenErrno.EACCES;
            case FlushCacheGlobal:
                return !self ? -XenErrno.EPERM : -XenErrno.EINVAL;
            case SetLdt:
            {
                uint ents = (uint)arg2;
                ulong ptr = ents != 0 ? arg1 : 0;
                if (!self) return -XenErrno.EPERM;
                if ((ptr & 0xFFF) != 0 || !Continuation.AddrOk(ptr) || ents > MaxLdtEntries) return -XenErrno.EINVAL;
                v.SetLdt(ptr, ents);
                return 0;
            }
            case ClearPage:
                return mmu.ClearPage(pgOwner, arg1);
            case CopyPage:
                return mmu.CopyPage(pgOwner, arg1, arg2);
            case MarkSuper:
            case UnmarkSuper:
                return -XenErrno.EOPNOTSUPP;
            default:
                return -XenErrno.ENOSYS;
        }
    }

    /// <summary>
    /// vcpumask_to_pcpumask: a guest bitmap of vCPU ids, one unsigned long per 64 vCPUs; only words that cover
    /// existing vCPUs are read. False when it cannot be read.
    /// </summary>
    internal static bool ReadVcpuMask(Vcpu v, ulong bitmap, out ulong mask)
    {
        mask = 0;
        if (v.Domain.Vcpus.Count == 0) return true;
        if (!GuestMemory.Read(v, bitmap, out ulong word)) return false;
        int n = v.Domain.Vcpus.Count;
        mask = n >= 64 ? word : word & ((1UL << n) - 1);
        return true;
    }
}
