using System.Text;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>HYPERVISOR_xen_version (xen/include/public/version.h).</summary>
public static class XenVersionOp
{
    public const int Version = 0, ExtraVersion = 1, CompileInfo = 2, Capabilities = 3, Changeset = 4,
        PlatformParameters = 5, GetFeatures = 6, PageSize = 7, GuestHandle = 8, Commandline = 9, BuildId = 10;

    /// <summary>The Xen interface version Paravirt presents: 4.19.</summary>
    public const int Major = 4, Minor = 19;
    public const string Extra = ".0-paravirt";
    public const string Caps = "xen-3.0-x86_64";

    public static long Do(Vcpu v, ulong cmd, ulong arg)
    {
        switch (cmd)
        {
            case Version:
                return (Major << 16) | Minor;
            case ExtraVersion: // xen_extraversion_t: char[16]
                return PutString(v, arg, Extra, 16);
            case CompileInfo: // xen_compile_info: compiler[64], compile_by[16], compile_domain[32], compile_date[32]
            {
                var buf = new byte[64 + 16 + 32 + 32];
                Encoding.ASCII.GetBytes("dotnet " + Environment.Version, buf.AsSpan(0, 63));
                Encoding.ASCII.GetBytes("paravirt", buf.AsSpan(64, 15));
                Encoding.ASCII.GetBytes("localdomain", buf.AsSpan(80, 31));
                Encoding.ASCII.GetBytes(BuildDate, buf.AsSpan(112, Math.Min(BuildDate.Length, 31)));
                return GuestMemory.CopyTo(v, arg, buf) ? 0 : -XenErrno.EFAULT;
            }
            case Capabilities: // xen_capabilities_info_t: char[1024]
                return PutString(v, arg, Caps, 1024);
            case Changeset: // xen_changeset_info_t: char[64]
                return PutString(v, arg, "paravirt", 64);
            case PlatformParameters: // xen_platform_parameters: xen_ulong_t virt_start
                return GuestMemory.Write(v, arg, X86_64.HypervisorVirtStart) ? 0 : -XenErrno.EFAULT;
            case GetFeatures: // xen_feature_info: unsigned submap_idx; uint32_t submap (out)
            {
                if (!GuestMemory.Read(v, arg, out uint idx)) return -XenErrno.EFAULT;
                if (idx != 0) return -XenErrno.EINVAL; // XENFEAT_NR_SUBMAPS is 1
                return GuestMemory.Write(v, arg + 4, FeaturesOf(v.Domain)) ? 0 : -XenErrno.EFAULT;
            }
            case PageSize:
                return arg != 0 ? -XenErrno.EINVAL : 4096;
            case GuestHandle: // xen_domain_handle_t: uint8_t[16]
                return GuestMemory.CopyTo(v, arg, v.Domain.Uuid.ToByteArray(bigEndian: true)) ? 0 : -XenErrno.EFAULT;
            case Commandline:
            case BuildId:
                // XSM default policy: only the privileged domain may read these.
                return -XenErrno.EPERM;
            default:
                return -XenErrno.ENOSYS;
        }
    }

    /// <summary>XENFEAT_* numbers of xen/include/public/features.h.</summary>
    public const int FeatPaePgdirAbove4gb = 4, FeatMmuPtUpdatePreserveAd = 5, FeatHighmemAssist = 6,
        FeatGnttabMapAvailBits = 7, FeatDom0 = 11, FeatDirectMapped = 17;

    /// <summary>
    /// Submap 0 as Xen computes it for a PV domain, limited to what is implemented here: MMU_PT_UPDATE_PRESERVE_AD,
    /// MMUEXT_CLEAR_PAGE/COPY_PAGE (highmem_assist), GNTMAP_guest_avail bits in grant PTEs, direct-mapped memory
    /// (no translation), page directories anywhere (once VMASST_TYPE_pae_extended_cr3 is on) and dom0 for the
    /// privileged domain. (memory_op_vnode_supported and the *_phys_area bits are not offered: their interfaces are
    /// not implemented.)
    /// </summary>
    public static uint FeaturesOf(Domain d)
    {
        uint f = (1u << FeatMmuPtUpdatePreserveAd) | (1u << FeatHighmemAssist) | (1u << FeatGnttabMapAvailBits)
                 | (1u << FeatDirectMapped);
        if (d.HasVmAssist(VmAssistOp.TypePaeExtendedCr3)) f |= 1u << FeatPaePgdirAbove4gb;
        if (d.IsPrivileged) f |= 1u << FeatDom0;
        return f;
    }

    private static readonly string BuildDate = DateTime.UtcNow.ToString("ddd MMM d HH:mm:ss UTC yyyy", System.Globalization.CultureInfo.InvariantCulture);

    private static long PutString(Vcpu v, ulong arg, string s, int size)
    {
        var buf = new byte[size];
        Encoding.ASCII.GetBytes(s.AsSpan(0, Math.Min(s.Length, size - 1)), buf);
        return GuestMemory.CopyTo(v, arg, buf) ? 0 : -XenErrno.EFAULT;
    }
}
