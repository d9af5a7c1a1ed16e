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
                uint submap = idx == 0 ? FeatureSubmap0 : 0;
                return GuestMemory.Write(v, arg + 4, submap) ? 0 : -XenErrno.EFAULT;
            }
            case PageSize:
                return 4096;
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

    /// <summary>XENFEAT_* bits offered to PV guests; grows as the ABI work lands (none of the optional ones yet).</summary>
    public const uint FeatureSubmap0 = 0;

    private static readonly string BuildDate = DateTime.UtcNow.ToString("ddd MMM d HH:mm:ss UTC yyyy", System.Globalization.CultureInfo.InvariantCulture);

    private static long PutString(Vcpu v, ulong arg, string s, int size)
    {
        var buf = new byte[size];
        Encoding.ASCII.GetBytes(s.AsSpan(0, Math.Min(s.Length, size - 1)), buf);
        return GuestMemory.CopyTo(v, arg, buf) ? 0 : -XenErrno.EFAULT;
    }
}
