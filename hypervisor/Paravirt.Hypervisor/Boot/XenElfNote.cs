namespace Paravirt.Hypervisor.Boot;

/// <summary>XEN_ELFNOTE_* types of xen/include/public/elfnote.h (note name "Xen").</summary>
public enum XenElfNote
{
    Info = 0, Entry = 1, HypercallPage = 2, VirtBase = 3, PaddrOffset = 4, XenVersion = 5, GuestOs = 6,
    GuestVersion = 7, Loader = 8, PaeMode = 9, Features = 10, BsdSymtab = 11, HvStartLow = 12,
    L1MfnValid = 13, SuspendCancel = 14, InitP2m = 15, ModStartPfn = 16, SupportedFeatures = 17,
    Phys32Entry = 18,
}

/// <summary>XENFEAT_* numbers of xen/include/public/features.h named in the FEATURES note.</summary>
public static class XenFeature
{
    public const int WritablePageTables = 0, WritableDescriptorTables = 1, AutoTranslatedPhysmap = 2,
        SupervisorModeKernel = 3, PaePgdirAbove4gb = 4, MmuPtUpdatePreserveAd = 5, HighmemAssist = 6,
        GnttabMapAvailBits = 7, HvmCallbackVector = 8, HvmSafePvclock = 9, HvmPirqs = 10, Dom0 = 11;

    /// <summary>XENFEAT_NR_SUBMAPS: the feature bitmaps are one 32-bit word.</summary>
    public const int SubmapBits = 32;

    /// <summary>The names libelf recognises in the FEATURES string (libelf-dominfo.c elf_xen_feature_names).</summary>
    public static readonly IReadOnlyDictionary<string, int> ByName = new Dictionary<string, int>
    {
        ["writable_page_tables"] = WritablePageTables,
        ["writable_descriptor_tables"] = WritableDescriptorTables,
        ["auto_translated_physmap"] = AutoTranslatedPhysmap,
        ["supervisor_mode_kernel"] = SupervisorModeKernel,
        ["pae_pgdir_above_4gb"] = PaePgdirAbove4gb,
        ["hvm_callback_vector"] = HvmCallbackVector,
        ["dom0"] = Dom0,
    };

    public static string NameOf(int feature) =>
        ByName.FirstOrDefault(kv => kv.Value == feature).Key ?? $"feature {feature}";

    /// <summary>
    /// Why a 64-bit PV domU built by Paravirt cannot honour a kernel that requires <paramref name="feature"/>, or null
    /// when it can. Xen's own builder accepts a kernel requiring writable_page_tables, writable_descriptor_tables or
    /// pae_pgdir_above_4gb (Linux marks "!writable_page_tables" in its FEATURES note and boots as a PV domU), so do we.
    /// The rest cannot hold here: the kernel runs in ring 3 (supervisor_mode_kernel), page tables hold machine frames
    /// (auto_translated_physmap), events arrive through the PV callback (hvm_callback_vector), and the domain is not
    /// the control domain (dom0).
    /// </summary>
    public static string? WhyUnavailable(int feature) => feature switch
    {
        WritablePageTables or WritableDescriptorTables or PaePgdirAbove4gb => null,
        SupervisorModeKernel => "a PV kernel runs in ring 3, never in supervisor mode",
        AutoTranslatedPhysmap => "a PV domain's page tables hold machine frames (no auto-translated physmap)",
        HvmCallbackVector => "events reach a PV domain through its event callback, not an HVM vector",
        Dom0 => "the domain is built as a guest (domU), not as the control domain",
        _ => "Paravirt does not provide it",
    };
}
