using System.Globalization;
using Paravirt.Domains.XenStore;

namespace Paravirt.Domains.Block;

/// <summary>What the toolstack tells blkback and blkfront about one disk (libxl_device_disk, resolved).</summary>
public sealed record VbdDevice(ushort BackendId, ushort FrontendId, uint DevId, string Vdev, string Params, bool ReadWrite, bool IsCdrom, bool Discard,
    bool Trusted = true)
{
    public string BackendPath => VbdNodes.BackendPath(BackendId, FrontendId, DevId);
    public string FrontendPath => VbdNodes.FrontendPath(FrontendId, DevId);
}

/// <summary>
/// The xenstore side of a virtual block device as libxl writes it (libxl__device_disk_add and
/// libxl__device_generic_add): the back-end directory owned by the back-end domain and readable by the
/// front-end, the front-end directory owned by the front-end and readable by the back-end, both starting in
/// XenbusState Initialising. Device ids follow xen-vbd-interface(7).
/// </summary>
public static class VbdNodes
{
    public static string BackendPath(ushort be, ushort fe, uint devid) => $"/local/domain/{be}/backend/{BlkBack.DeviceType}/{fe}/{devid}";
    public static string FrontendPath(ushort fe, uint devid) => $"/local/domain/{fe}/device/{BlkBack.DeviceType}/{devid}";

    /// <summary>
    /// The xenstore device number of a vdev (libxl__device_disk_dev_number): xvd/dNpM disks 0..15 with partitions
    /// 0..15 as 202&lt;&lt;8|disk&lt;&lt;4|part, larger ones as 1&lt;&lt;28|disk&lt;&lt;8|part (disk &lt; 2^20, part &lt; 256);
    /// sd disks and partitions 0..15 as 8&lt;&lt;8|disk&lt;&lt;4|part; hd disks 0..3 with partitions 0..63 under majors 3
    /// and 22. Null when the name encodes nothing valid.
    /// </summary>
    public static uint? DevIdOf(string vdev)
    {
        if (string.IsNullOrEmpty(vdev) || vdev.Length > 32) return null;
        if (vdev[0] == 'd' && vdev.Length > 1 && char.IsAsciiDigit(vdev[1]))
        {
            int p = vdev.IndexOf('p');
            string diskText = p < 0 ? vdev[1..] : vdev[1..p];
            string partText = p < 0 ? "0" : vdev[(p + 1)..];
            if (!TryDecimal(diskText, out uint disk) || !TryDecimal(partText, out uint part)) return null;
            return Xvd(disk, part);
        }
        string prefix = vdev.StartsWith("xvd", StringComparison.Ordinal) ? "xvd" : vdev.StartsWith("sd", StringComparison.Ordinal) ? "sd" : vdev.StartsWith("hd", StringComparison.Ordinal) ? "hd" : "";
        if (prefix.Length == 0) return null;
        int i = prefix.Length;
        long n = -1;
        while (i < vdev.Length && vdev[i] is >= 'a' and <= 'z')
        {
            n = (n + 1) * 26 + (vdev[i] - 'a');
            if (n >= 1 << 20) return null;
            i++;
        }
        if (n < 0) return null;
        uint d = (uint)n, partition = 0;
        if (i < vdev.Length && !TryDecimal(vdev[i..], out partition)) return null;
        return prefix switch
        {
            "xvd" => Xvd(d, partition),
            "sd" => d <= 15 && partition <= 15 ? (8u << 8) | (d << 4) | partition : null,
            _ => d <= 3 && partition <= 63 ? ((d < 2 ? 3u : 22u) << 8) | ((d % 2) << 6) | partition : null,
        };
    }

    private static uint? Xvd(uint disk, uint part)
    {
        if (disk <= 15 && part <= 15) return (202u << 8) | (disk << 4) | part;
        if (disk >= 1 << 20 || part > 255) return null;
        return (1u << 28) | (disk << 8) | part;
    }

    private static bool TryDecimal(string s, out uint v)
    {
        v = 0;
        return s.Length is > 0 and <= 9 && (s.Length == 1 || s[0] != '0') && uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v);
    }

    /// <summary>Write both directories in one transaction, as Dom0 (retrying on conflict).</summary>
    public static void Create(XenStoreDaemon xs, VbdDevice dev)
    {
        string be = dev.BackendPath, fe = dev.FrontendPath;
        string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        var beNodes = new (string, string)[]
        {
            ("frontend", fe), ("frontend-id", I(dev.FrontendId)), ("online", "1"), ("removable", dev.IsCdrom ? "1" : "0"),
            ("bootable", "1"), ("state", "1"), ("dev", dev.Vdev), ("type", "phy"), ("mode", dev.ReadWrite ? "w" : "r"),
            ("device-type", dev.IsCdrom ? "cdrom" : "disk"), ("discard-enable", dev.Discard ? "1" : "0"), ("params", dev.Params),
        };
        var feNodes = new (string, string)[]
        {
            ("backend", be), ("backend-id", I(dev.BackendId)), ("state", "1"), ("virtual-device", I(dev.DevId)),
            ("device-type", dev.IsCdrom ? "cdrom" : "disk"),
            // libxl: whether the front-end may trust the back-end (xl-disk-configuration(5) trusted/untrusted; default trusted).
            ("trusted", dev.Trusted ? "1" : "0"),
        };
        for (int attempt = 0; ; attempt++)
        {
            uint tx = xs.TransactionStart(0);
            try
            {
                xs.Mkdir(0, be, tx);
                xs.SetPerms(0, be, [new XsPermission(dev.BackendId, XsPerm.None), new XsPermission(dev.FrontendId, XsPerm.Read)], tx);
                foreach (var (k, v) in beNodes) xs.Write(0, $"{be}/{k}", v, tx);
                xs.Mkdir(0, fe, tx);
                xs.SetPerms(0, fe, [new XsPermission(dev.FrontendId, XsPerm.None), new XsPermission(dev.BackendId, XsPerm.Read)], tx);
                foreach (var (k, v) in feNodes) xs.Write(0, $"{fe}/{k}", v, tx);
            }
            catch
            {
                xs.TransactionEnd(0, tx, commit: false);
                throw;
            }
            if (xs.TransactionEnd(0, tx, commit: true)) return;
            if (attempt > 16) throw new XenStoreException(XsErrno.EAGAIN, "transaction", be);
        }
    }

    /// <summary>Remove both directories (libxl__device_destroy); missing ones are fine.</summary>
    public static void Remove(XenStoreDaemon xs, ushort be, ushort fe, uint devid)
    {
        foreach (var path in new[] { BackendPath(be, fe, devid), FrontendPath(fe, devid) })
        {
            try { xs.Rm(0, path); }
            catch (XenStoreException) { }
        }
        // libxl leaves no empty per-front-end directory behind under the back-end.
        string feDir = $"/local/domain/{be}/backend/{BlkBack.DeviceType}/{fe}";
        try
        {
            if (xs.Directory(0, feDir).Length == 0) xs.Rm(0, feDir);
        }
        catch (XenStoreException) { }
    }
}
