using Paravirt.Domains.Backends;

namespace Paravirt.Domains.Block;

/// <summary>The block back-end driver: serves every vbd device the toolstack creates under the back-end domain.</summary>
public static class BlkBack
{
    /// <summary>The xenbus device type: /local/domain/&lt;be&gt;/backend/vbd/..., /local/domain/&lt;fe&gt;/device/vbd/....</summary>
    public const string DeviceType = "vbd";

    /// <summary>Start blkback in <paramref name="backend"/>: it picks up every vbd device written under it.</summary>
    public static BackendDriver Start(BackendDomain backend) =>
        new(backend, DeviceType, (be, fe, dev) => new BlkBackDevice(be, fe, dev));
}
