using System.Collections.Concurrent;

namespace Paravirt.Domains.Toolstack;

/// <summary>
/// The most recently torn-down guests, so that a waiter that asks just after a domain went (`xl create -F` following a
/// restart whose new domain died at once, `xl shutdown -w` racing a guest that stops immediately) still learns how it
/// ended and what replaced it, as libxl's death events reach a watcher that registered late.
/// </summary>
public sealed partial class Toolstack
{
    /// <summary>How many ended guests are remembered (oldest forgotten first).</summary>
    private const int RememberedEnds = 64;

    private readonly ConcurrentDictionary<ushort, ManagedGuest> _ended = new();
    private readonly ConcurrentQueue<ushort> _endedOrder = new();

    private void RememberEnded(ManagedGuest g)
    {
        _ended[g.Domain.Id] = g;
        _endedOrder.Enqueue(g.Domain.Id);
        while (_endedOrder.Count > RememberedEnds && _endedOrder.TryDequeue(out ushort old))
            _ended.TryRemove(old, out _);
    }

    /// <summary>A guest that no longer exists but ended recently under <paramref name="domId"/>; null when unknown.</summary>
    private ManagedGuest? RecentlyEnded(uint domId) =>
        domId < ushort.MaxValue && _ended.TryGetValue((ushort)domId, out var g) ? g : null;
}
