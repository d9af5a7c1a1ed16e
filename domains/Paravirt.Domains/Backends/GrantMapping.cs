using Paravirt.Hypervisor.Grants;

namespace Paravirt.Domains.Backends;

/// <summary>
/// One grant of a front-end mapped into a back-end's managed domain (GNTTABOP_map_grant_ref with GNTMAP_host_map).
/// While it lives the granter's entry shows GTF_reading (and GTF_writing) and its frame cannot be freed. Access
/// throws <see cref="ObjectDisposedException"/> once unmapped or once the granter died; dispose to unmap.
/// </summary>
public sealed class GrantMapping : IDisposable
{
    private readonly BackendDomain _backend;
    private int _disposed;

    private GrantMapping(BackendDomain backend, ushort granter, uint gref, uint handle, bool readOnly)
    {
        _backend = backend;
        Granter = granter;
        Ref = gref;
        Handle = handle;
        ReadOnly = readOnly;
    }

    public ushort Granter { get; }
    public uint Ref { get; }
    public uint Handle { get; }
    public bool ReadOnly { get; }

    internal static GrantMapping? TryMap(BackendDomain backend, ushort granter, uint gref, bool readOnly, out short status)
    {
        uint flags = GrantMapFlags.HostMap | (readOnly ? GrantMapFlags.Readonly : 0);
        status = GrantTable.Map(backend.Domain, granter, gref, flags, 0, out uint handle, out _);
        return status == GrantStatus.Okay ? new GrantMapping(backend, granter, gref, handle, readOnly) : null;
    }

    /// <summary>The page's bytes, writable (a read-only mapping throws InvalidOperationException).</summary>
    public Span<byte> Span
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            return _backend.Domain.Grants.MappedFrame(Handle);
        }
    }

    public ReadOnlySpan<byte> ReadOnlySpan
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            return _backend.Domain.Grants.MappedFrameReadOnly(Handle);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) GrantTable.Unmap(_backend.Domain, Handle, 0, 0);
    }
}
