using Paravirt.Hypervisor.Events;

namespace Paravirt.Domains.Backends;

/// <summary>
/// A back-end's end of an interdomain event channel: bound to the front-end's unbound port
/// (EVTCHNOP_bind_interdomain), with a handler for incoming events. The handler runs on whichever thread sent the
/// event (a guest vCPU), so it must only signal; <see cref="Notify"/> is EVTCHNOP_send. Dispose closes the port.
/// </summary>
public sealed class InterdomainChannel : IDisposable
{
    private readonly BackendDomain _backend;
    private int _closed;

    private InterdomainChannel(BackendDomain backend, ushort remote, uint remotePort, uint localPort)
    {
        _backend = backend;
        RemoteDomain = remote;
        RemotePort = remotePort;
        LocalPort = localPort;
    }

    public ushort RemoteDomain { get; }
    public uint RemotePort { get; }
    public uint LocalPort { get; }

    /// <summary>Bind to <paramref name="remotePort"/> of <paramref name="remote"/>; null with a negative errno when refused.</summary>
    public static InterdomainChannel? TryBind(BackendDomain backend, ushort remote, uint remotePort, Action onEvent, out int errno)
    {
        errno = EventChannelTable.BindInterdomain(backend.Domain, remote, remotePort, out uint local);
        if (errno != 0) return null;
        backend.Domain.EventChannels.SetHandler(local, onEvent);
        // bind_interdomain marks the new port pending before a handler could be set: deliver that event now, so a
        // notification the front-end sent before the bind is not lost.
        onEvent();
        return new InterdomainChannel(backend, remote, remotePort, local);
    }

    /// <summary>EVTCHNOP_send to the front-end; 0 or a negative errno (the peer closed its end).</summary>
    public int Notify() => Volatile.Read(ref _closed) != 0 ? 0 : EventChannelTable.Send(_backend.Domain, LocalPort);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        try { _backend.Domain.EventChannels.SetHandler(LocalPort, null); }
        catch (ArgumentOutOfRangeException) { }
        EventChannelTable.Close(_backend.Domain, LocalPort);
    }
}
