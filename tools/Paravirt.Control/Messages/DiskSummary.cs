namespace Paravirt.Control.Messages;

/// <summary>One virtual block device as `xl block-list` prints it (libxl_diskinfo); -1 where the front-end has not said.</summary>
public sealed class DiskSummary
{
    /// <summary>The xenstore device number (xen-vbd-interface(7)).</summary>
    public uint DevId { get; set; }
    public string Vdev { get; set; } = "";
    public uint BackendId { get; set; }
    public uint FrontendId { get; set; }
    /// <summary>The front-end's XenbusState.</summary>
    public int State { get; set; }
    public int EventChannel { get; set; }
    public int RingRef { get; set; }
    public string BackendPath { get; set; } = "";
    public string Target { get; set; } = "";
    public bool ReadWrite { get; set; }
    /// <summary>blkback's statistics for xentop (oo_req, rd_req, wr_req, rd_sect, wr_sect); -1: not available.</summary>
    public long OoReq { get; set; } = -1;
    public long RdReq { get; set; } = -1;
    public long WrReq { get; set; } = -1;
    public long RdSect { get; set; } = -1;
    public long WrSect { get; set; } = -1;
}
