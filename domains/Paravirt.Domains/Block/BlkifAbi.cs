using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Paravirt.Domains.Block;

/// <summary>BLKIF_OP_* of xen/include/public/io/blkif.h.</summary>
public static class BlkifOp
{
    public const byte Read = 0, Write = 1, WriteBarrier = 2, FlushDiskcache = 3, Reserved1 = 4, Discard = 5, Indirect = 6;
}

/// <summary>BLKIF_RSP_*: the status of a response.</summary>
public static class BlkifStatus
{
    public const short Okay = 0, Error = -1, NotSupported = -2;
}

/// <summary>Limits and flags of blkif.h.</summary>
public static class Blkif
{
    /// <summary>BLKIF_MAX_SEGMENTS_PER_REQUEST: segments in a direct request.</summary>
    public const int MaxSegmentsPerRequest = 11;
    /// <summary>BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST: indirect_grefs in an indirect request.</summary>
    public const int MaxIndirectPagesPerRequest = 8;
    /// <summary>Segment descriptors per indirect page (PAGE_SIZE / sizeof(struct blkif_request_segment)).</summary>
    public const int SegmentsPerIndirectPage = 4096 / 8;
    /// <summary>Segments address the granted page in 512-byte sectors whatever the disk's sector-size.</summary>
    public const int SectorSize = 512;
    public const int SectorsPerPage = 4096 / SectorSize;
    /// <summary>sizeof(union of blkif_request and blkif_response) on x86-64: one ring entry.</summary>
    public const int RingEntrySize = 112;
    /// <summary>BLKIF_DISCARD_SECURE in the discard request's flag byte.</summary>
    public const byte DiscardSecure = 1;
    /// <summary>VDISK_* bits of the back-end's <c>info</c> node.</summary>
    public const uint VdiskCdrom = 1, VdiskRemovable = 2, VdiskReadonly = 4;
    /// <summary>XEN_IO_PROTO_ABI_X86_64 (io/protocols.h): the only ring layout served here.</summary>
    public const string ProtocolX86_64 = "x86_64-abi";
}

/// <summary>struct blkif_request_segment: a granted page and the sectors of it used (first_sect..last_sect, 0..7).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4, Size = 8)]
public struct BlkifRequestSegment
{
    public uint Gref;
    public byte FirstSect;
    public byte LastSect;
    private ushort _pad;
}

[InlineArray(Blkif.MaxSegmentsPerRequest)]
public struct BlkifSegments
{
    private BlkifRequestSegment _element;
}

/// <summary>struct blkif_request on x86-64 (read, write, write-barrier, flush-diskcache): 112 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Size = 112)]
public struct BlkifRequest
{
    [FieldOffset(0)] public byte Operation;
    [FieldOffset(1)] public byte NrSegments;
    /// <summary>blkif_vdev_t handle: only for the front-end's own use.</summary>
    [FieldOffset(2)] public ushort Handle;
    /// <summary>Private to the front-end, echoed in the response.</summary>
    [FieldOffset(8)] public ulong Id;
    /// <summary>Start sector on disk, in 512-byte sectors.</summary>
    [FieldOffset(16)] public ulong SectorNumber;
    [FieldOffset(24)] public BlkifSegments Segments;
}

/// <summary>struct blkif_request_discard on x86-64 (shares the first 24 bytes' layout with blkif_request).</summary>
[StructLayout(LayoutKind.Explicit, Size = 32)]
public struct BlkifRequestDiscard
{
    [FieldOffset(0)] public byte Operation;
    /// <summary>BLKIF_DISCARD_SECURE.</summary>
    [FieldOffset(1)] public byte Flag;
    [FieldOffset(2)] public ushort Handle;
    [FieldOffset(8)] public ulong Id;
    [FieldOffset(16)] public ulong SectorNumber;
    [FieldOffset(24)] public ulong NrSectors;
}

[InlineArray(Blkif.MaxIndirectPagesPerRequest)]
public struct BlkifIndirectGrefs
{
    private uint _element;
}

/// <summary>struct blkif_request_indirect on x86-64: the segments live in granted pages named by indirect_grefs.</summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public struct BlkifRequestIndirect
{
    [FieldOffset(0)] public byte Operation;
    /// <summary>BLKIF_OP_READ or BLKIF_OP_WRITE.</summary>
    [FieldOffset(1)] public byte IndirectOp;
    [FieldOffset(2)] public ushort NrSegments;
    [FieldOffset(8)] public ulong Id;
    [FieldOffset(16)] public ulong SectorNumber;
    [FieldOffset(24)] public ushort Handle;
    [FieldOffset(28)] public BlkifIndirectGrefs IndirectGrefs;
}

/// <summary>struct blkif_response: 16 bytes (id, operation, status).</summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public struct BlkifResponse
{
    [FieldOffset(0)] public ulong Id;
    [FieldOffset(8)] public byte Operation;
    [FieldOffset(10)] public short Status;
}
