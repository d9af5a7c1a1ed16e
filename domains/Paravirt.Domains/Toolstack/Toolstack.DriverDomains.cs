using System.Collections.Concurrent;
using System.Globalization;
using Paravirt.Domains.Backends;
using Paravirt.Domains.Block;
using Paravirt.Domains.XenStore;
using Paravirt.Hypervisor;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Toolstack;

// Driver domains (xl.cfg driver_domain=1): managed domains with their own domid, name and xenstore home that host
// back-ends for guests' devices (a disk spec's backend=<name|id>). Their "kernel" is Paravirt's managed back-end code,
// so a driver-domain config names no kernel; `xl create` starts it running (there are no vCPUs to pause), `xl list` shows it,
// `xl destroy` (or `xl shutdown`) stops its back-ends first - each front-end sees its back-end go Closing, then Closed,
// and every grant mapping and event channel the back-end held is released - then removes its nodes and the domain.
public sealed partial class Toolstack
{
    /// <summary>A driver domain and the back-ends it hosts.</summary>
    private sealed class DriverDomain(Domain domain, DomainConfig config, BackendDomain backends, BackendDriver blkback)
    {
        public Domain Domain { get; } = domain;
        public DomainConfig Config { get; } = config;
        public BackendDomain Backends { get; } = backends;
        public BackendDriver BlkBack { get; } = blkback;
        /// <summary>Set once teardown started: no new device may be placed here.</summary>
        public volatile bool Dying;
    }

    private readonly ConcurrentDictionary<ushort, DriverDomain> _driverDomains = new();

    /// <summary>True when <paramref name="domId"/> is a live driver domain.</summary>
    public bool IsDriverDomain(uint domId) => domId < ushort.MaxValue && _driverDomains.TryGetValue((ushort)domId, out var dd) && !dd.Dying;

    /// <summary>The BackendDomain of a driver domain (tests look at its grant mappings through it).</summary>
    internal BackendDomain? DriverDomainBackends(ushort domId) => _driverDomains.TryGetValue(domId, out var dd) ? dd.Backends : null;

    /// <summary>
    /// Build a driver domain from its config. <paramref name="paused"/> has no effect: there are no vCPUs to hold (`xl
    /// create -c` creates paused, then finds no console and destroys it again).
    /// </summary>
    private DomainInfo CreateDriverDomain(DomainConfig config, bool paused)
    {
        ValidateName(config.Name);
        string what = $"driver domain \"{config.Name}\"";
        if (!string.IsNullOrEmpty(config.Kernel))
            throw new ToolstackException($"{what}: kernel={config.Kernel} is not used: a driver domain runs Paravirt's managed back-ends (remove kernel=)");
        if (config.Ramdisk != null) throw new ToolstackException($"{what}: ramdisk= is not used: a driver domain boots no kernel");
        if (config.Disks.Count > 0) throw new ToolstackException($"{what}: a driver domain has no disks of its own (give guests' disks backend={config.Name})");
        if (config.Type != "pv") throw new ToolstackException($"type \"{config.Type}\" is not supported: only \"pv\"");

        lock (_createLock)
        {
            if (NameInUse(config.Name))
                throw new ToolstackException($"domain with name \"{config.Name}\" already exists");
            Domain d;
            try { d = _hv.CreateManagedDomain(config.Name, config.Uuid ?? Guid.NewGuid()); }
            catch (HypervisorException e) { throw new ToolstackException(e.Message); }
            bool introduced = false;
            BackendDriver? blkback = null;
            try
            {
                PublishDriverDomain(d, config);
                _xenstore.IntroduceManagedDomain(d.Id);
                introduced = true;
                var backends = new BackendDomain(d, _xenstore);
                blkback = BlkBack.Start(backends);
                _driverDomains[d.Id] = new DriverDomain(d, config, backends, blkback);
                _hv.Console.Log($"d{d.Id}: created driver domain \"{config.Name}\" (back-ends: {BlkBack.DeviceType})");
                return Info(d);
            }
            catch (Exception e) when (e is XenStoreException or HypervisorException)
            {
                blkback?.Dispose();
                if (introduced) _xenstore.ReleaseDomain(d.Id);
                RemoveDomainNodes(d);
                _hv.DestroyDomain(d);
                throw new ToolstackException($"{what}: {e.Message}");
            }
        }
    }

    /// <summary>libxl__domain_make's nodes for a domain without a kernel: its home readable by it, the rest Dom0's.</summary>
    private void PublishDriverDomain(Domain d, DomainConfig config)
    {
        string dom = $"/local/domain/{d.Id}", vm = $"/vm/{d.Uuid}";
        var ro = new[] { new XsPermission(0, XsPerm.None), new XsPermission(d.Id, XsPerm.Read) };
        var rw = new[] { new XsPermission(d.Id, XsPerm.None) };
        Mkdir(dom, ro);
        Mkdir(vm, ro);
        Write(0, $"{vm}/uuid", d.Uuid.ToString(), ro);
        Write(0, $"{vm}/name", config.Name, ro);
        Write(0, $"{dom}/vm", vm, ro);
        Write(0, $"{dom}/name", config.Name, ro);
        Write(0, $"{dom}/domid", d.Id.ToString(CultureInfo.InvariantCulture), ro);
        foreach (var sub in new[] { "device", "control", "data", "drivers", "feature", "attr", "error", "libxl" })
            Mkdir($"{dom}/{sub}", rw);
    }

    /// <summary>
    /// Tear a driver domain down: every device it serves is told Closing, its back-end stopped (mappings and ports
    /// released), then Closed; then its driver, its xenstore presence (the nodes it owns: the devices' back-end
    /// directories) and the domain itself go. The guests keep their front-end directories and their disk entries
    /// (`xl block-detach` removes them), as when a Xen driver domain dies under its guests.
    /// </summary>
    private void DestroyDriverDomain(DriverDomain dd)
    {
        var d = dd.Domain;
        List<VbdDevice> served;
        lock (_diskLock)
        {
            if (dd.Dying) return;
            dd.Dying = true;
            served = _disks.Values.SelectMany(l => l).Where(x => x.BackendId == d.Id).ToList();
        }
        foreach (var dev in served)
        {
            TryWrite(0, $"{dev.BackendPath}/online", "0");
            TryWrite(0, $"{dev.BackendPath}/state", "5");
            dd.BlkBack.RemoveFrontend(dev.FrontendId, dev.DevId);
            TryWrite(0, $"{dev.BackendPath}/state", "6");
        }
        dd.BlkBack.Dispose();
        _xenstore.ReleaseDomain(d.Id);
        RemoveDomainNodes(d);
        _hv.DestroyDomain(d);
        _driverDomains.TryRemove(d.Id, out _);
        _hv.Console.Log($"d{d.Id}: driver domain \"{dd.Config.Name}\" destroyed ({served.Count} device(s) closed)");
    }

    /// <summary>The blkback serving devices whose back-end is in <paramref name="backendId"/>; null once that domain is gone.</summary>
    private BackendDriver? BlkBackFor(ushort backendId) =>
        backendId == 0 ? _blkback : _driverDomains.TryGetValue(backendId, out var dd) && !dd.Dying ? dd.BlkBack : null;

    private bool TryDestroyDriverDomain(uint domId)
    {
        if (domId >= ushort.MaxValue || !_driverDomains.TryGetValue((ushort)domId, out var dd)) return false;
        DestroyDriverDomain(dd);
        return true;
    }

    private void DestroyAllDriverDomains()
    {
        foreach (var dd in _driverDomains.Values) DestroyDriverDomain(dd);
    }

    private DomainConfig? DriverDomainConfig(ushort domId) => _driverDomains.TryGetValue(domId, out var dd) ? dd.Config : null;

    private void TryWrite(ushort caller, string path, string value)
    {
        try { _xenstore.Write(caller, path, value); }
        catch (XenStoreException) { }
    }
}
