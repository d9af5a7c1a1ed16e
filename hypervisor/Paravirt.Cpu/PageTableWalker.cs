using System.Runtime.CompilerServices;

namespace Paravirt.Cpu;

/// <summary>
/// 4-level x86-64 page walk over machine memory (Intel SDM vol. 3, 4.5), without side effects on A/D bits.
/// Shared by the hypervisor (copies to and from guest virtual addresses) and platforms.
/// </summary>
public static class PageTableWalker
{
    public const ulong Present = 1UL << 0, Writable = 1UL << 1, User = 1UL << 2, Accessed = 1UL << 5,
        Dirty = 1UL << 6, PageSize = 1UL << 7, Global = 1UL << 8, NoExecute = 1UL << 63;
    /// <summary>Physical-address bits 12..51 of an entry.</summary>
    public const ulong AddressMask = 0x000F_FFFF_FFFF_F000UL;

    /// <summary>True when <paramref name="va"/> is canonical for 48-bit linear addresses.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsCanonical(ulong va) => (ulong)((long)(va << 16) >> 16) == va;

    /// <summary>
    /// Translate a linear address with the permission checks of an access at the given privilege.
    /// Returns 0 (success) with the machine address, or a #PF error code (never 0 on failure: bit
    /// <see cref="PageFaultError.Present"/> or the access bits are set) for the caller to raise.
    /// A non-canonical address returns <see cref="uint.MaxValue"/> (a #GP, not a #PF).
    /// </summary>
    public static uint Translate(MachineMemory memory, ulong cr3, ulong va, bool write, bool user, bool fetch,
        out ulong machineAddress)
    {
        machineAddress = 0;
        if (!IsCanonical(va)) return uint.MaxValue;
        uint access = (write ? (uint)PageFaultError.Write : 0) | (user ? (uint)PageFaultError.User : 0)
                      | (fetch ? (uint)PageFaultError.InstructionFetch : 0);
        ulong table = cr3 & AddressMask;
        bool allWritable = true, allUser = true, noExec = false;
        for (int level = 4; level >= 1; level--)
        {
            int shift = 12 + 9 * (level - 1);
            ulong entryAddr = table + (((va >> shift) & 0x1FF) << 3);
            if (!memory.IsValidRange(entryAddr, 8)) return access | (uint)PageFaultError.ReservedBit;
            ulong e = memory.ReadUInt64(entryAddr);
            if ((e & Present) == 0) return access;
            allWritable &= (e & Writable) != 0;
            allUser &= (e & User) != 0;
            noExec |= (e & NoExecute) != 0;
            bool leaf = level == 1 || (level <= 2 && (e & PageSize) != 0);
            if (level == 4 && (e & PageSize) != 0) return access | (uint)PageFaultError.Present | (uint)PageFaultError.ReservedBit;
            if (level == 3 && (e & PageSize) != 0) leaf = true; // 1 GiB page
            if (leaf)
            {
                if ((user && !allUser) || (write && !allWritable) || (fetch && noExec))
                    return access | (uint)PageFaultError.Present;
                ulong pageMask = (1UL << shift) - 1;
                machineAddress = ((e & AddressMask) & ~pageMask) | (va & pageMask);
                if (!memory.IsValidRange(machineAddress, 1)) return access | (uint)PageFaultError.Present | (uint)PageFaultError.ReservedBit;
                return 0;
            }
            table = e & AddressMask;
        }
        return access;
    }
}
