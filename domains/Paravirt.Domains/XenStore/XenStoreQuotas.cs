namespace Paravirt.Domains.XenStore;

/// <summary>
/// Per-domain limits for unprivileged callers, with xenstored's defaults (hard_quotas in tools/xenstored/domain.c).
/// Dom0 is not limited.
/// </summary>
public sealed record XenStoreQuotas
{
    /// <summary>"nodes": nodes a domain may own. Exceeding answers ENOSPC.</summary>
    public int NodesPerDomain { get; init; } = 1000;

    /// <summary>"watches": watches per domain. Exceeding answers E2BIG (as xenstored's do_watch).</summary>
    public int WatchesPerDomain { get; init; } = 128;

    /// <summary>"transactions": concurrently open transactions per domain. Exceeding answers ENOSPC.</summary>
    public int TransactionsPerDomain { get; init; } = 10;

    /// <summary>"transaction-nodes": nodes one transaction may touch. Exceeding answers ENOSPC.</summary>
    public int NodesPerTransaction { get; init; } = 1024;

    /// <summary>"node-permissions": entries in one permission list. Exceeding answers ENOSPC.</summary>
    public int PermissionsPerNode { get; init; } = 5;

    /// <summary>"node-size": accounted node size (header, permissions, value, children names). Exceeding answers ENOSPC.</summary>
    public int NodeSize { get; init; } = 2048;

    /// <summary>"outstanding": replies a ring connection may have waiting before its requests stop being read.</summary>
    public int OutstandingRequests { get; init; } = 20;

    /// <summary>
    /// Bytes of queued output (watch events) kept for one connection; xenstored's "memory" quota is 2.5 MB.
    /// Watch events beyond it are dropped, as xenstored drops them when the memory quota is hit.
    /// </summary>
    public int OutputBytes { get; init; } = 2 * 1024 * 1024 + 512 * 1024;

    public static XenStoreQuotas Default { get; } = new();
}
