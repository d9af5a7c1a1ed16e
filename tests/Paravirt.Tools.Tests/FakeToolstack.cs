using System.Threading.Channels;
using Paravirt.Domains.Toolstack;
using Paravirt.XlConfig;

namespace Paravirt.Tools.Tests;

/// <summary>
/// An in-memory toolstack for driving paravirtd and xl without a hypervisor. Domains are records; a test makes one
/// print on its console (<see cref="Print"/>), read input (<see cref="InputOf"/>) and die (<see cref="End"/>).
/// </summary>
internal sealed class FakeToolstack : IToolstack
{
    private readonly object _gate = new();
    private readonly Dictionary<uint, FakeDomain> _domains = new();
    private uint _nextId = 1;

    public string DmesgText { get; set; } = "(XEN) Paravirt hypervisor\n";
    public bool DmesgCleared { get; private set; }
    /// <summary>When set, Create throws this as a ToolstackException message.</summary>
    public string? CreateFailure { get; set; }

    public sealed class FakeDomain(DomainInfo info)
    {
        public DomainInfo Info { get; set; } = info;
        public List<byte> History { get; } = [];
        public List<Channel<byte[]>> Listeners { get; } = [];
        public List<byte> Input { get; } = [];
        public TaskCompletionSource<DomainEnd> Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Paused { get; set; }
    }

    public DomainInfo Create(DomainConfig config, bool paused)
    {
        lock (_gate)
        {
            if (CreateFailure is { } failure)
                throw new ToolstackException(failure);
            if (_domains.Values.Any(d => d.Info.Name == config.Name))
                throw new ToolstackException($"domain with name \"{config.Name}\" already exists");
            uint id = _nextId++;
            var info = new DomainInfo(id, config.Name, config.Uuid ?? Guid.NewGuid(), config.MemoryMiB, config.Vcpus,
                paused ? "--p---" : "-b----", 0);
            _domains[id] = new FakeDomain(info) { Paused = paused };
            return info;
        }
    }

    public IReadOnlyList<DomainInfo> List()
    {
        lock (_gate)
            return _domains.Values.Select(d => d.Info).OrderBy(d => d.DomId).ToList();
    }

    public DomainInfo Find(string nameOrId)
    {
        lock (_gate)
        {
            var found = _domains.Values.FirstOrDefault(d => d.Info.Name == nameOrId || d.Info.DomId.ToString() == nameOrId);
            return found?.Info ?? throw new ToolstackException($"{nameOrId} is an invalid domain identifier (rc=-6)");
        }
    }

    public void Destroy(uint domId) => End(domId, new DomainEnd(ShutdownReason.Poweroff, Destroyed: true, null));

    public void Pause(uint domId) => SetState(domId, paused: true);
    public void Unpause(uint domId) => SetState(domId, paused: false);

    private void SetState(uint domId, bool paused)
    {
        lock (_gate)
        {
            var domain = Get(domId);
            domain.Paused = paused;
            domain.Info = domain.Info with { State = paused ? "--p---" : "-b----" };
        }
    }

    public ConsoleSession AttachConsole(uint domId)
    {
        lock (_gate)
        {
            var domain = Get(domId);
            var channel = Channel.CreateUnbounded<byte[]>();
            if (domain.History.Count > 0)
                channel.Writer.TryWrite(domain.History.ToArray());
            domain.Listeners.Add(channel);
            return new ConsoleSession(channel.Reader, domain.Ended.Task,
                input => { lock (_gate) domain.Input.AddRange(input.ToArray()); },
                () => { lock (_gate) domain.Listeners.Remove(channel); channel.Writer.TryComplete(); });
        }
    }

    public Task<DomainEnd> WaitForEnd(uint domId)
    {
        lock (_gate)
            return Get(domId).Ended.Task;
    }

    public string Dmesg(bool clear)
    {
        lock (_gate)
        {
            string text = DmesgText;
            if (clear)
            {
                DmesgText = "";
                DmesgCleared = true;
            }
            return text;
        }
    }

    // --- test controls ---

    public void Print(uint domId, string text)
    {
        lock (_gate)
        {
            var domain = Get(domId);
            var bytes = System.Text.Encoding.UTF8.GetBytes(text);
            domain.History.AddRange(bytes);
            foreach (var listener in domain.Listeners)
                listener.Writer.TryWrite(bytes);
        }
    }

    public string InputOf(uint domId)
    {
        lock (_gate)
            return System.Text.Encoding.UTF8.GetString(Get(domId).Input.ToArray());
    }

    public bool IsPaused(uint domId)
    {
        lock (_gate)
            return Get(domId).Paused;
    }

    public int ListenerCount(uint domId)
    {
        lock (_gate)
            return Get(domId).Listeners.Count;
    }

    public bool Exists(uint domId)
    {
        lock (_gate)
            return _domains.ContainsKey(domId);
    }

    /// <summary>The domain dies: consoles complete, waiters learn how, and it leaves the list.</summary>
    public void End(uint domId, DomainEnd end)
    {
        lock (_gate)
        {
            var domain = Get(domId);
            _domains.Remove(domId);
            foreach (var listener in domain.Listeners)
                listener.Writer.TryComplete();
            domain.Ended.TrySetResult(end);
        }
    }

    private FakeDomain Get(uint domId) =>
        _domains.TryGetValue(domId, out var domain) ? domain : throw new ToolstackException($"domain {domId} does not exist");
}
