using Paravirt.Hypervisor;
using Paravirt.Hypervisor.Abi;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Toolstack;

/// <summary>
/// The per-domain resource limits of xl.cfg(5) (max_event_channels, max_grant_frames, max_maptrack_frames), applied to
/// a new domain before anything is allocated in it, as libxl passes them in XEN_DOMCTL_createdomain.
/// </summary>
public sealed partial class Toolstack
{
    /// <summary>libxl's default max_event_channels (libxl_create.c: b_info->event_channels = 1023).</summary>
    public const uint DefaultMaxEventChannels = 1023;
    /// <summary>xl.conf's default max_grant_frames.</summary>
    public const uint DefaultMaxGrantFrames = 64;
    /// <summary>xl.conf's default max_maptrack_frames.</summary>
    public const uint DefaultMaxMaptrackFrames = 1024;
    /// <summary>The most grant-table and maptrack frames this hypervisor grants a domain (its gnttab_max_frames role).</summary>
    public const uint HypervisorMaxGrantFrames = 4096;

    /// <summary>struct grant_mapping is 8 bytes: a maptrack frame holds 512 handles.</summary>
    private const int MaptrackHandlesPerFrame = 4096 / 8;

    private static void ApplyLimits(Domain d, DomainConfig config)
    {
        uint channels = config.MaxEventChannels ?? DefaultMaxEventChannels;
        uint grantFrames = config.MaxGrantFrames ?? DefaultMaxGrantFrames;
        uint maptrackFrames = config.MaxMaptrackFrames ?? DefaultMaxMaptrackFrames;

        // max_evtchn_port: ports 0..N; the 2-level ABI caps the count at 4096 (Xen: min(EVTCHN_2L_NR_CHANNELS, N + 1)).
        // Ports 1 and 2 carry xenstore and the console, so fewer than 2 usable ports cannot boot a guest.
        if (channels < 2)
            throw new ToolstackException(
                $"max_event_channels={channels} is too small: the domain needs event channels 1 and 2 for xenstore and its console");
        // Xen's grant_table_init: at least INITIAL_NR_GRANT_FRAMES (1), at most the hypervisor's limit.
        if (grantFrames < 1 || grantFrames > HypervisorMaxGrantFrames)
            throw new ToolstackException($"max_grant_frames={grantFrames} is out of range: 1..{HypervisorMaxGrantFrames}");
        if (maptrackFrames > HypervisorMaxGrantFrames)
            throw new ToolstackException($"max_maptrack_frames={maptrackFrames} is out of range: 0..{HypervisorMaxGrantFrames}");

        d.EventChannels.MaxPorts = (int)Math.Min((ulong)channels + 1, SharedInfoLayout.MaxEventChannels);
        d.Grants.MaxFrames = (int)grantFrames;
        d.Grants.MaxMaptrack = (int)maptrackFrames * MaptrackHandlesPerFrame;
    }
}
