using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;
using Paravirt.Hypervisor.Grants;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Memory;
using Paravirt.Hypervisor.Time;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Tests;

/// <summary>
/// The guest SDK's C headers (guest-sdk/include/paravirt) and the hypervisor's C# definitions describe the same
/// Xen ABI twice. guest-sdk/tests/host/abi_layout.c, compiled for the host from the very headers guests use,
/// prints every size, field offset and constant as JSON; each case below compares one of them with the C#
/// struct layout or constant the hypervisor reads the guest's memory with, so neither side can drift alone.
/// </summary>
public class AbiCrossCheckTests
{
    private static readonly Lazy<CLayout> Layout = new(CLayout.Load);

    /// <summary>One fact: the key in the C JSON ("size"/"offset"/"const" section) and the C# value.</summary>
    public sealed record Fact(string Section, string Key, long CSharp)
    {
        public override string ToString() => $"{Section} {Key}";
    }

    private static unsafe IEnumerable<Fact> Facts()
    {
        // ---- start_info: the C# struct the builder writes (Marshal offsets of the sequential layout).
        yield return new("size", "start_info", Unsafe.SizeOf<StartInfo>());
        foreach (var (c, cs) in new[]
                 {
                     ("magic", nameof(StartInfo.Magic)), ("nr_pages", nameof(StartInfo.NrPages)),
                     ("shared_info", nameof(StartInfo.SharedInfo)), ("flags", nameof(StartInfo.Flags)),
                     ("store_mfn", nameof(StartInfo.StoreMfn)), ("store_evtchn", nameof(StartInfo.StoreEvtchn)),
                     ("console.domU.mfn", nameof(StartInfo.ConsoleMfn)),
                     ("console.domU.evtchn", nameof(StartInfo.ConsoleEvtchn)), ("pt_base", nameof(StartInfo.PtBase)),
                     ("nr_pt_frames", nameof(StartInfo.NrPtFrames)), ("mfn_list", nameof(StartInfo.MfnList)),
                     ("mod_start", nameof(StartInfo.ModStart)), ("mod_len", nameof(StartInfo.ModLen)),
                     ("cmd_line", nameof(StartInfo.CmdLine)), ("first_p2m_pfn", nameof(StartInfo.FirstP2mPfn)),
                     ("nr_p2m_frames", nameof(StartInfo.NrP2mFrames)),
                 })
            yield return new("offset", "start_info." + c, Marshal.OffsetOf<StartInfo>(cs).ToInt64());
        yield return new("const", "SIF_PRIVILEGED", (long)StartInfoFlags.Privileged);
        yield return new("const", "SIF_INITDOMAIN", (long)StartInfoFlags.InitDomain);
        yield return new("const", "SIF_MULTIBOOT_MOD", (long)StartInfoFlags.MultibootMod);
        yield return new("const", "SIF_MOD_START_PFN", (long)StartInfoFlags.ModStartPfn);
        yield return new("const", "SIF_VIRT_P2M_4TOOLS", (long)StartInfoFlags.VirtP2m4Tools);

        // ---- shared_info and vcpu_info: SharedInfoLayout.
        yield return new("offset", "shared_info.evtchn_pending", SharedInfoLayout.EvtchnPending);
        yield return new("offset", "shared_info.evtchn_mask", SharedInfoLayout.EvtchnMask);
        yield return new("offset", "shared_info.wc_version", SharedInfoLayout.WcVersion);
        yield return new("offset", "shared_info.wc_sec", SharedInfoLayout.WcSec);
        yield return new("offset", "shared_info.wc_nsec", SharedInfoLayout.WcNsec);
        yield return new("offset", "shared_info.wc_sec_hi", SharedInfoLayout.WcSecHi);
        yield return new("offset", "shared_info.arch", SharedInfoLayout.Arch);
        yield return new("size", "vcpu_info", SharedInfoLayout.VcpuInfoSize);
        yield return new("offset", "vcpu_info.evtchn_upcall_pending", SharedInfoLayout.VcpuUpcallPending);
        yield return new("offset", "vcpu_info.evtchn_upcall_mask", SharedInfoLayout.VcpuUpcallMask);
        yield return new("offset", "vcpu_info.evtchn_pending_sel", SharedInfoLayout.VcpuPendingSel);
        yield return new("offset", "vcpu_info.arch", SharedInfoLayout.VcpuArchCr2);
        yield return new("offset", "vcpu_info.time", SharedInfoLayout.VcpuTime);
        yield return new("const", "XEN_LEGACY_MAX_VCPUS", SharedInfoLayout.LegacyMaxVcpus);
        yield return new("const", "EVTCHN_2L_NR_CHANNELS", SharedInfoLayout.MaxEventChannels);

        // ---- vcpu_time_info: VcpuTime.
        yield return new("size", "vcpu_time_info", VcpuTime.Size);
        yield return new("offset", "vcpu_time_info.version", VcpuTime.Version);
        yield return new("offset", "vcpu_time_info.tsc_timestamp", VcpuTime.TscTimestamp);
        yield return new("offset", "vcpu_time_info.system_time", VcpuTime.SystemTime);
        yield return new("offset", "vcpu_time_info.tsc_to_system_mul", VcpuTime.TscToSystemMul);
        yield return new("offset", "vcpu_time_info.tsc_shift", VcpuTime.TscShift);
        yield return new("offset", "vcpu_time_info.flags", VcpuTime.Flags);
        yield return new("const", "XEN_PVCLOCK_TSC_STABLE_BIT", VcpuTime.TscStableBit);

        // ---- grant tables: entry geometry, op struct sizes, flags and status codes.
        yield return new("size", "grant_entry_v1", GrantTable.EntrySize);
        yield return new("const", "GNTTAB_V1_ENTRIES_PER_FRAME", GrantTable.EntriesPerFrame);
        yield return new("size", "gnttab_map_grant_ref", GrantTableOp.MapSize);
        yield return new("size", "gnttab_unmap_grant_ref", GrantTableOp.UnmapSize);
        yield return new("size", "gnttab_setup_table", GrantTableOp.SetupSize);
        yield return new("size", "gnttab_copy", GrantTableOp.CopySize);
        yield return new("size", "gnttab_query_size", GrantTableOp.QuerySizeSize);
        yield return new("const", "GTF_invalid", GrantFlags.Invalid);
        yield return new("const", "GTF_permit_access", GrantFlags.PermitAccess);
        yield return new("const", "GTF_accept_transfer", GrantFlags.AcceptTransfer);
        yield return new("const", "GTF_type_mask", GrantFlags.TypeMask);
        yield return new("const", "GTF_readonly", GrantFlags.Readonly);
        yield return new("const", "GTF_reading", GrantFlags.Reading);
        yield return new("const", "GTF_writing", GrantFlags.Writing);
        yield return new("const", "GNTMAP_device_map", GrantMapFlags.DeviceMap);
        yield return new("const", "GNTMAP_host_map", GrantMapFlags.HostMap);
        yield return new("const", "GNTMAP_readonly", GrantMapFlags.Readonly);
        yield return new("const", "GNTMAP_application_map", GrantMapFlags.ApplicationMap);
        yield return new("const", "GNTMAP_contains_pte", GrantMapFlags.ContainsPte);
        yield return new("const", "GNTCOPY_source_gref", GrantCopyFlags.SourceGref);
        yield return new("const", "GNTCOPY_dest_gref", GrantCopyFlags.DestGref);

        // ---- Command and constant tables matched by name (C# PascalCase <-> C prefix_snake_case).
        foreach (var f in ByName(typeof(Hypercall), "__HYPERVISOR_", skip: ["PageEntries", "EntrySize"])) yield return f;
        yield return new("const", "XEN_HYPERCALL_STUB_SIZE", Hypercall.EntrySize);
        foreach (var f in ByName(typeof(EventChannelOp), "EVTCHNOP_")) yield return f;
        foreach (var f in ByName(typeof(SchedOp), "SCHEDOP_")) yield return f;
        foreach (var f in ByName(typeof(VcpuOp), "VCPUOP_", skip: ["SingleshotFuture"])) yield return f;
        yield return new("const", "VCPU_SSHOTTMR_future", VcpuOp.SingleshotFuture);
        foreach (var f in ByName(typeof(XenVersionOp), "XENVER_", skip: ["Major", "Minor", "FeatPaePgdirAbove4gb",
                     "FeatMmuPtUpdatePreserveAd", "FeatHighmemAssist", "FeatGnttabMapAvailBits", "FeatDom0", "FeatDirectMapped"]))
            yield return f;
        yield return new("const", "XENFEAT_gnttab_map_avail_bits", XenVersionOp.FeatGnttabMapAvailBits);
        yield return new("const", "_GNTMAP_guest_avail0", GrantMapFlags.GuestAvail0);
        yield return new("const", "XENFEAT_pae_pgdir_above_4gb", XenVersionOp.FeatPaePgdirAbove4gb);
        yield return new("const", "XENFEAT_mmu_pt_update_preserve_ad", XenVersionOp.FeatMmuPtUpdatePreserveAd);
        yield return new("const", "XENFEAT_highmem_assist", XenVersionOp.FeatHighmemAssist);
        yield return new("const", "XENFEAT_dom0", XenVersionOp.FeatDom0);
        yield return new("const", "XENFEAT_direct_mapped", XenVersionOp.FeatDirectMapped);

        // ---- multicall, vm_assist, physdev_op (xen.h, physdev.h).
        yield return new("size", "multicall_entry", MulticallOp.EntrySize);
        yield return new("offset", "multicall_entry.op", 0);
        yield return new("offset", "multicall_entry.result", 8);
        yield return new("offset", "multicall_entry.args", 16);
        yield return new("const", "VMASST_CMD_enable", VmAssistOp.CmdEnable);
        yield return new("const", "VMASST_CMD_disable", VmAssistOp.CmdDisable);
        yield return new("const", "VMASST_TYPE_4gb_segments", VmAssistOp.Type4gbSegments);
        yield return new("const", "VMASST_TYPE_4gb_segments_notify", VmAssistOp.Type4gbSegmentsNotify);
        yield return new("const", "VMASST_TYPE_writable_pagetables", VmAssistOp.TypeWritablePagetables);
        yield return new("const", "VMASST_TYPE_pae_extended_cr3", VmAssistOp.TypePaeExtendedCr3);
        yield return new("const", "VMASST_TYPE_architectural_iopl", VmAssistOp.TypeArchitecturalIopl);
        yield return new("const", "VMASST_TYPE_runstate_update_flag", VmAssistOp.TypeRunstateUpdateFlag);
        yield return new("const", "VMASST_TYPE_m2p_strict", VmAssistOp.TypeM2pStrict);
        yield return new("const", "PHYSDEVOP_set_iopl", PhysdevOp.SetIopl);
        yield return new("const", "PHYSDEVOP_set_iobitmap", PhysdevOp.SetIobitmap);
        yield return new("size", "physdev_set_iopl", 4);
        yield return new("size", "physdev_set_iobitmap", 16);
        yield return new("offset", "physdev_set_iobitmap.nr_ports", 8);
        yield return new("size", "physdev_op", PhysdevOp.CompatOpSize);
        yield return new("offset", "physdev_op.u", PhysdevOp.CompatUnionOffset);
        foreach (var f in ByName(typeof(GrantTableOp), "GNTTABOP_",
                     skip: ["MapSize", "UnmapSize", "SetupSize", "CopySize", "QuerySizeSize", "SwapSize", "CacheFlushSize",
                            "CacheClean", "CacheInval"])) yield return f;
        yield return new("size", "gnttab_swap_grant_ref", GrantTableOp.SwapSize);
        yield return new("size", "gnttab_cache_flush", GrantTableOp.CacheFlushSize);
        yield return new("const", "GNTTAB_CACHE_CLEAN", GrantTableOp.CacheClean);
        yield return new("const", "GNTTAB_CACHE_INVAL", GrantTableOp.CacheInval);
        foreach (var f in ByName(typeof(GrantStatus), "GNTST_")) yield return f;
        foreach (var f in ByName(typeof(ConsoleIoOp), "CONSOLEIO_")) yield return f;
        foreach (var f in ByName(typeof(Virq), "VIRQ_", skip: ["Count"])) yield return f;
        yield return new("const", "NR_VIRQS", Virq.Count);
        foreach (var f in ByName(typeof(DomId), "DOMID_")) yield return f;
        foreach (var f in ByName(typeof(X86_64), "", skip: ["HypervisorVirtStart", "HypervisorVirtEnd",
                     "MachToPhysVirtStart", "MachToPhysVirtEnd"])) yield return f;

        // ---- PV MMU (mmu.h / xen.h): mmu_update and mmuext_op commands and struct sizes, update_va_mapping flags.
        yield return new("size", "mmu_update", MmuUpdateOp.RequestSize);
        yield return new("const", "MMU_NORMAL_PT_UPDATE", MmuUpdateOp.NormalPtUpdate);
        yield return new("const", "MMU_MACHPHYS_UPDATE", MmuUpdateOp.MachphysUpdate);
        yield return new("const", "MMU_PT_UPDATE_PRESERVE_AD", MmuUpdateOp.PtUpdatePreserveAd);
        yield return new("size", "mmuext_op", MmuextOp.OpSize);
        foreach (var f in ByName(typeof(MmuextOp), "MMUEXT_", skip: ["OpSize", "MaxLdtEntries"])) yield return f with { Key = f.Key.ToUpperInvariant() };
        foreach (var f in ByName(typeof(UpdateVaMappingOp), "")) yield return f;

        // ---- memory_op (memory.h).
        foreach (var f in ByName(typeof(MemoryOp), "XENMEM_", skip: ["MemfExactNodeRequest", "MemfAddressBitsMask",
                     "MemfPopulateOnDemand", "MemfVnode", "MapSpaceSharedInfo",
                     "MapSpaceGrantTable", "MapSpaceGmfnForeign", "E820Max", "DomUMaxOrder"])) yield return f;
        yield return new("const", "XENMEMF_populate_on_demand", MemoryOp.MemfPopulateOnDemand);
        yield return new("const", "XENMEMF_exact_node_request", MemoryOp.MemfExactNodeRequest);
        yield return new("const", "XENMEMF_vnode", MemoryOp.MemfVnode);
        yield return new("const", "XENMEMF_get_address_bits(0xffffffff)", MemoryOp.MemfAddressBitsMask);
        yield return new("const", "XENMAPSPACE_shared_info", MemoryOp.MapSpaceSharedInfo);
        yield return new("const", "XENMAPSPACE_grant_table", MemoryOp.MapSpaceGrantTable);
        yield return new("const", "XENMAPSPACE_gmfn_foreign", MemoryOp.MapSpaceGmfnForeign);
        yield return new("size", "e820entry", E820Entry.SizeInBytes);
        yield return new("const", "E820_RAM", E820Entry.Ram);
        yield return new("const", "E820_RESERVED", E820Entry.Reserved);
        yield return new("const", "E820_ACPI", E820Entry.Acpi);
        yield return new("const", "E820_NVS", E820Entry.Nvs);
        yield return new("const", "E820_UNUSABLE", E820Entry.Unusable);

        // ---- Traps, iret and callbacks (arch-x86_64.h, traps.h, callback.h).
        yield return new("size", "trap_info", TrapAbi.TrapInfoSize);
        yield return new("const", "TI_DPL_MASK", TrapAbi.TiDplMask);
        yield return new("const", "TI_IF", TrapAbi.TiIf);
        yield return new("const", "VGCF_in_syscall", (long)TrapAbi.VgcfInSyscall);
        yield return new("size", "iret_context", TrapAbi.IretContextSize);
        foreach (var (c, cs) in new[]
                 {
                     ("rax", TrapAbi.IretRax), ("r11", TrapAbi.IretR11), ("rcx", TrapAbi.IretRcx), ("flags", TrapAbi.IretFlags),
                     ("rip", TrapAbi.IretRip), ("cs", TrapAbi.IretCs), ("rflags", TrapAbi.IretRflags), ("rsp", TrapAbi.IretRsp),
                     ("ss", TrapAbi.IretSs),
                 })
            yield return new("offset", "iret_context." + c, cs);
        yield return new("const", "SEGBASE_FS", TrapAbi.SegbaseFs);
        yield return new("const", "SEGBASE_GS_USER", TrapAbi.SegbaseGsUser);
        yield return new("const", "SEGBASE_GS_KERNEL", TrapAbi.SegbaseGsKernel);
        yield return new("const", "SEGBASE_GS_USER_SEL", TrapAbi.SegbaseGsUserSel);
        yield return new("const", "FIRST_RESERVED_GDT_ENTRY", TrapAbi.FirstReservedGdtEntry);
        foreach (var f in ByName(typeof(CallbackType), "CALLBACKTYPE_", skip: ["FlagMaskEvents", "OpRegister", "OpUnregister"])) yield return f;
        yield return new("const", "CALLBACKF_mask_events", CallbackType.FlagMaskEvents);
        yield return new("const", "CALLBACKOP_register", CallbackType.OpRegister);
        yield return new("const", "CALLBACKOP_unregister", CallbackType.OpUnregister);
    }

    /// <summary>
    /// Every public integer constant of <paramref name="type"/> becomes a fact named prefix + snake_case(name),
    /// in the case Xen uses for that family (VIRQ_, DOMID_ and FLAT_ names are upper case).
    /// </summary>
    private static IEnumerable<Fact> ByName(Type type, string prefix, string[]? skip = null)
    {
        foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            if (!field.IsLiteral || skip?.Contains(field.Name) == true) continue;
            object? raw = field.GetRawConstantValue();
            if (raw is string) continue;
            string snake = Snake(field.Name);
            string name = prefix switch
            {
                "VIRQ_" or "DOMID_" => prefix + snake.ToUpperInvariant(),
                "" => snake.ToUpperInvariant(),
                _ => prefix + snake,
            };
            yield return new("const", Renames.GetValueOrDefault(name, name),
                Convert.ToInt64(raw, System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <summary>C names where Xen runs words together or splits them differently from the C# member.</summary>
    private static readonly Dictionary<string, string> Renames = new()
    {
        ["XENVER_extra_version"] = "XENVER_extraversion",
        ["XENVER_page_size"] = "XENVER_pagesize",
        ["VIRQ_ARCH0"] = "VIRQ_ARCH_0",
        ["VIRQ_ARCH7"] = "VIRQ_ARCH_7",
        ["UVMF_FLUSH_TYPE_MASK"] = "UVMF_FLUSHTYPE_MASK",
    };

    /// <summary>PascalCase to snake_case: a word starts at an upper-case letter after a lower-case letter or digit.</summary>
    private static string Snake(string pascal)
    {
        var sb = new System.Text.StringBuilder(pascal.Length + 8);
        for (int i = 0; i < pascal.Length; i++)
        {
            char c = pascal[i];
            if (i > 0 && char.IsUpper(c) && (char.IsLower(pascal[i - 1]) || char.IsDigit(pascal[i - 1]))) sb.Append('_');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    [TestCaseSource(nameof(Facts))]
    public void TheSdkHeaderAndTheHypervisorAgree(Fact fact)
    {
        var c = Layout.Value;
        Assert.That(c.TryGet(fact.Section, fact.Key, out long value), Is.True,
            $"the C headers define no {fact.Section} '{fact.Key}' (abi_layout.c must print it)");
        Assert.That(fact.CSharp, Is.EqualTo(value), $"{fact.Section} {fact.Key}: C# {fact.CSharp}, C {value}");
    }

    [Test]
    public void EveryErrnoOfTheSdkHasTheHypervisorsValue()
    {
        var cs = typeof(XenErrno).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral).ToDictionary(f => f.Name, f => (int)f.GetRawConstantValue()!);
        var inC = Layout.Value.Keys("const").Where(k => k.StartsWith("XEN_E", StringComparison.Ordinal)).ToList();
        Assert.That(inC, Has.Count.GreaterThan(40));
        foreach (var key in inC)
        {
            string name = key["XEN_".Length..];
            Layout.Value.TryGet("const", key, out long value);
            Assert.That(cs.TryGetValue(name, out int mine), Is.True, $"XenErrno has no {name}");
            Assert.That(mine, Is.EqualTo(value), key);
        }
        // What the hypervisor knows beyond the SDK must be Xen-internal or Linux-only values, never a clash.
        var extra = cs.Keys.Where(n => !inC.Contains("XEN_" + n)).Order().ToArray();
        Assert.That(extra, Is.SubsetOf(new[] { "EINTR", "ERESTART", "EMSGSIZE", "ECONNREFUSED" }), string.Join(",", extra));
    }

    [Test]
    public void TheHostProgramSeesTheSameStructSizesAsTheGuestBuildPins()
    {
        // The static asserts pin these in the guest build; the host build must agree, or every other case is moot.
        var c = Layout.Value;
        Assert.Multiple(() =>
        {
            foreach (var (key, size) in new (string, long)[]
                     {
                         ("start_info", 1168), ("shared_info", 3136), ("vcpu_info", 64), ("xenstore_domain_interface", 2076),
                         ("blkif_request", 112), ("blkif_request_indirect", 64), ("netif_tx_request", 12), ("gnttab_copy", 40),
                     })
            {
                Assert.That(c.TryGet("size", key, out long v) ? v : -1, Is.EqualTo(size), key);
            }
        });
    }

    /// <summary>The JSON printed by guest-sdk/build/host/abi_layout (built by the guest SDK's `make check`).</summary>
    private sealed class CLayout
    {
        private readonly Dictionary<string, Dictionary<string, long>> _sections;

        private CLayout(Dictionary<string, Dictionary<string, long>> sections) => _sections = sections;

        public bool TryGet(string section, string key, out long value)
        {
            value = 0;
            return _sections.TryGetValue(section, out var s) && s.TryGetValue(key, out value);
        }

        public IEnumerable<string> Keys(string section) => _sections.TryGetValue(section, out var s) ? s.Keys : [];

        public static CLayout Load()
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Paravirt.sln"))) dir = dir.Parent;
            if (dir == null) throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
            string exe = Path.Combine(dir.FullName, "guest-sdk", "build", "host", "abi_layout");
            if (!File.Exists(exe))
                throw new FileNotFoundException("build the guest SDK first (make -C guest-sdk check)", exe);
            using var p = Process.Start(new ProcessStartInfo(exe) { RedirectStandardOutput = true, UseShellExecute = false })!;
            string json = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"{exe} exited with {p.ExitCode}");
            var parsed = JsonSerializer.Deserialize<Dictionary<string, Dictionary<string, long>>>(json)
                         ?? throw new InvalidOperationException("abi_layout printed no JSON");
            return new CLayout(parsed);
        }
    }
}
