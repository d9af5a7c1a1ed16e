using System.Globalization;
using Paravirt.Domains.XenStore;

namespace Paravirt.Domains.Backends;

/// <summary>
/// Hosts one split driver's back-ends in a managed domain, as xenbus_backend does in a Linux driver domain: it
/// watches /local/domain/&lt;backend&gt;/backend/&lt;type&gt; and creates a device (through the driver's factory)
/// for every &lt;frontend&gt;/&lt;devid&gt; directory the toolstack writes there, and stops a device when its
/// directory disappears. The toolstack may also stop devices synchronously (<see cref="RemoveFrontend"/>) so that
/// destroying a domain returns every mapping and port before the domain's memory goes.
/// </summary>
public sealed class BackendDriver : IDisposable
{
    public delegate XenbusBackendDevice DeviceFactory(BackendDomain backend, ushort frontendId, uint devId);

    private readonly DeviceFactory _factory;
    private readonly Dictionary<(ushort Fe, uint DevId), XenbusBackendDevice> _devices = new();
    private readonly HashSet<ushort> _removing = new();
    private readonly Lock _lock = new();
    /// <summary>One scan at a time: a scan that listed the tree before a device appeared must not stop it afterwards.</summary>
    private readonly Lock _scanLock = new();
    private readonly AutoResetEvent _rescan = new(false);
    private readonly Thread _thread;
    private readonly string _token;
    private int _stop;

    public BackendDriver(BackendDomain backend, string type, DeviceFactory factory)
    {
        if (string.IsNullOrEmpty(type) || type.Contains('/')) throw new ArgumentException($"bad device type \"{type}\"", nameof(type));
        Backend = backend;
        Type = type;
        _factory = factory;
        Root = $"/local/domain/{backend.Id}/backend/{type}";
        _token = $"xenbus-driver:{Root}:{Guid.NewGuid():N}";
        // Dom0 may create its own directory; a driver domain may not write under its home, which only the toolstack
        // does (the directory appears with the first device written there): the watch serves either way.
        try { backend.XenStore.Mkdir(backend.Id, Root); }
        catch (XenStoreException e) when (e.Errno == XsErrno.EACCES) { }
        _thread = new Thread(Run) { IsBackground = true, Name = $"{type}-be driver d{backend.Id}" };
        _thread.Start();
        backend.XenStore.Watch(backend.Id, Root, _token, _ => _rescan.Set());
    }

    public BackendDomain Backend { get; }
    public string Type { get; }
    /// <summary>/local/domain/&lt;backend&gt;/backend/&lt;type&gt;.</summary>
    public string Root { get; }

    public IReadOnlyList<XenbusBackendDevice> Devices
    {
        get { lock (_lock) return [.. _devices.Values]; }
    }

    public XenbusBackendDevice? Find(ushort frontendId, uint devId)
    {
        lock (_lock) return _devices.GetValueOrDefault((frontendId, devId));
    }

    /// <summary>Look for new and removed devices now (the watch does this on its own; tests and the toolstack may hurry it).</summary>
    public void Rescan() => Scan();

    /// <summary>
    /// Stop every device of <paramref name="frontendId"/> (or just <paramref name="devId"/>) and wait until each
    /// has released its mappings and ports. Until <see cref="ForgetFrontend"/>, no new device of that front-end is
    /// created, so the toolstack can remove the nodes without a rescan racing it.
    /// </summary>
    public void RemoveFrontend(ushort frontendId, uint? devId = null)
    {
        List<XenbusBackendDevice> victims;
        lock (_lock)
        {
            _removing.Add(frontendId);
            victims = _devices.Where(kv => kv.Key.Fe == frontendId && (devId == null || kv.Key.DevId == devId)).Select(kv => kv.Value).ToList();
            foreach (var v in victims) _devices.Remove((v.FrontendId, v.DevId));
        }
        foreach (var v in victims) v.Stop();
    }

    /// <summary>Allow devices of <paramref name="frontendId"/> again (after the toolstack removed or rewrote its nodes).</summary>
    public void ForgetFrontend(ushort frontendId)
    {
        lock (_lock) _removing.Remove(frontendId);
        _rescan.Set();
    }

    private void Run()
    {
        while (Volatile.Read(ref _stop) == 0)
        {
            _rescan.WaitOne();
            if (Volatile.Read(ref _stop) != 0) break;
            try { Scan(); }
            catch (Exception e) when (e is XenStoreException or InvalidOperationException)
            {
                Backend.Log($"{Root}: rescan failed: {e.Message}");
            }
        }
    }

    private void Scan()
    {
        lock (_scanLock) ScanLocked();
    }

    private void ScanLocked()
    {
        var present = new HashSet<(ushort, uint)>();
        foreach (var feText in List(Root))
        {
            if (!ushort.TryParse(feText, NumberStyles.None, CultureInfo.InvariantCulture, out ushort fe)) continue;
            foreach (var devText in List($"{Root}/{feText}"))
            {
                if (!uint.TryParse(devText, NumberStyles.None, CultureInfo.InvariantCulture, out uint dev)) continue;
                // libxl writes a device's nodes in one transaction; "frontend" marks one that is complete.
                if (Backend.TryRead($"{Root}/{feText}/{devText}/frontend") == null) continue;
                present.Add((fe, dev));
            }
        }
        var start = new List<XenbusBackendDevice>();
        var stop = new List<XenbusBackendDevice>();
        lock (_lock)
        {
            if (Volatile.Read(ref _stop) != 0) return;
            foreach (var key in present)
            {
                if (_devices.ContainsKey(key) || _removing.Contains(key.Item1)) continue;
                // The toolstack may have removed the device since the listing: look again before creating it.
                if (Backend.TryRead($"{Root}/{key.Item1}/{key.Item2}/frontend") == null) continue;
                var d = _factory(Backend, key.Item1, key.Item2);
                _devices[key] = d;
                start.Add(d);
            }
            foreach (var (key, d) in _devices.ToList())
                if (!present.Contains(key)) { _devices.Remove(key); stop.Add(d); }
        }
        foreach (var d in stop) d.Stop();
        foreach (var d in start) d.Start();
    }

    private string[] List(string path)
    {
        try { return Backend.XenStore.Directory(Backend.Id, path); }
        catch (XenStoreException) { return []; }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _stop, 1) != 0) return;
        try { Backend.XenStore.Unwatch(Backend.Id, Root, _token); } catch (XenStoreException) { }
        _rescan.Set();
        if (Thread.CurrentThread != _thread) _thread.Join();
        List<XenbusBackendDevice> all;
        lock (_lock) { all = [.. _devices.Values]; _devices.Clear(); }
        foreach (var d in all) d.Stop();
    }
}
