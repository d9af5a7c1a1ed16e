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

    /// <summary>The names libelf recognises in the FEATURES string (libelf-dominfo.c).</summary>
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

    /// <summary>What a 64-bit PV domU built by Paravirt offers: a kernel may require only these.</summary>
    public static readonly IReadOnlySet<int> SupportedForPvDomU = new HashSet<int> { PaePgdirAbove4gb };
}
