using System.Globalization;

namespace Paravirt.XlConfig;

/// <summary>A bad cpu list (xl.cfg(5) <c>cpus</c>): one line naming the offending item.</summary>
public sealed class CpuRangeException(string message) : Exception(message);

/// <summary>
/// A set of physical CPUs written as xl.cfg(5) <c>cpus</c> does (xl_parse.c parse_cpurange): comma-separated items,
/// applied left to right, each <c>all</c>, <c>N</c> or <c>N-M</c>, optionally prefixed by <c>nodes:</c> (or
/// <c>node:</c>) for whole NUMA nodes and by <c>^</c> to remove instead of add: <c>"0-3,^2"</c> is {0,1,3}.
/// <c>^all</c> is refused. The set is resolved against the host with <see cref="Resolve"/>.
/// </summary>
public sealed class CpuRange
{
    /// <summary>One item: add or remove cpus/nodes From..To (both null: all).</summary>
    public readonly record struct Item(bool Remove, bool Nodes, int? From, int? To);

    /// <summary>Largest cpu or node number accepted: Xen's NR_CPUS ceiling (4096) bounds any bitmap.</summary>
    public const int MaxId = 4095;

    public string Text { get; }
    public IReadOnlyList<Item> Items { get; }

    private CpuRange(string text, IReadOnlyList<Item> items) { Text = text; Items = items; }

    public static CpuRange Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var items = new List<Item>();
        foreach (string raw in text.Split(','))
        {
            if (raw.Length == 0) continue; // strtok skips empty items
            string s = raw;
            bool remove = s.StartsWith('^');
            if (remove) s = s[1..];
            bool nodes = false;
            if (s.StartsWith("nodes:", StringComparison.Ordinal)) { nodes = true; s = s[6..]; }
            else if (s.StartsWith("node:", StringComparison.Ordinal)) { nodes = true; s = s[5..]; }
            if (s == "all")
            {
                if (remove) throw new CpuRangeException($"Can't combine \"^\" and \"all\" in `{raw}' of \"{text}\"");
                items.Add(new Item(false, nodes, null, null));
                continue;
            }
            int dash = s.IndexOf('-');
            string a = dash < 0 ? s : s[..dash], b = dash < 0 ? s : s[(dash + 1)..];
            if (!TryId(a, out int from) || !TryId(b, out int to) || to < from)
                throw new CpuRangeException($"Invalid pcpu range `{raw}' in \"{text}\" (expected all, N or N-M with N <= M <= {MaxId}, optionally after ^ and nodes:)");
            items.Add(new Item(remove, nodes, from, to));
        }
        if (items.Count == 0) throw new CpuRangeException($"empty cpu list \"{text}\"");
        return new CpuRange(text, items);
    }

    private static bool TryId(string s, out int id)
    {
        id = 0;
        return s.Length is > 0 and <= 4 && s.All(char.IsAsciiDigit)
            && int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out id) && id <= MaxId;
    }

    /// <summary>
    /// The sorted cpu numbers below <paramref name="nrCpus"/> this range selects, with <paramref name="nodeCpus"/>
    /// giving each NUMA node's cpus (a node with none adds nothing). Cpus beyond the host are dropped, as
    /// libxl_bitmap_set does past the bitmap's end.
    /// </summary>
    public IReadOnlyList<int> Resolve(int nrCpus, Func<int, IEnumerable<int>> nodeCpus)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(nrCpus);
        ArgumentNullException.ThrowIfNull(nodeCpus);
        var set = new bool[nrCpus];
        foreach (var item in Items)
        {
            if (item.From is null) { Array.Fill(set, true); continue; }
            for (int id = item.From.Value; id <= item.To!.Value; id++)
            {
                if (!item.Nodes) { if (id < nrCpus) set[id] = !item.Remove; continue; }
                foreach (int cpu in nodeCpus(id))
                    if (cpu >= 0 && cpu < nrCpus) set[cpu] = !item.Remove;
            }
        }
        return Enumerable.Range(0, nrCpus).Where(i => set[i]).ToArray();
    }

    public override string ToString() => Text;
}
