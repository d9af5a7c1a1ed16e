using System.Globalization;
using Paravirt.Domains.XenStore;

namespace Paravirt.Domains.Backends;

/// <summary>
/// One device of a split driver, back-end side: the xenbus state machine of io/xenbus.h driven by the front-end's
/// <c>state</c> node, on a thread of its own. A driver subclasses this and supplies four steps:
/// <see cref="Probe"/> (publish features, then the device goes InitWait), <see cref="Connect"/> (read the
/// front-end's ring details, map, bind; then Connected), <see cref="Service"/> (an event arrived: drain the rings)
/// and <see cref="Disconnect"/> (unmap, unbind). Watch callbacks and event handlers only signal the thread, so
/// every step runs on it and a slow or hostile front-end stalls no one else. Anything a front-end writes is
/// hostile: a step that throws is logged and closes this device, never the back-end.
/// </summary>
public abstract class XenbusBackendDevice
{
    private readonly AutoResetEvent _signal = new(false);
    private readonly Thread _thread;
    private readonly string _token;
    private int _frontendChanged, _kicked, _stop, _started;
    private bool _connected, _watching;
    private static long s_tokens;
    private readonly Action _onFrontendChanged, _service;

    protected XenbusBackendDevice(BackendDomain backend, string type, ushort frontendId, uint devId)
    {
        Backend = backend;
        Type = type;
        FrontendId = frontendId;
        DevId = devId;
        BackendPath = $"/local/domain/{backend.Id}/backend/{type}/{frontendId}/{devId}";
        _token = $"xenbus-be:{BackendPath}:{Interlocked.Increment(ref s_tokens)}";
        _onFrontendChanged = OnFrontendChanged;
        _service = Service;
        _thread = new Thread(Run) { IsBackground = true, Name = $"{type}-be d{frontendId}/{devId}" };
    }

    public BackendDomain Backend { get; }
    public string Type { get; }
    public ushort FrontendId { get; }
    public uint DevId { get; }
    /// <summary>/local/domain/&lt;backend&gt;/backend/&lt;type&gt;/&lt;frontend&gt;/&lt;devid&gt;.</summary>
    public string BackendPath { get; }
    /// <summary>The front-end's directory, as the toolstack wrote it in the back-end's <c>frontend</c> node.</summary>
    public string FrontendPath { get; private set; } = "";
    /// <summary>This end's state (what was last written to BackendPath/state).</summary>
    public XenbusState State { get; private set; } = XenbusState.Initialising;
    /// <summary>Set once the device thread has finished: everything it held is released.</summary>
    public bool IsStopped { get; private set; }

    // ---- the driver's steps ----

    /// <summary>Open the device's resources and publish its features in <see cref="BackendPath"/>; an error string refuses the device.</summary>
    protected abstract string? Probe();

    /// <summary>Read the front-end's ring details and connect; an error string leaves the device unconnected (Closing).</summary>
    protected abstract string? Connect();

    /// <summary>An event arrived (or a previous round left work): serve the rings. Called only while connected.</summary>
    protected abstract void Service();

    /// <summary>Release everything <see cref="Connect"/> took. Must be idempotent.</summary>
    protected abstract void Disconnect();

    /// <summary>The device is going away: release what <see cref="Probe"/> took.</summary>
    protected virtual void Remove() { }

    // ---- what drivers use ----

    /// <summary>True once the device is being stopped: a long <see cref="Service"/> round should return.</summary>
    protected bool StopRequested => Volatile.Read(ref _stop) != 0;

    /// <summary>Ask for <see cref="Service"/> on the device thread (an event-channel handler calls this).</summary>
    protected void Kick()
    {
        Volatile.Write(ref _kicked, 1);
        _signal.Set();
    }

    /// <summary>The front-end misbehaved or the device failed: log why, disconnect, and go Closing.</summary>
    protected void Fail(string why)
    {
        Backend.Log($"{BackendPath}: {why}");
        DisconnectIfConnected();
        SwitchState(XenbusState.Closing);
    }

    /// <summary>A front-end node (hostile input): null when missing or unreadable.</summary>
    protected string? ReadFrontend(string node) => Backend.TryRead($"{FrontendPath}/{node}");

    /// <summary>A back-end node (written by the toolstack or by this driver).</summary>
    protected string? ReadBackend(string node) => Backend.TryRead($"{BackendPath}/{node}");

    /// <summary>A front-end node that must be an unsigned decimal number (at most <paramref name="max"/>).</summary>
    protected bool TryReadFrontendNumber(string node, ulong max, out ulong value) => TryParseNumber(ReadFrontend(node), max, out value);

    /// <summary>An unsigned decimal number of at most <paramref name="max"/> (no sign, no spaces, no hex).</summary>
    protected static bool TryParseNumber(string? text, ulong max, out ulong value)
    {
        value = 0;
        return text != null && text.Length is > 0 and <= 20 && ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value <= max;
    }

    /// <summary>Write a back-end node, unless the toolstack has removed the device meanwhile (never re-creating it).</summary>
    protected bool WriteBackend(string node, string value) => WriteBackendNodes([(node, value)]);

    /// <summary>Write several back-end nodes in one transaction, unless the device has been removed.</summary>
    protected bool WriteBackendNodes(ReadOnlySpan<(string Node, string Value)> nodes)
    {
        var xs = Backend.XenStore;
        for (int attempt = 0; attempt < 16; attempt++)
        {
            uint tx;
            try { tx = xs.TransactionStart(Backend.Id); }
            catch (XenStoreException) { return false; }
            bool present;
            try
            {
                xs.Read(Backend.Id, $"{BackendPath}/frontend", tx);
                present = true;
            }
            catch (XenStoreException) { present = false; }
            try
            {
                if (present)
                    foreach (var (node, value) in nodes) xs.Write(Backend.Id, $"{BackendPath}/{node}", value, tx);
                if (xs.TransactionEnd(Backend.Id, tx, commit: present)) return present;
            }
            catch (XenStoreException e)
            {
                try { xs.TransactionEnd(Backend.Id, tx, commit: false); } catch (XenStoreException) { }
                Backend.Log($"{BackendPath}: cannot write back-end nodes: {e.Message}");
                return false;
            }
        }
        return false;
    }

    protected void SwitchState(XenbusState s)
    {
        if (State == s) return;
        State = s;
        WriteBackend("state", XenbusStateText.Format(s));
    }

    // ---- lifecycle (the driver host calls these) ----

    internal void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) == 0) _thread.Start();
    }

    /// <summary>Stop the device thread and wait until everything it held is released.</summary>
    internal void Stop()
    {
        Volatile.Write(ref _stop, 1);
        _signal.Set();
        if (Volatile.Read(ref _started) == 0) { IsStopped = true; return; }
        if (Thread.CurrentThread != _thread) _thread.Join();
    }

    private void Run()
    {
        try
        {
            if (Begin())
                while (Volatile.Read(ref _stop) == 0)
                {
                    _signal.WaitOne();
                    if (Volatile.Read(ref _stop) != 0) break;
                    if (Interlocked.Exchange(ref _frontendChanged, 0) == 1) Step(_onFrontendChanged);
                    if (Interlocked.Exchange(ref _kicked, 0) == 1 && _connected) Step(_service);
                }
        }
        finally
        {
            if (_watching)
            {
                try { Backend.XenStore.Unwatch(Backend.Id, $"{FrontendPath}/state", _token); }
                catch (XenStoreException) { }
            }
            Step(DisconnectIfConnected);
            Step(Remove);
            IsStopped = true;
            // _signal is left to the finalizer: an event handler racing the stop may still set it.
        }
    }

    private bool Begin()
    {
        var fe = ReadBackend("frontend");
        string prefix = $"/local/domain/{FrontendId}/";
        if (fe == null || !fe.StartsWith(prefix, StringComparison.Ordinal) || fe.Length > 256)
        {
            Backend.Log($"{BackendPath}: no usable frontend node ({fe ?? "missing"}); device ignored");
            return false;
        }
        FrontendPath = fe;
        string? error = "internal error";
        Step(() => error = Probe());
        if (error != null)
        {
            Backend.Log($"{BackendPath}: {error}");
            SwitchState(XenbusState.Closed);
            return false;
        }
        SwitchState(XenbusState.InitWait);
        try
        {
            // The watch fires once at once (as xenstored does), which reads the front-end's current state.
            Backend.XenStore.Watch(Backend.Id, $"{FrontendPath}/state", _token, _ =>
            {
                Volatile.Write(ref _frontendChanged, 1);
                _signal.Set();
            });
            _watching = true;
        }
        catch (XenStoreException e)
        {
            Backend.Log($"{BackendPath}: cannot watch {FrontendPath}/state: {e.Message}");
            return false;
        }
        return true;
    }

    /// <summary>frontend_changed of Linux's xen-blkback, for any driver.</summary>
    private void OnFrontendChanged()
    {
        var fe = XenbusStateText.Parse(ReadFrontend("state"));
        switch (fe)
        {
            case XenbusState.Initialising:
                // A front-end starting over after a close: offer the device again.
                if (State == XenbusState.Closed) SwitchState(XenbusState.InitWait);
                break;
            case XenbusState.Initialised:
            case XenbusState.Connected:
                // Two quick state changes can read as one: connect from InitWait whichever we saw.
                if (State != XenbusState.InitWait) break;
                string? error = Connect();
                if (error != null)
                {
                    Fail($"connect failed: {error}");
                    break;
                }
                _connected = true;
                SwitchState(XenbusState.Connected);
                Kick(); // requests queued before we connected
                break;
            case XenbusState.Closing:
                DisconnectIfConnected();
                SwitchState(XenbusState.Closing);
                break;
            case XenbusState.Closed:
            case XenbusState.Unknown:
                DisconnectIfConnected();
                SwitchState(XenbusState.Closed);
                break;
            default:
                Backend.Log($"{BackendPath}: front-end state {fe} is not handled");
                break;
        }
    }

    private void DisconnectIfConnected()
    {
        if (!_connected) return;
        _connected = false;
        Disconnect();
    }

    /// <summary>Run one step; whatever it throws (a granter that died under a mapping, a bug) closes the device only.</summary>
    private void Step(Action step)
    {
        try { step(); }
        catch (ObjectDisposedException e)
        {
            Backend.Log($"{BackendPath}: front-end memory went away ({e.Message}); disconnecting");
            try { DisconnectIfConnected(); SwitchState(XenbusState.Closed); } catch (Exception inner) when (inner is ObjectDisposedException or XenStoreException) { }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Backend.Log($"{BackendPath}: internal error: {e.GetType().Name}: {e.Message}; disconnecting");
            try { DisconnectIfConnected(); SwitchState(XenbusState.Closing); } catch (Exception inner) when (inner is ObjectDisposedException or XenStoreException) { }
        }
    }
}
