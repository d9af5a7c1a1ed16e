using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_physdev_op(cmd, arg) and the legacy HYPERVISOR_physdev_op_compat(op) (xen/include/public/physdev.h;
/// arch/x86/physdev.c, compat.c): the per-vCPU I/O privilege a PV kernel sets up at boot. PHYSDEVOP_set_iopl sets the
/// virtual IOPL; PHYSDEVOP_set_iobitmap points at a guest I/O permission bitmap. Either only lets the guest's own
/// port accesses be emulated instead of faulting: ports the domain was not given (none, for a domU) still read as
/// all ones and ignore writes, as Xen's guest_io_read/write do without admin_io_okay. The physical-interrupt
/// operations need PIRQs, which no domain here has: -ENOSYS.
/// </summary>
public static class PhysdevOp
{
    public const int SetIopl = 6, SetIobitmap = 7;
    /// <summary>IOBMP_BYTES: a full bitmap covers 65536 ports.</summary>
    public const ulong IoBitmapBytes = 8192;
    public const uint MaxIoBitmapPorts = 65536;
    /// <summary>sizeof(struct physdev_op) on x86-64: uint32_t cmd, then the union at offset 8 (its largest member is 16 bytes).</summary>
    public const int CompatOpSize = 24, CompatUnionOffset = 8;

    public static long Do(Vcpu v, ulong cmd, ulong arg)
    {
        switch ((int)cmd)
        {
            case SetIopl: // struct physdev_set_iopl { uint32_t iopl; }
            {
                if (!GuestMemory.Read(v, arg, out uint iopl)) return -XenErrno.EFAULT;
                return SetIoplOf(v, iopl);
            }
            case SetIobitmap: // struct physdev_set_iobitmap { XEN_GUEST_HANDLE(uint8) bitmap @0; uint32_t nr_ports @8; }
            {
                if (!GuestMemory.Read(v, arg, out ulong bitmap) || !GuestMemory.Read(v, arg + 8, out uint nrPorts))
                    return -XenErrno.EFAULT;
                return SetIoBitmapOf(v, bitmap, nrPorts);
            }
            default:
                return -XenErrno.ENOSYS;
        }
    }

    /// <summary>PHYSDEVOP_set_iopl: -EINVAL above 3.</summary>
    public static int SetIoplOf(Vcpu v, uint iopl)
    {
        if (iopl > 3) return -XenErrno.EINVAL;
        v.VirtualIopl = (int)iopl;
        return 0;
    }

    /// <summary>PHYSDEVOP_set_iobitmap: the bitmap must be a guest address range of IOBMP_BYTES, at most 65536 ports (-EINVAL).</summary>
    public static int SetIoBitmapOf(Vcpu v, ulong bitmap, uint nrPorts)
    {
        if (!Continuation.HandleOk(bitmap, IoBitmapBytes, 1) || nrPorts > MaxIoBitmapPorts) return -XenErrno.EINVAL;
        v.IoBitmap = bitmap;
        v.IoBitmapLimit = nrPorts;
        return 0;
    }

    /// <summary>do_physdev_op_compat: struct physdev_op { uint32_t cmd; union u @8; }, the union passed on as the argument.</summary>
    public static long DoCompat(Vcpu v, ulong uop)
    {
        Span<byte> op = stackalloc byte[CompatOpSize];
        if (!GuestMemory.CopyFrom(v, uop, op)) return -XenErrno.EFAULT;
        return Do(v, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(op), uop + CompatUnionOffset);
    }

    /// <summary>iopl_ok: the guest kernel counts as ring 1 (ring 0 under VMASST_TYPE_architectural_iopl), user mode as
    /// ring 3; the virtual IOPL (PHYSDEVOP_set_iopl) must be at least that.</summary>
    internal static bool IoplOk(Vcpu v)
    {
        int cpl = v.InKernelMode ? (v.Domain.HasVmAssist(VmAssistOp.TypeArchitecturalIopl) ? 0 : 1) : 3;
        return cpl <= v.VirtualIopl;
    }

    /// <summary>
    /// guest_io_okay: may the vCPU's guest mode access <paramref name="bytes"/> ports from <paramref name="port"/>?
    /// Yes when the virtual IOPL admits its privilege level (guest kernel = 1, or 0 with VMASST_TYPE_architectural_iopl;
    /// guest user = 3), or when the ports lie below the bitmap's limit and their bits in the guest's bitmap are clear
    /// (bytes that cannot be read count as all ones). The bitmap is read through the guest kernel's page tables.
    /// </summary>
    internal static bool GuestIoOkay(Vcpu v, uint port, int bytes)
    {
        if (IoplOk(v)) return true;
        if (port + (uint)bytes > v.IoBitmapLimit) return false;
        // toggle_guest_pt: the bitmap is guest-kernel data, read with the kernel's page tables even from user mode.
        var r = v.Registers;
        ulong savedCr3 = r.Cr3;
        r.Cr3 = v.KernelPageTableBase;
        ushort mask = 0xFFFF;
        ulong at = v.IoBitmap + (port >> 3);
        if (GuestMemory.Read(v, at, out byte lo))
        {
            mask = (ushort)(0xFF00 | lo);
            if (GuestMemory.Read(v, at + 1, out byte hi)) mask = (ushort)(lo | (hi << 8));
        }
        r.Cr3 = savedCr3;
        return (mask & (((1 << bytes) - 1) << (int)(port & 7))) == 0;
    }
}
