using System.Collections.Concurrent;
using Paravirt.Hypervisor;
using Paravirt.Hypervisor.Events;

namespace Paravirt.Domains.Console;

/// <summary>
/// xenconsoled: serves every guest's PV console ring from Dom0. The toolstack introduces a domain with its
/// console ring frame and the guest's (unbound, Dom0-facing) console event-channel port.
/// </summary>
public sealed class XenConsoled : IDisposable
{
    public const int HistoryBytes = 256 * 1024;
    public const long LogLimitBytes = 1024 * 1024;

    private readonly Hypervisor.Hypervisor _hv;
    private readonly string? _logDirectory;
    private readonly ConcurrentDictionary<ushort, DomainConsole> _consoles = new();

    public XenConsoled(Hypervisor.Hypervisor hv, string? logDirectory)
    {
        _hv = hv;
        _logDirectory = logDirectory;
        if (logDirectory != null) Directory.CreateDirectory(logDirectory);
    }

    public DomainConsole Introduce(Domain guest, ulong ringMfn, uint guestPort)
    {
        var dom0 = _hv.Dom0;
        var ring = _hv.MapForeignFrame(dom0, guest.Id, ringMfn);
        int rc = EventChannelTable.BindInterdomain(dom0, guest.Id, guestPort, out uint local);
        if (rc != 0)
        {
            ring.Dispose();
            throw new HypervisorException(-rc, $"xenconsoled: cannot bind console port {guestPort} of d{guest.Id} (errno {-rc})");
        }
        var log = _logDirectory == null ? null : new BoundedLog(Path.Combine(_logDirectory, $"guest-{guest.Name}.log"), LogLimitBytes);
        var console = new DomainConsole(dom0, ring, local, HistoryBytes, log);
        dom0.EventChannels.SetHandler(local, console.OnEvent);
        _consoles[guest.Id] = console;
        console.Drain();
        return console;
    }

    public DomainConsole? Get(ushort domid) => _consoles.GetValueOrDefault(domid);

    public void Release(ushort domid)
    {
        if (_consoles.TryRemove(domid, out var c)) c.Close();
    }

    public void Dispose()
    {
        foreach (var id in _consoles.Keys) Release(id);
    }
}
