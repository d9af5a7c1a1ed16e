using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Paravirt.Hypervisor.Abi;

/// <summary>
/// struct start_info of xen/include/public/xen.h for x86-64 (xen_pfn_t and unsigned long are 64-bit).
/// The builder writes it into the guest's start_info page; offsets are pinned by tests.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 8)]
public unsafe struct StartInfo
{
    public const int MagicLength = 32, MaxGuestCmdline = 1024;
    /// <summary>"xen-&lt;version&gt;-&lt;platform&gt;": the builder writes "xen-3.0-x86_64".</summary>
    public const string Magic64 = "xen-3.0-x86_64";

    public fixed byte Magic[MagicLength];
    public ulong NrPages;
    /// <summary>MACHINE address of the shared_info page.</summary>
    public ulong SharedInfo;
    public uint Flags;
    public ulong StoreMfn;
    public uint StoreEvtchn;
    /// <summary>console.domU.mfn (a union with console.dom0 {info_off, info_size}).</summary>
    public ulong ConsoleMfn;
    public uint ConsoleEvtchn;
    public ulong PtBase;
    public ulong NrPtFrames;
    public ulong MfnList;
    public ulong ModStart;
    public ulong ModLen;
    public fixed byte CmdLine[MaxGuestCmdline];
    public ulong FirstP2mPfn;
    public ulong NrP2mFrames;
}

/// <summary>SIF_* flags of start_info.flags.</summary>
[Flags]
public enum StartInfoFlags : uint
{
    Privileged = 1 << 0,
    InitDomain = 1 << 1,
    MultibootMod = 1 << 2,
    ModStartPfn = 1 << 3,
    VirtP2m4Tools = 1 << 4,
}

/// <summary>
/// Offsets inside the x86-64 shared_info page and its vcpu_info slots (xen.h, arch-x86/xen.h).
/// vcpu_info is 64 bytes: upcall_pending u8 @0, upcall_mask u8 @1, pending_sel @8, arch {cr2, pad} @16,
/// vcpu_time_info @32.
/// </summary>
public static class SharedInfoLayout
{
    public const int LegacyMaxVcpus = 32, VcpuInfoSize = 64;
    public const int VcpuUpcallPending = 0, VcpuUpcallMask = 1, VcpuPendingSel = 8, VcpuArchCr2 = 16, VcpuTime = 32;
    public const int EvtchnPending = LegacyMaxVcpus * VcpuInfoSize;       // 2048
    public const int EvtchnMask = EvtchnPending + 64 * 8;                 // 2560
    public const int WcVersion = EvtchnMask + 64 * 8, WcSec = WcVersion + 4, WcNsec = WcVersion + 8, WcSecHi = WcVersion + 12;
    public const int Arch = WcVersion + 16;                               // 3088
    /// <summary>2-level event channel ABI: 64 words of 64 bits.</summary>
    public const int MaxEventChannels = 64 * 64;

    public static int VcpuInfo(int vcpu) => vcpu * VcpuInfoSize;
}

internal static class StartInfoChecks
{
    // Compile-time reminder of what the tests pin: sizeof(start_info) on x86-64 is 1168.
    public static readonly int Size = Unsafe.SizeOf<StartInfo>();
}
