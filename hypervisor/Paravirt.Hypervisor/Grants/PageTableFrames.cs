namespace Paravirt.Hypervisor.Grants;

/// <summary>
/// Whether a frame may not be written now: it holds a page-table (L1..L4) or descriptor-page type in the PV MMU, so
/// Xen's get_page_type(PGT_writable_page) would fail. Grant pins and copies that would write such a frame are refused.
/// </summary>
internal static class PageTableFrames
{
    public static bool Contains(Domain d, ulong mfn) => !d.Hypervisor.Mmu.AllowsWrites(mfn);
}
