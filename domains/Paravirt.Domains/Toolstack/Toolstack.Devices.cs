using System.Collections.Concurrent;
using System.Globalization;
using Paravirt.Domains.Backends;
using Paravirt.Domains.Block;
using Paravirt.Domains.XenStore;
using Paravirt.Hypervisor;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Toolstack;

/// <summary>One virtual block device as `xl block-list` shows it (libxl_diskinfo).</summary>
public sealed record DiskInfo(uint DevId, string Vdev, uint BackendId, uint FrontendId, int State, int EventChannel, int RingRef, string BackendPath, string Target, bool ReadWrite,
    Block.BlkStatistics? Statistics = null);

// Virtual devices: libxl's device_disk_add/remove. The toolstack writes the xenstore nodes (libxl__device_generic_add);
// blkback, hosted in the back-end domain, picks them up by its watch. Destroying a domain stops its back-ends
// synchronously before the domain's memory goes, so no mapping, port or node outlives it.
public sealed partial class Toolstack
{
    private BackendDomain? _dom0Backends;
    private BackendDriver? _blkback;
    private readonly ConcurrentDictionary<ushort, List<VbdDevice>> _disks = new();
    private readonly Lock _diskLock = new();

    /// <summary>How long a detach waits for the guest to close its front-end before removing the device anyway (libxl's LIBXL_DESTROY_TIMEOUT).</summary>
    public TimeSpan DeviceRemoveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The blkback serving Dom0's back-ends (started with the toolstack).</summary>
    internal BackendDriver BlkBackDriver => _blkback ?? throw new InvalidOperationException("device back-ends are not started");

    private void StartDeviceBackends()
    {
        _dom0Backends = new BackendDomain(_hv.Dom0, _xenstore);
        _blkback = BlkBack.Start(_dom0Backends);
    }

    private void StopDeviceBackends()
    {
        _blkback?.Dispose();
        _blkback = null;
    }

    public IReadOnlyList<DiskInfo> ListDisks(uint domId)
    {
        var d = Lookup(domId); // Dom0 is a valid question: it has no disks of its own
        if (!_disks.TryGetValue(d.Id, out var list)) return [];
        lock (_diskLock) return list.Select(Describe).ToList();
    }

    public void AttachDisk(uint domId, DiskSpec disk)
    {
        var (d, _) = Guest(domId);
        lock (_diskLock) AttachDiskLocked(d, disk);
    }

    public void DetachDisk(uint domId, string device, bool force)
    {
        var (d, _) = Guest(domId);
        VbdDevice dev;
        lock (_diskLock)
        {
            uint? devid = uint.TryParse(device, NumberStyles.None, CultureInfo.InvariantCulture, out uint n) ? n : VbdNodes.DevIdOf(device);
            var list = _disks.GetValueOrDefault(d.Id);
            dev = list?.FirstOrDefault(x => x.DevId == devid)
                  ?? throw new ToolstackException($"Error: Device {device} not connected.");
            list!.Remove(dev);
        }
        if (!force) AskFrontendToClose(dev);
        RemoveDevice(dev);
        _hv.Console.Log($"d{d.Id}: disk {dev.Vdev} ({dev.Params}) detached{(force ? " (forced)" : "")}");
    }

    /// <summary>Create-time: every disk of the configuration, or none (the caller destroys the domain on failure).</summary>
    private void AttachConfiguredDisks(Domain d, DomainConfig config)
    {
        lock (_diskLock)
            foreach (var disk in config.Disks) AttachDiskLocked(d, disk);
    }

    /// <summary>Teardown: stop every back-end of the domain (waiting until each released its mappings), then remove the nodes.</summary>
    private void DetachAllDisks(Domain d)
    {
        if (!_disks.TryRemove(d.Id, out var list)) return;
        List<VbdDevice> copy;
        lock (_diskLock) copy = [.. list];
        foreach (var dev in copy) RemoveDevice(dev);
    }

    private void AttachDiskLocked(Domain d, DiskSpec disk)
    {
        string what = $"disk {disk.Vdev}";
        if (disk.Script != null)
            throw new ToolstackException($"{what}: script={disk.Script} is not supported yet: block hotplug scripts are not run (give the image path as target)");
        if (disk.Format != "raw")
            throw new ToolstackException($"{what}: format={disk.Format} is not supported (blkback serves format=raw images)");
        if (disk.BackendType is not (null or "phy"))
            throw new ToolstackException($"{what}: backendtype={disk.BackendType} is not supported (blkback is backendtype=phy)");
        if (disk.Colo) throw new ToolstackException($"{what}: colo disks are not supported");
        if (disk.Specification is not (null or "xen"))
            throw new ToolstackException($"{what}: specification={disk.Specification} is not supported (blkback speaks the Xen PV block protocol)");
        if (disk.Target == null) throw new ToolstackException($"{what}: an empty cdrom drive is not supported (no target)");
        ushort backendId = ResolveBackendDomain(disk);
        uint devid = VbdNodes.DevIdOf(disk.Vdev) ?? throw new ToolstackException($"{what}: invalid vdev `{disk.Vdev}' (see xen-vbd-interface(7))");
        var list = _disks.GetOrAdd(d.Id, _ => []);
        if (list.Any(x => x.DevId == devid))
            throw new ToolstackException($"{what}: device {devid} already exists in domain {d.Id}");
        string target = Path.GetFullPath(disk.Target);
        bool readWrite = disk.ReadWrite && !disk.IsCdrom;
        foreach (var (other, disks) in _disks)
            foreach (var x in disks)
                if (x.Params == target && (readWrite || x.ReadWrite))
                    throw new ToolstackException($"{what}: {target} is already in use by domain {other} ({x.Vdev}{(x.ReadWrite ? ", read-write" : "")})");
        // Open once here so the administrator gets the reason now; blkback opens it again for itself.
        try { RawImage.Open(target, !readWrite).Dispose(); }
        catch (BlockImageException e) { throw new ToolstackException($"{what}: {e.Message}"); }

        var dev = new VbdDevice(backendId, d.Id, devid, disk.Vdev, target, readWrite, disk.IsCdrom, disk.Discard ?? true, disk.Trusted ?? true);
        try { VbdNodes.Create(_xenstore, dev); }
        catch (XenStoreException e) { throw new ToolstackException($"{what}: cannot write the device's xenstore nodes: {e.Message}"); }
        list.Add(dev);
        // libxl waits for the back-end to come up (hotplug) before reporting success.
        BlkBackFor(backendId)?.Rescan(); // present: a driver domain is marked dying only under _diskLock
        string? state = WaitFor(() => ReadOrNull($"{dev.BackendPath}/state") is "2" or "4" or "6" ? ReadOrNull($"{dev.BackendPath}/state") : null, TimeSpan.FromSeconds(10));
        if (state != "2" && state != "4")
        {
            list.Remove(dev);
            RemoveDevice(dev);
            throw new ToolstackException($"{what}: the block back-end did not come up (see xl dmesg)");
        }
        _hv.Console.Log($"d{d.Id}: disk {disk.Vdev} (devid {devid}) on {target}{(readWrite ? "" : " read-only")}, back-end in d{backendId}");
    }

    /// <summary>backend=: Dom0 or a driver domain (driver_domain=1), by name or id.</summary>
    private ushort ResolveBackendDomain(DiskSpec disk)
    {
        if (disk.Backend is null or "0" or "Domain-0") return 0;
        var be = _hv.Domains.FirstOrDefault(x => !x.IsDying && (x.Id.ToString(CultureInfo.InvariantCulture) == disk.Backend || (_guests.TryGetValue(x.Id, out var g) ? g.Name : x.Name) == disk.Backend));
        if (be == null) throw new ToolstackException($"disk {disk.Vdev}: backend={disk.Backend} is an invalid domain identifier");
        if (!IsDriverDomain(be.Id))
            throw new ToolstackException($"disk {disk.Vdev}: backend={disk.Backend}: domain {be.Id} is not a driver domain (create one with driver_domain=1)");
        return be.Id;
    }

    /// <summary>libxl's safe remove: online=0 and back-end Closing, then wait for the front-end to close (bounded).</summary>
    private void AskFrontendToClose(VbdDevice dev)
    {
        if (ReadOrNull($"{dev.FrontendPath}/state") is not ("3" or "4")) return;
        // A back-end whose driver domain is gone has nothing to close (and writing its nodes would re-create them).
        if (BlkBackFor(dev.BackendId) == null) return;
        try
        {
            _xenstore.Write(0, $"{dev.BackendPath}/online", "0");
            _xenstore.Write(0, $"{dev.BackendPath}/state", "5");
        }
        catch (XenStoreException) { return; }
        var closed = WaitFor(() => ReadOrNull($"{dev.FrontendPath}/state") is null or "6" ? "closed" : null, DeviceRemoveTimeout);
        if (closed == null) _hv.Console.Log($"d{dev.FrontendId}: front-end of {dev.Vdev} did not close within {DeviceRemoveTimeout.TotalSeconds:0.#} s; removing it anyway");
    }

    private void RemoveDevice(VbdDevice dev)
    {
        var driver = BlkBackFor(dev.BackendId);
        driver?.RemoveFrontend(dev.FrontendId, dev.DevId);
        VbdNodes.Remove(_xenstore, dev.BackendId, dev.FrontendId, dev.DevId);
        driver?.ForgetFrontend(dev.FrontendId);
    }

    private DiskInfo Describe(VbdDevice dev)
    {
        int Num(string node) => int.TryParse(ReadOrNull($"{dev.FrontendPath}/{node}"), NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : -1;
        // The back-end's counters while it serves the device (none once its driver domain is gone).
        var stats = (BlkBackFor(dev.BackendId)?.Find(dev.FrontendId, dev.DevId) as Block.BlkBackDevice)?.Statistics;
        return new DiskInfo(dev.DevId, dev.Vdev, dev.BackendId, dev.FrontendId, Num("state"), Num("event-channel"), Num("ring-ref"),
            dev.BackendPath, dev.Params, dev.ReadWrite, stats);
    }

    private static string? WaitFor(Func<string?> probe, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (probe() is { } v) return v;
            if (DateTime.UtcNow > deadline) return null;
            Thread.Sleep(1);
        }
    }
}
