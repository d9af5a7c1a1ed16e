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
        => Walk(memory, cr3, va, write, user, fetch, markAccessedDirty: false, out machineAddress, out _);

    /// <summary>
    /// <see cref="Translate"/> with the side effects of a hardware walk (Intel SDM vol. 3, 4.8): on success the
    /// Accessed bit is set in every entry used, and Dirty in the leaf for a write. Updates are atomic ORs, as
    /// the processor's locked updates, so they race safely with other vCPUs and the hypervisor.
    /// </summary>
    public static uint TranslateAndMark(MachineMemory memory, ulong cr3, ulong va, bool write, bool user, bool fetch,
        out ulong machineAddress)
        => Walk(memory, cr3, va, write, user, fetch, markAccessedDirty: true, out machineAddress, out _);

    /// <inheritdoc cref="TranslateAndMark(MachineMemory, ulong, ulong, bool, bool, bool, out ulong)"/>
    /// <param name="largePage">True when the translation came from a 2 MiB or 1 GiB page.</param>
    public static uint TranslateAndMark(MachineMemory memory, ulong cr3, ulong va, bool write, bool user, bool fetch,
        out ulong machineAddress, out bool largePage)
        => Walk(memory, cr3, va, write, user, fetch, markAccessedDirty: true, out machineAddress, out largePage);

    private static unsafe uint Walk(MachineMemory memory, ulong cr3, ulong va, bool write, bool user, bool fetch,
        bool markAccessedDirty, out ulong machineAddress, out bool largePage)
    {
        machineAddress = 0;
        largePage = false;
        if (!IsCanonical(va)) return uint.MaxValue;
        uint access = (write ? (uint)PageFaultError.Write : 0) | (user ? (uint)PageFaultError.User : 0)
                      | (fetch ? (uint)PageFaultError.InstructionFetch : 0);
        ulong table = cr3 & AddressMask;
        bool allWritable = true, allUser = true, noExec = false;
        ulong e4 = 0, e3 = 0, e2 = 0; // entry addresses of the upper levels used, for A-bit updates
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
                largePage = level > 1;
                if (!memory.IsValidRange(machineAddress, 1)) return access | (uint)PageFaultError.Present | (uint)PageFaultError.ReservedBit;
                if (markAccessedDirty)
                {
                    // The leaf is at level 3, 2 or 1, so the L4 entry was always used.
                    Mark(memory, e4, Accessed);
                    if (level <= 2) Mark(memory, e3, Accessed);
                    if (level == 1) Mark(memory, e2, Accessed);
                    Mark(memory, entryAddr, write ? Accessed | Dirty : Accessed);
                }
                return 0;
            }
            if (level == 4) e4 = entryAddr; else if (level == 3) e3 = entryAddr; else e2 = entryAddr;
            table = e & AddressMask;
        }
        return access;
    }

    private static unsafe void Mark(MachineMemory memory, ulong entryAddr, ulong bits)
    {
        ref ulong entry = ref Unsafe.AsRef<ulong>(memory.Base + entryAddr);
        if ((Volatile.Read(ref entry) & bits) == bits) return;
        Interlocked.Or(ref entry, bits);
        memory.NoteCpuWrite(entryAddr >> MachineMemory.PageShift);
    }
}
