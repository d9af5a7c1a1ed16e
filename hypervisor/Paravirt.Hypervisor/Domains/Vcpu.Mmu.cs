namespace Paravirt.Hypervisor;

/// <summary>
/// The PV MMU state Xen keeps per vCPU: the two page-table bases of a 64-bit PV guest. The guest kernel runs on
/// <see cref="GuestTableMfn"/> (Xen's v->arch.guest_table) and guest user mode on <see cref="GuestTableUserMfn"/>
/// (v->arch.guest_table_user). The builder and MMUEXT_NEW_BASEPTR / MMUEXT_NEW_USER_BASEPTR set them, each
/// holding a validated L4 type reference on the frame; the kernel/user mode switch loads CR3 from them.
/// </summary>
public sealed partial class Vcpu
{
    /// <summary>Machine frame of the kernel-mode L4 table (Xen's guest_table); 0 = none yet.</summary>
    public ulong GuestTableMfn { get; internal set; }

    /// <summary>Machine frame of the user-mode L4 table (Xen's guest_table_user); 0 = none (user mode then faults).</summary>
    public ulong GuestTableUserMfn { get; internal set; }

    /// <summary>MMUEXT_SET_LDT: linear address of the guest LDT (page aligned) and its entry count (0 = no LDT).</summary>
    public ulong LdtBase { get; internal set; }
    public uint LdtEntries { get; internal set; }

    /// <summary>
    /// Hooks into the PV MMU the traps side uses: the CR3 value for the current mode, per Xen's
    /// toggle_guest_mode / update_cr3 (kernel mode uses guest_table, user mode guest_table_user).
    /// </summary>
    public ulong PageTableBaseFor(bool kernelMode) => (kernelMode ? GuestTableMfn : GuestTableUserMfn) << 12;
}
