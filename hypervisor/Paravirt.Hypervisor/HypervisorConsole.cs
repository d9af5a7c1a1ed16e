using System.Text;

namespace Paravirt.Hypervisor;

/// <summary>
/// The hypervisor's console ring (what `xl dmesg` reads): a bounded buffer of lines, oldest dropped first,
/// as Xen's conring. Lines from Xen itself carry "(XEN) ", guest console_io writes "(dN) ".
/// </summary>
public sealed class HypervisorConsole
{
    private readonly int _capacity;
    private readonly Queue<string> _lines = new();
    private int _chars;
    private readonly Lock _lock = new();

    public HypervisorConsole(int capacityChars = 256 * 1024) => _capacity = capacityChars;

    /// <summary>Raised for every line appended (e.g. to mirror to a log file).</summary>
    public event Action<string>? LineAdded;

    public void Log(string message)
    {
        foreach (var line in message.Split('\n'))
            Append("(XEN) " + line);
    }

    public void Append(string line)
    {
        lock (_lock)
        {
            _lines.Enqueue(line);
            _chars += line.Length + 1;
            while (_chars > _capacity && _lines.Count > 1)
                _chars -= _lines.Dequeue().Length + 1;
        }
        LineAdded?.Invoke(line);
    }

    public string Read(bool clear)
    {
        lock (_lock)
        {
            var sb = new StringBuilder(_chars);
            foreach (var l in _lines) sb.Append(l).Append('\n');
            if (clear) { _lines.Clear(); _chars = 0; }
            return sb.ToString();
        }
    }
}
