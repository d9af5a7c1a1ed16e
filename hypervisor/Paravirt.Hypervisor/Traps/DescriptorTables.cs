using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Traps;

/// <summary>
/// A 64-bit PV vCPU's descriptor tables as the CPU sees them (xen/arch/x86/pv/descriptor-tables.c): the guest's
/// GDT frames from set_gdt below <see cref="TrapAbi.FirstReservedGdtEntry"/>, and above it the hypervisor's own
/// entries, of which ring 3 sees the flat FLAT_RING3_CS32 (0xe023), DS (0xe02b) and CS64 (0xe033) segments.
/// Every guest descriptor is checked again on use (check_descriptor), so a GDT page the guest rewrote behind the
/// hypervisor's back can never hand ring 3 a privileged segment.
/// </summary>
public sealed class DescriptorTables
{
    // Descriptor bits (SDM vol. 3, 3.4.5), in the high dword.
    internal const uint Present = 1u << 15, DplMask = 3u << 13, System = 1u << 12, TypeMask = 0xF00;
    private const uint CallGate64 = 0xC00;

    /// <summary>The hypervisor's GDT entries from FIRST_RESERVED_GDT_ENTRY on (Xen's gdt_table).</summary>
    private static readonly ulong[] s_reserved =
    [
        0,                       // 0xe000: null
        0x00AF_9A00_0000_FFFFUL, // 0xe008: ring 0 code, 64-bit (the hypervisor's own)
        0x00CF_9200_0000_FFFFUL, // 0xe010: ring 0 data
        0,                       // 0xe018: unused in 64-bit
        0x00CF_FA00_0000_FFFFUL, // 0xe023: FLAT_RING3_CS32
        0x00CF_F200_0000_FFFFUL, // 0xe02b: FLAT_RING3_DS32 / SS
        0x00AF_FA00_0000_FFFFUL, // 0xe033: FLAT_RING3_CS64
    ];

    private readonly Vcpu _vcpu;

    internal DescriptorTables(Vcpu vcpu) => _vcpu = vcpu;

    /// <summary>
    /// The CPU's <see cref="Paravirt.Cpu.DescriptorLookup"/>: the descriptor for a GDT or LDT selector. Nothing is
    /// found for GDT indexes past the guest's entries or the hypervisor's page, nor for LDT indexes past the
    /// MMUEXT_SET_LDT size (the load faults #GP(selector)).
    /// </summary>
    public bool Lookup(ushort selector, out ulong descriptor) => Lookup(selector, fromCpu: true, out descriptor);

    private bool Lookup(ushort selector, bool fromCpu, out ulong descriptor)
    {
        descriptor = 0;
        _vcpu.PendingLdtFaultSelector = -1;
        _vcpu.PendingLdtRetry = false;
        if ((selector & 4) != 0) return LookupLdt(selector, fromCpu, out descriptor);
        int index = selector >> 3;
        if (index >= TrapAbi.FirstReservedGdtEntry)
        {
            int r = index - TrapAbi.FirstReservedGdtEntry;
            if (r >= s_reserved.Length) return false;
            descriptor = s_reserved[r];
            return descriptor != 0;
        }
        if (index >= _vcpu.GdtEntries) return false;
        var frames = _vcpu.GdtFrames;
        int frame = index / TrapAbi.GdtEntriesPerFrame;
        if (frame >= frames.Length) return false;
        var hv = _vcpu.Domain.Hypervisor;
        ulong mfn = frames[frame];
        // The frame was validated and owned when installed; stay safe if ownership changed since.
        if (!hv.Frames.IsOwnedBy(mfn, _vcpu.Domain.Id)) return false;
        ulong raw = hv.Memory.ReadUInt64((mfn << 12) + (ulong)(index % TrapAbi.GdtEntriesPerFrame) * 8);
        if (!CheckDescriptor(ref raw)) return false;
        descriptor = raw;
        return true;
    }

    /// <summary>
    /// An LDT selector: its page of the guest's LDT is mapped on first use (pv_map_ldt_shadow_page: the guest kernel
    /// maps it, the frame takes the segment-descriptor type, all its descriptors checked). When that fails the load
    /// faults, and the vCPU turns the fault into the #PF at the LDT address Xen gives the guest.
    /// </summary>
    private bool LookupLdt(ushort selector, bool fromCpu, out ulong descriptor)
    {
        descriptor = 0;
        uint index = (uint)selector >> 3;
        if (index >= _vcpu.LdtEntries) return false;
        ulong offset = (ulong)index * 8;
        var hv = _vcpu.Domain.Hypervisor;
        var mapping = hv.Mmu.MapLdtShadowPage(_vcpu, (int)(offset >> 12), mayBlock: !fromCpu, out ulong mfn);
        if (mapping != Memory.PvMmu.LdtMapping.Mapped)
        {
            _vcpu.PendingLdtFaultSelector = selector & 0xFFFC;
            _vcpu.PendingLdtFaultAddress = _vcpu.LdtBase + offset;
            _vcpu.PendingLdtRetry = mapping == Memory.PvMmu.LdtMapping.Busy;
            return false;
        }
        if (!hv.Frames.IsOwnedBy(mfn, _vcpu.Domain.Id)) return false;
        ulong raw = hv.Memory.ReadUInt64((mfn << 12) + (offset & 0xFFF));
        if (!CheckDescriptor(ref raw)) return false;
        descriptor = raw;
        return true;
    }

    /// <summary>
    /// check_descriptor for a 64-bit PV guest: a not-present descriptor is harmless; code and data segments
    /// are accepted with their DPL raised to at least 3 (the guest kernel runs in ring 3); type 0 (the upper half
    /// of a 16-byte gate) is harmless; a 64-bit call gate is accepted if its target selector is a guest code
    /// selector, with DPL 0 (so its use faults for emulation) and the original DPL kept in the selector's RPL;
    /// anything else (TSS, LDT, interrupt and trap gates) is refused. Fixes <paramref name="descriptor"/> up in place.
    /// </summary>
    public static bool CheckDescriptor(ref ulong descriptor)
    {
        uint a = (uint)descriptor, b = (uint)(descriptor >> 32);
        if ((b & Present) == 0) return true;
        uint dpl = (b >> 13) & 3;
        if (dpl < 3) dpl = 3;
        b = (b & ~DplMask) | (dpl << 13);
        if ((b & System) != 0)
        {
            descriptor = ((ulong)b << 32) | a;
            return true;
        }
        if ((b & TypeMask) == 0) return true;
        if ((b & TypeMask) != CallGate64) return false;
        ushort target = (ushort)(a >> 16);
        if (!IsGuestCodeSelector(target)) return false;
        b &= ~DplMask;
        target = (ushort)((target & ~3) | (int)dpl);
        a = (a & 0xFFFF) | ((uint)target << 16);
        if ((b & 0xFF) != 0) return false; // reserved bits of a 64-bit gate
        descriptor = ((ulong)b << 32) | a;
        return true;
    }

    /// <summary>guest_gate_selector_okay: the flat ring-3 code selectors, or any LDT or guest GDT selector.</summary>
    private static bool IsGuestCodeSelector(ushort selector)
    {
        int s = selector & ~3;
        if (s == (X86_64.FlatRing3Cs64 & ~3) || s == (X86_64.FlatRing3Cs32 & ~3)) return true;
        if ((selector & 4) != 0) return true;
        return s != 0 && (selector >> 3) < TrapAbi.FirstReservedGdtEntry;
    }

    /// <summary>Is <paramref name="selector"/> (RPL 3) a present ring-3 code segment? (iret's CS check.)</summary>
    public bool IsUserCodeSelector(ushort selector)
    {
        if ((selector & 3) != 3 || !Lookup(selector, fromCpu: false, out ulong d)) return false;
        uint b = (uint)(d >> 32);
        return (b & Present) != 0 && (b & System) != 0 && (b & (1u << 11)) != 0 && ((b >> 13) & 3) == 3;
    }

    /// <summary>Is <paramref name="selector"/> (RPL 3) a present, writable ring-3 data segment? (iret's SS check.)</summary>
    public bool IsUserStackSelector(ushort selector)
    {
        if ((selector & 3) != 3 || !Lookup(selector, fromCpu: false, out ulong d)) return false;
        uint b = (uint)(d >> 32);
        return (b & Present) != 0 && (b & System) != 0 && (b & (1u << 11)) == 0 && (b & (1u << 9)) != 0 && ((b >> 13) & 3) == 3;
    }

    /// <summary>The 32-bit base of a data descriptor (what a segment load puts in FS/GS base).</summary>
    public static ulong BaseOf(ulong descriptor)
    {
        uint a = (uint)descriptor, b = (uint)(descriptor >> 32);
        return (a >> 16) | ((ulong)(b & 0xFF) << 16) | (b & 0xFF00_0000UL);
    }
}
