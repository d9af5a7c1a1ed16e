namespace Paravirt.Domains.XenStore;

/// <summary>What request handlers read and change: the store itself, or a transaction's view of it.</summary>
internal interface INodeView
{
    /// <summary>Reads a node; a transaction records the access for its commit-time conflict check.</summary>
    XsNode? Get(string path);

    /// <summary>Reads without recording an access (watch permission checks).</summary>
    XsNode? Peek(string path);

    void Put(string path, XsNode node);
    void Remove(string path);
}

/// <summary>
/// The committed store: canonical path to node, plus the global generation counter and the count of nodes each
/// domain owns (the "nodes" quota counts owned nodes).
/// </summary>
internal sealed class NodeStore : INodeView
{
    private readonly Dictionary<string, XsNode> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<ushort, int> _owned = new();
    private ulong _generation;

    /// <summary>The nodes xenstored creates at start (setup_structure): "/", /tool, /tool/xenstored and the two special nodes, all owned by Dom0 with no access for others.</summary>
    public NodeStore()
    {
        var dom0Only = new[] { new XsPermission(0, XsPerm.None) };
        Put("/", new XsNode([], dom0Only, ["tool"]));
        Put("/tool", new XsNode([], dom0Only, ["xenstored"]));
        Put("/tool/xenstored", new XsNode([], dom0Only, []));
        Put(SpecialPaths.ReleaseDomain, new XsNode([], dom0Only, []));
        Put(SpecialPaths.IntroduceDomain, new XsNode([], dom0Only, []));
    }

    public ulong Generation => _generation;
    public int Count => _nodes.Count;

    public XsNode? Get(string path) => _nodes.GetValueOrDefault(path);
    public XsNode? Peek(string path) => _nodes.GetValueOrDefault(path);

    public int OwnedBy(ushort domid) => _owned.GetValueOrDefault(domid);

    public IEnumerable<KeyValuePair<string, XsNode>> All => _nodes;

    public ulong NextGeneration() => ++_generation;

    public void Put(string path, XsNode node)
    {
        if (_nodes.TryGetValue(path, out var old)) AddOwned(old.Owner, -1);
        _nodes[path] = node.WithGeneration(++_generation);
        AddOwned(node.Owner, +1);
    }

    public void Remove(string path)
    {
        if (_nodes.Remove(path, out var old)) AddOwned(old.Owner, -1);
    }

    private void AddOwned(ushort domid, int delta)
    {
        int n = _owned.GetValueOrDefault(domid) + delta;
        if (n == 0) _owned.Remove(domid); else _owned[domid] = n;
    }
}

internal static class SpecialPaths
{
    public const string IntroduceDomain = "@introduceDomain";
    public const string ReleaseDomain = "@releaseDomain";
}

/// <summary>
/// A transaction (docs/misc/xenstore.txt TRANSACTION_START/END): reads and writes go to a private overlay over
/// the store; every node touched remembers the store's generation when first touched, and the commit fails with
/// EAGAIN if any of those nodes changed meanwhile (xenstored's per-node conflict check).
/// </summary>
internal sealed class XsTransaction : INodeView
{
    /// <summary>Generation recorded for a node that did not exist when first touched.</summary>
    public const ulong Absent = ulong.MaxValue;

    private readonly NodeStore _store;
    private readonly Dictionary<string, XsNode?> _overlay = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];

    public XsTransaction(uint id, NodeStore store)
    {
        Id = id;
        _store = store;
    }

    public uint Id { get; }

    /// <summary>Node path to the store generation seen on first access (or <see cref="Absent"/>).</summary>
    public Dictionary<string, ulong> Accessed { get; } = new(StringComparer.Ordinal);

    /// <summary>Watch events held back until commit ("changes made in transactions cause an event only if and when committed").</summary>
    public List<PendingWatchEvent> PendingEvents { get; } = [];

    /// <summary>Set when an operation failed half-way; a commit then answers ENOMEM as xenstored does.</summary>
    public bool Failed { get; set; }

    public bool NodeCreated { get; set; }

    public IEnumerable<KeyValuePair<string, XsNode?>> Changes
    {
        get
        {
            foreach (var p in _order) yield return new(p, _overlay[p]);
        }
    }

    public XsNode? Get(string path)
    {
        if (_overlay.TryGetValue(path, out var n)) return n;
        var node = _store.Get(path);
        Track(path, node);
        return node;
    }

    public XsNode? Peek(string path) => _overlay.TryGetValue(path, out var n) ? n : _store.Peek(path);

    public void Put(string path, XsNode node)
    {
        if (!_overlay.ContainsKey(path)) { Track(path, _store.Get(path)); _order.Add(path); }
        _overlay[path] = node;
    }

    public void Remove(string path)
    {
        if (!_overlay.ContainsKey(path)) { Track(path, _store.Get(path)); _order.Add(path); }
        _overlay[path] = null;
    }

    private void Track(string path, XsNode? node) => Accessed.TryAdd(path, node?.Generation ?? Absent);
}

/// <summary>A watch event a transaction will fire when it commits, with the permissions needed to decide who may see it.</summary>
internal readonly record struct PendingWatchEvent(string Path, bool Exact, XsPermission[]? NodePerms, XsPermission[]? ParentPerms, XsPermission[]? OldPerms);
