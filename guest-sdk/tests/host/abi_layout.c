/*
 * abi_layout.c - prints the layout facts of the guest SDK headers as JSON,
 * for the hypervisor's cross-check test (tests/Paravirt.Hypervisor.Tests/
 * AbiCrossCheckTests.cs), which compares them with the C# definitions so
 * the C and C# views of the ABI cannot drift apart.
 *
 * Built with the host compiler (the headers only need stddef.h/stdint.h);
 * x86-64 hosts only, as the headers themselves insist.
 *
 *   { "size":   { "start_info": 1168, ... },
 *     "offset": { "start_info.nr_pages": 32, ... },
 *     "const":  { "__HYPERVISOR_mmu_update": 1, ... } }
 */
#include <paravirt/errno.h>
#include <paravirt/xen.h>
#include <paravirt/arch-x86_64.h>
#include <paravirt/event_channel.h>
#include <paravirt/sched.h>
#include <paravirt/version.h>
#include <paravirt/vcpu.h>
#include <paravirt/grant_table.h>
#include <paravirt/xs_wire.h>
#include <paravirt/console.h>
#include <paravirt/io/ring.h>
#include <paravirt/io/blkif.h>
#include <paravirt/io/netif.h>
#include <paravirt/io/xenbus.h>
#if __has_include(<paravirt/callback.h>)
#include <paravirt/callback.h>
#define HAVE_CALLBACK_H 1
#endif
#if __has_include(<paravirt/mmu.h>)
#include <paravirt/mmu.h>
#define HAVE_MMU_H 1
#endif
#if __has_include(<paravirt/memory.h>)
#include <paravirt/memory.h>
#define HAVE_MEMORY_H 1
#endif
#include <paravirt/physdev.h>
#if __has_include(<paravirt/traps.h>)
#include <paravirt/traps.h>
#define HAVE_TRAPS_H 1
#endif

#include <stdio.h>

/* Never called on the host; hypercall.h declares it. */
struct xen_hypercall_stub hypercall_page[4096 / XEN_HYPERCALL_STUB_SIZE];

static const char *sep;

static void section(const char *name)
{
    printf("%s\n  \"%s\": {", sep ? "\n  }," : "{", name);
    sep = "";
}

static void item(const char *key, long long value)
{
    printf("%s\n    \"%s\": %lld", sep, key, value);
    sep = ",";
}

#define SIZE(tag, type)         item(tag, (long long)sizeof(type))
#define OFF(tag, type, field)   item(tag "." #field, (long long)offsetof(type, field))
#define CONST(name)             item(#name, (long long)(name))

int main(void)
{
    section("size");
    SIZE("start_info", struct start_info);
    SIZE("shared_info", struct shared_info);
    SIZE("vcpu_info", struct vcpu_info);
    SIZE("vcpu_time_info", struct vcpu_time_info);
    SIZE("arch_vcpu_info", struct arch_vcpu_info);
    SIZE("arch_shared_info", struct arch_shared_info);
    SIZE("mmu_update", struct mmu_update);
    SIZE("mmuext_op", struct mmuext_op);
    SIZE("multicall_entry", struct multicall_entry);
    SIZE("physdev_set_iopl", struct physdev_set_iopl);
    SIZE("physdev_set_iobitmap", struct physdev_set_iobitmap);
    SIZE("physdev_op", struct physdev_op);
    SIZE("trap_info", struct trap_info);
    SIZE("cpu_user_regs", struct cpu_user_regs);
    SIZE("evtchn_alloc_unbound", struct evtchn_alloc_unbound);
    SIZE("evtchn_bind_interdomain", struct evtchn_bind_interdomain);
    SIZE("evtchn_bind_virq", struct evtchn_bind_virq);
    SIZE("evtchn_status", struct evtchn_status);
    SIZE("sched_poll", struct sched_poll);
    SIZE("sched_remote_shutdown", struct sched_remote_shutdown);
    SIZE("vcpu_runstate_info", struct vcpu_runstate_info);
    SIZE("vcpu_set_singleshot_timer", struct vcpu_set_singleshot_timer);
    SIZE("vcpu_set_periodic_timer", struct vcpu_set_periodic_timer);
    SIZE("vcpu_register_vcpu_info", struct vcpu_register_vcpu_info);
    SIZE("grant_entry_v1", struct grant_entry_v1);
    SIZE("gnttab_map_grant_ref", struct gnttab_map_grant_ref);
    SIZE("gnttab_unmap_grant_ref", struct gnttab_unmap_grant_ref);
    SIZE("gnttab_setup_table", struct gnttab_setup_table);
    SIZE("gnttab_copy", struct gnttab_copy);
    SIZE("gnttab_query_size", struct gnttab_query_size);
    SIZE("gnttab_get_version", struct gnttab_get_version);
    SIZE("gnttab_swap_grant_ref", struct gnttab_swap_grant_ref);
    SIZE("gnttab_cache_flush", struct gnttab_cache_flush);
    SIZE("xsd_sockmsg", struct xsd_sockmsg);
    SIZE("xenstore_domain_interface", struct xenstore_domain_interface);
    SIZE("xencons_interface", struct xencons_interface);
    SIZE("blkif_request", struct blkif_request);
    SIZE("blkif_request_indirect", struct blkif_request_indirect);
    SIZE("blkif_response", struct blkif_response);
    SIZE("netif_tx_request", struct netif_tx_request);
    SIZE("netif_rx_response", struct netif_rx_response);
    SIZE("iret_context", struct iret_context);
#ifdef HAVE_CALLBACK_H
    SIZE("callback_register", struct callback_register);
#endif
#ifdef HAVE_MEMORY_H
    SIZE("e820entry", struct e820entry);
#endif

    section("offset");
    OFF("start_info", struct start_info, magic);
    OFF("start_info", struct start_info, nr_pages);
    OFF("start_info", struct start_info, shared_info);
    OFF("start_info", struct start_info, flags);
    OFF("start_info", struct start_info, store_mfn);
    OFF("start_info", struct start_info, store_evtchn);
    OFF("start_info", struct start_info, console.domU.mfn);
    OFF("start_info", struct start_info, console.domU.evtchn);
    OFF("start_info", struct start_info, pt_base);
    OFF("start_info", struct start_info, nr_pt_frames);
    OFF("start_info", struct start_info, mfn_list);
    OFF("start_info", struct start_info, mod_start);
    OFF("start_info", struct start_info, mod_len);
    OFF("start_info", struct start_info, cmd_line);
    OFF("start_info", struct start_info, first_p2m_pfn);
    OFF("start_info", struct start_info, nr_p2m_frames);
    OFF("shared_info", struct shared_info, vcpu_info);
    OFF("shared_info", struct shared_info, evtchn_pending);
    OFF("shared_info", struct shared_info, evtchn_mask);
    OFF("shared_info", struct shared_info, wc_version);
    OFF("shared_info", struct shared_info, wc_sec);
    OFF("shared_info", struct shared_info, wc_nsec);
    OFF("shared_info", struct shared_info, wc_sec_hi);
    OFF("shared_info", struct shared_info, arch);
    OFF("vcpu_info", struct vcpu_info, evtchn_upcall_pending);
    OFF("vcpu_info", struct vcpu_info, evtchn_upcall_mask);
    OFF("vcpu_info", struct vcpu_info, evtchn_pending_sel);
    OFF("vcpu_info", struct vcpu_info, arch);
    OFF("vcpu_info", struct vcpu_info, time);
    OFF("vcpu_time_info", struct vcpu_time_info, version);
    OFF("vcpu_time_info", struct vcpu_time_info, tsc_timestamp);
    OFF("vcpu_time_info", struct vcpu_time_info, system_time);
    OFF("vcpu_time_info", struct vcpu_time_info, tsc_to_system_mul);
    OFF("vcpu_time_info", struct vcpu_time_info, tsc_shift);
    OFF("vcpu_time_info", struct vcpu_time_info, flags);
    OFF("arch_shared_info", struct arch_shared_info, max_pfn);
    OFF("arch_shared_info", struct arch_shared_info, pfn_to_mfn_frame_list_list);
    OFF("arch_shared_info", struct arch_shared_info, p2m_vaddr);
    OFF("mmuext_op", struct mmuext_op, arg1);
    OFF("mmuext_op", struct mmuext_op, arg2);
    OFF("trap_info", struct trap_info, flags);
    OFF("trap_info", struct trap_info, cs);
    OFF("trap_info", struct trap_info, address);
    OFF("evtchn_alloc_unbound", struct evtchn_alloc_unbound, remote_dom);
    OFF("evtchn_alloc_unbound", struct evtchn_alloc_unbound, port);
    OFF("evtchn_bind_interdomain", struct evtchn_bind_interdomain, remote_port);
    OFF("evtchn_bind_interdomain", struct evtchn_bind_interdomain, local_port);
    OFF("evtchn_status", struct evtchn_status, status);
    OFF("evtchn_status", struct evtchn_status, vcpu);
    OFF("evtchn_status", struct evtchn_status, u);
    OFF("sched_poll", struct sched_poll, nr_ports);
    OFF("sched_poll", struct sched_poll, timeout);
    OFF("sched_remote_shutdown", struct sched_remote_shutdown, reason);
    OFF("vcpu_set_singleshot_timer", struct vcpu_set_singleshot_timer, flags);
    OFF("vcpu_runstate_info", struct vcpu_runstate_info, state_entry_time);
    OFF("vcpu_runstate_info", struct vcpu_runstate_info, time);
    OFF("vcpu_register_vcpu_info", struct vcpu_register_vcpu_info, offset);
    OFF("grant_entry_v1", struct grant_entry_v1, flags);
    OFF("grant_entry_v1", struct grant_entry_v1, domid);
    OFF("grant_entry_v1", struct grant_entry_v1, frame);
    OFF("gnttab_map_grant_ref", struct gnttab_map_grant_ref, host_addr);
    OFF("gnttab_map_grant_ref", struct gnttab_map_grant_ref, flags);
    OFF("gnttab_map_grant_ref", struct gnttab_map_grant_ref, ref);
    OFF("gnttab_map_grant_ref", struct gnttab_map_grant_ref, dom);
    OFF("gnttab_map_grant_ref", struct gnttab_map_grant_ref, status);
    OFF("gnttab_map_grant_ref", struct gnttab_map_grant_ref, handle);
    OFF("gnttab_map_grant_ref", struct gnttab_map_grant_ref, dev_bus_addr);
    OFF("gnttab_unmap_grant_ref", struct gnttab_unmap_grant_ref, dev_bus_addr);
    OFF("gnttab_unmap_grant_ref", struct gnttab_unmap_grant_ref, handle);
    OFF("gnttab_unmap_grant_ref", struct gnttab_unmap_grant_ref, status);
    OFF("gnttab_setup_table", struct gnttab_setup_table, nr_frames);
    OFF("gnttab_setup_table", struct gnttab_setup_table, status);
    OFF("gnttab_setup_table", struct gnttab_setup_table, frame_list);
    OFF("gnttab_copy", struct gnttab_copy, source.u.ref);
    OFF("gnttab_copy", struct gnttab_copy, source.domid);
    OFF("gnttab_copy", struct gnttab_copy, source.offset);
    OFF("gnttab_copy", struct gnttab_copy, dest);
    OFF("gnttab_copy", struct gnttab_copy, len);
    OFF("gnttab_copy", struct gnttab_copy, flags);
    OFF("gnttab_copy", struct gnttab_copy, status);
    OFF("gnttab_query_size", struct gnttab_query_size, nr_frames);
    OFF("gnttab_query_size", struct gnttab_query_size, max_nr_frames);
    OFF("gnttab_query_size", struct gnttab_query_size, status);
    OFF("gnttab_get_version", struct gnttab_get_version, version);
    OFF("xsd_sockmsg", struct xsd_sockmsg, type);
    OFF("xsd_sockmsg", struct xsd_sockmsg, req_id);
    OFF("xsd_sockmsg", struct xsd_sockmsg, tx_id);
    OFF("xsd_sockmsg", struct xsd_sockmsg, len);
    OFF("xenstore_domain_interface", struct xenstore_domain_interface, req);
    OFF("xenstore_domain_interface", struct xenstore_domain_interface, rsp);
    OFF("xenstore_domain_interface", struct xenstore_domain_interface, req_cons);
    OFF("xenstore_domain_interface", struct xenstore_domain_interface, req_prod);
    OFF("xenstore_domain_interface", struct xenstore_domain_interface, rsp_cons);
    OFF("xenstore_domain_interface", struct xenstore_domain_interface, rsp_prod);
    OFF("xenstore_domain_interface", struct xenstore_domain_interface, server_features);
    OFF("xenstore_domain_interface", struct xenstore_domain_interface, connection);
    OFF("xenstore_domain_interface", struct xenstore_domain_interface, error);
    OFF("xencons_interface", struct xencons_interface, in);
    OFF("xencons_interface", struct xencons_interface, out);
    OFF("xencons_interface", struct xencons_interface, in_cons);
    OFF("xencons_interface", struct xencons_interface, in_prod);
    OFF("xencons_interface", struct xencons_interface, out_cons);
    OFF("xencons_interface", struct xencons_interface, out_prod);
    OFF("xencons_interface", struct xencons_interface, connection);
    OFF("blkif_sring", struct blkif_sring, ring);
    OFF("iret_context", struct iret_context, rax);
    OFF("iret_context", struct iret_context, r11);
    OFF("iret_context", struct iret_context, rcx);
    OFF("iret_context", struct iret_context, flags);
    OFF("iret_context", struct iret_context, rip);
    OFF("iret_context", struct iret_context, cs);
    OFF("iret_context", struct iret_context, rflags);
    OFF("iret_context", struct iret_context, rsp);
    OFF("iret_context", struct iret_context, ss);
    OFF("multicall_entry", struct multicall_entry, op);
    OFF("multicall_entry", struct multicall_entry, result);
    OFF("multicall_entry", struct multicall_entry, args);
    OFF("physdev_set_iobitmap", struct physdev_set_iobitmap, nr_ports);
    OFF("physdev_op", struct physdev_op, u);
#ifdef HAVE_CALLBACK_H
    OFF("callback_register", struct callback_register, flags);
    OFF("callback_register", struct callback_register, address);
#endif

    section("const");
    CONST(__HYPERVISOR_set_trap_table); CONST(__HYPERVISOR_mmu_update); CONST(__HYPERVISOR_set_gdt);
    CONST(__HYPERVISOR_stack_switch); CONST(__HYPERVISOR_set_callbacks); CONST(__HYPERVISOR_fpu_taskswitch);
    CONST(__HYPERVISOR_sched_op_compat); CONST(__HYPERVISOR_platform_op); CONST(__HYPERVISOR_set_debugreg);
    CONST(__HYPERVISOR_get_debugreg); CONST(__HYPERVISOR_update_descriptor); CONST(__HYPERVISOR_memory_op);
    CONST(__HYPERVISOR_multicall); CONST(__HYPERVISOR_update_va_mapping); CONST(__HYPERVISOR_set_timer_op);
    CONST(__HYPERVISOR_event_channel_op_compat); CONST(__HYPERVISOR_xen_version); CONST(__HYPERVISOR_console_io);
    CONST(__HYPERVISOR_physdev_op_compat); CONST(__HYPERVISOR_grant_table_op); CONST(__HYPERVISOR_vm_assist);
    CONST(__HYPERVISOR_update_va_mapping_otherdomain); CONST(__HYPERVISOR_iret); CONST(__HYPERVISOR_vcpu_op);
    CONST(__HYPERVISOR_set_segment_base); CONST(__HYPERVISOR_mmuext_op); CONST(__HYPERVISOR_xsm_op);
    CONST(__HYPERVISOR_nmi_op); CONST(__HYPERVISOR_sched_op); CONST(__HYPERVISOR_callback_op);
    CONST(__HYPERVISOR_xenoprof_op); CONST(__HYPERVISOR_event_channel_op); CONST(__HYPERVISOR_physdev_op);
    CONST(__HYPERVISOR_hvm_op); CONST(__HYPERVISOR_sysctl); CONST(__HYPERVISOR_domctl);
    CONST(__HYPERVISOR_kexec_op); CONST(__HYPERVISOR_tmem_op); CONST(__HYPERVISOR_argo_op);
    CONST(__HYPERVISOR_xenpmu_op); CONST(__HYPERVISOR_dm_op); CONST(__HYPERVISOR_hypfs_op);
    CONST(XEN_HYPERCALL_STUB_SIZE);

    CONST(XEN_EPERM); CONST(XEN_ENOENT); CONST(XEN_ESRCH); CONST(XEN_EIO); CONST(XEN_ENXIO);
    CONST(XEN_E2BIG); CONST(XEN_ENOEXEC); CONST(XEN_EBADF); CONST(XEN_ECHILD); CONST(XEN_EAGAIN);
    CONST(XEN_ENOMEM); CONST(XEN_EACCES); CONST(XEN_EFAULT); CONST(XEN_EBUSY); CONST(XEN_EEXIST);
    CONST(XEN_EXDEV); CONST(XEN_ENODEV); CONST(XEN_EISDIR); CONST(XEN_EINVAL); CONST(XEN_ENFILE);
    CONST(XEN_EMFILE); CONST(XEN_ENOSPC); CONST(XEN_EROFS); CONST(XEN_EMLINK); CONST(XEN_EDOM);
    CONST(XEN_ERANGE); CONST(XEN_EDEADLK); CONST(XEN_ENAMETOOLONG); CONST(XEN_ENOLCK); CONST(XEN_ENOSYS);
    CONST(XEN_ENOTEMPTY); CONST(XEN_ENODATA); CONST(XEN_ETIME); CONST(XEN_EBADMSG); CONST(XEN_EOVERFLOW);
    CONST(XEN_EILSEQ); CONST(XEN_ENOTSOCK); CONST(XEN_EOPNOTSUPP); CONST(XEN_EADDRINUSE);
    CONST(XEN_EADDRNOTAVAIL); CONST(XEN_ENOBUFS); CONST(XEN_EISCONN); CONST(XEN_ENOTCONN); CONST(XEN_ETIMEDOUT);

    CONST(DOMID_FIRST_RESERVED); CONST(DOMID_SELF); CONST(DOMID_IO); CONST(DOMID_XEN); CONST(DOMID_COW);
    CONST(DOMID_INVALID); CONST(DOMID_IDLE);
    CONST(SIF_PRIVILEGED); CONST(SIF_INITDOMAIN); CONST(SIF_MULTIBOOT_MOD); CONST(SIF_MOD_START_PFN);
    CONST(SIF_VIRT_P2M_4TOOLS);
    CONST(XEN_LEGACY_MAX_VCPUS); CONST(EVTCHN_2L_NR_CHANNELS);
    CONST(FLAT_RING3_CS32); CONST(FLAT_RING3_CS64); CONST(FLAT_RING3_DS32); CONST(FLAT_RING3_DS64);
    CONST(FLAT_RING3_SS64); CONST(FLAT_KERNEL_CS64); CONST(FLAT_KERNEL_DS64); CONST(FLAT_KERNEL_SS64);
    CONST(FLAT_USER_CS64); CONST(FLAT_USER_DS64); CONST(FLAT_USER_SS64);
    CONST(XEN_PVCLOCK_TSC_STABLE_BIT);

    CONST(VIRQ_TIMER); CONST(VIRQ_DEBUG); CONST(VIRQ_CONSOLE); CONST(VIRQ_DOM_EXC); CONST(VIRQ_TBUF);
    CONST(VIRQ_DEBUGGER); CONST(VIRQ_XENOPROF); CONST(VIRQ_CON_RING); CONST(VIRQ_PCPU_STATE);
    CONST(VIRQ_MEM_EVENT); CONST(VIRQ_ARGO); CONST(VIRQ_ENOMEM); CONST(VIRQ_XENPMU); CONST(VIRQ_ARCH_0);
    CONST(VIRQ_ARCH_7); CONST(NR_VIRQS);

    CONST(EVTCHNOP_bind_interdomain); CONST(EVTCHNOP_bind_virq); CONST(EVTCHNOP_bind_pirq);
    CONST(EVTCHNOP_close); CONST(EVTCHNOP_send); CONST(EVTCHNOP_status); CONST(EVTCHNOP_alloc_unbound);
    CONST(EVTCHNOP_bind_ipi); CONST(EVTCHNOP_bind_vcpu); CONST(EVTCHNOP_unmask); CONST(EVTCHNOP_reset);
    CONST(EVTCHNOP_init_control); CONST(EVTCHNOP_expand_array); CONST(EVTCHNOP_set_priority);

    CONST(SCHEDOP_yield); CONST(SCHEDOP_block); CONST(SCHEDOP_shutdown); CONST(SCHEDOP_poll);
    CONST(SCHEDOP_remote_shutdown); CONST(SCHEDOP_shutdown_code); CONST(SCHEDOP_watchdog);
    CONST(SCHEDOP_pin_override);

    CONST(VCPUOP_initialise); CONST(VCPUOP_up); CONST(VCPUOP_down); CONST(VCPUOP_is_up);
    CONST(VCPUOP_get_runstate_info); CONST(VCPUOP_register_runstate_memory_area);
    CONST(VCPUOP_set_periodic_timer); CONST(VCPUOP_stop_periodic_timer); CONST(VCPUOP_set_singleshot_timer);
    CONST(VCPUOP_stop_singleshot_timer); CONST(VCPUOP_register_vcpu_info); CONST(VCPUOP_send_nmi);
    CONST(VCPUOP_get_physid); CONST(VCPUOP_register_vcpu_time_memory_area); CONST(VCPU_SSHOTTMR_future);

    CONST(XENVER_version); CONST(XENVER_extraversion); CONST(XENVER_compile_info); CONST(XENVER_capabilities);
    CONST(XENVER_changeset); CONST(XENVER_platform_parameters); CONST(XENVER_get_features);
    CONST(XENVER_pagesize); CONST(XENVER_guest_handle); CONST(XENVER_commandline); CONST(XENVER_build_id);
    CONST(CONSOLEIO_write); CONST(CONSOLEIO_read);
    CONST(XENFEAT_pae_pgdir_above_4gb); CONST(XENFEAT_mmu_pt_update_preserve_ad); CONST(XENFEAT_highmem_assist);
    CONST(XENFEAT_dom0); CONST(XENFEAT_direct_mapped); CONST(XENFEAT_gnttab_map_avail_bits); CONST(_GNTMAP_guest_avail0);
    CONST(VMASST_CMD_enable); CONST(VMASST_CMD_disable); CONST(VMASST_TYPE_4gb_segments);
    CONST(VMASST_TYPE_4gb_segments_notify); CONST(VMASST_TYPE_writable_pagetables); CONST(VMASST_TYPE_pae_extended_cr3);
    CONST(VMASST_TYPE_architectural_iopl); CONST(VMASST_TYPE_runstate_update_flag); CONST(VMASST_TYPE_m2p_strict);
    CONST(PHYSDEVOP_set_iopl); CONST(PHYSDEVOP_set_iobitmap);

    CONST(GNTTABOP_map_grant_ref); CONST(GNTTABOP_unmap_grant_ref); CONST(GNTTABOP_setup_table);
    CONST(GNTTABOP_dump_table); CONST(GNTTABOP_transfer); CONST(GNTTABOP_copy); CONST(GNTTABOP_query_size);
    CONST(GNTTABOP_unmap_and_replace); CONST(GNTTABOP_set_version); CONST(GNTTABOP_get_status_frames);
    CONST(GNTTABOP_get_version); CONST(GNTTABOP_swap_grant_ref); CONST(GNTTABOP_cache_flush);
    CONST(GNTTAB_CACHE_CLEAN); CONST(GNTTAB_CACHE_INVAL);
    CONST(GTF_invalid); CONST(GTF_permit_access); CONST(GTF_accept_transfer); CONST(GTF_type_mask);
    CONST(GTF_readonly); CONST(GTF_reading); CONST(GTF_writing);
    CONST(GNTMAP_device_map); CONST(GNTMAP_host_map); CONST(GNTMAP_readonly); CONST(GNTMAP_application_map);
    CONST(GNTMAP_contains_pte); CONST(GNTCOPY_source_gref); CONST(GNTCOPY_dest_gref);
    CONST(GNTST_okay); CONST(GNTST_general_error); CONST(GNTST_bad_domain); CONST(GNTST_bad_gntref);
    CONST(GNTST_bad_handle); CONST(GNTST_bad_virt_addr); CONST(GNTST_bad_dev_addr);
    CONST(GNTST_no_device_space); CONST(GNTST_permission_denied); CONST(GNTST_bad_page);
    CONST(GNTST_bad_copy_arg); CONST(GNTST_address_too_big); CONST(GNTST_eagain); CONST(GNTST_no_space);
    CONST(GNTTAB_V1_ENTRIES_PER_FRAME);

    CONST(XS_CONTROL); CONST(XS_DIRECTORY); CONST(XS_READ); CONST(XS_GET_PERMS); CONST(XS_WATCH);
    CONST(XS_UNWATCH); CONST(XS_TRANSACTION_START); CONST(XS_TRANSACTION_END); CONST(XS_INTRODUCE);
    CONST(XS_RELEASE); CONST(XS_GET_DOMAIN_PATH); CONST(XS_WRITE); CONST(XS_MKDIR); CONST(XS_RM);
    CONST(XS_SET_PERMS); CONST(XS_WATCH_EVENT); CONST(XS_ERROR); CONST(XS_IS_DOMAIN_INTRODUCED);
    CONST(XS_RESUME); CONST(XS_SET_TARGET); CONST(XS_RESET_WATCHES); CONST(XS_DIRECTORY_PART);
    CONST(XS_INVALID); CONST(XENSTORE_RING_SIZE); CONST(XENSTORE_PAYLOAD_MAX); CONST(XENSTORE_ABS_PATH_MAX);
    CONST(XENSTORE_REL_PATH_MAX); CONST(XENSTORE_SERVER_FEATURE_RECONNECTION);
    CONST(XENSTORE_SERVER_FEATURE_ERROR); CONST(XENSTORE_CONNECTED); CONST(XENSTORE_RECONNECT);
    CONST(XENSTORE_ERROR_NONE); CONST(XENSTORE_ERROR_COMM); CONST(XENSTORE_ERROR_RINGIDX);
    CONST(XENSTORE_ERROR_PROTO);

    CONST(XenbusStateUnknown); CONST(XenbusStateInitialising); CONST(XenbusStateInitWait);
    CONST(XenbusStateInitialised); CONST(XenbusStateConnected); CONST(XenbusStateClosing);
    CONST(XenbusStateClosed); CONST(XenbusStateReconfiguring); CONST(XenbusStateReconfigured);
    CONST(BLKIF_OP_READ); CONST(BLKIF_OP_WRITE); CONST(BLKIF_OP_FLUSH_DISKCACHE); CONST(BLKIF_OP_DISCARD);
    CONST(BLKIF_OP_INDIRECT); CONST(BLKIF_MAX_SEGMENTS_PER_REQUEST); CONST(BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
    CONST(BLKIF_RSP_OKAY); CONST(BLKIF_RSP_ERROR); CONST(BLKIF_RSP_EOPNOTSUPP);
    item("BLKIF_RING_SIZE", __CONST_RING_SIZE(blkif, 4096));
    item("NETIF_TX_RING_SIZE", __CONST_RING_SIZE(netif_tx, 4096));
    item("NETIF_RX_RING_SIZE", __CONST_RING_SIZE(netif_rx, 4096));

    CONST(MMU_NORMAL_PT_UPDATE); CONST(MMU_MACHPHYS_UPDATE); CONST(MMU_PT_UPDATE_PRESERVE_AD);
    CONST(MMUEXT_PIN_L1_TABLE); CONST(MMUEXT_PIN_L2_TABLE); CONST(MMUEXT_PIN_L3_TABLE); CONST(MMUEXT_PIN_L4_TABLE);
    CONST(MMUEXT_UNPIN_TABLE); CONST(MMUEXT_NEW_BASEPTR); CONST(MMUEXT_TLB_FLUSH_LOCAL); CONST(MMUEXT_INVLPG_LOCAL);
    CONST(MMUEXT_TLB_FLUSH_MULTI); CONST(MMUEXT_INVLPG_MULTI); CONST(MMUEXT_TLB_FLUSH_ALL); CONST(MMUEXT_INVLPG_ALL);
    CONST(MMUEXT_FLUSH_CACHE); CONST(MMUEXT_SET_LDT); CONST(MMUEXT_NEW_USER_BASEPTR); CONST(MMUEXT_CLEAR_PAGE);
    CONST(MMUEXT_COPY_PAGE); CONST(MMUEXT_FLUSH_CACHE_GLOBAL); CONST(MMUEXT_MARK_SUPER); CONST(MMUEXT_UNMARK_SUPER);
    CONST(UVMF_NONE); CONST(UVMF_TLB_FLUSH); CONST(UVMF_INVLPG); CONST(UVMF_FLUSHTYPE_MASK); CONST(UVMF_LOCAL);
    CONST(UVMF_ALL);
    CONST(VGCF_in_syscall); CONST(SEGBASE_FS); CONST(SEGBASE_GS_USER); CONST(SEGBASE_GS_KERNEL);
    CONST(SEGBASE_GS_USER_SEL); CONST(FIRST_RESERVED_GDT_ENTRY);
#ifdef HAVE_CALLBACK_H
    CONST(CALLBACKTYPE_event); CONST(CALLBACKTYPE_failsafe); CONST(CALLBACKTYPE_syscall);
    CONST(CALLBACKTYPE_sysenter_deprecated); CONST(CALLBACKTYPE_nmi); CONST(CALLBACKTYPE_sysenter);
    CONST(CALLBACKTYPE_syscall32); CONST(CALLBACKF_mask_events); CONST(CALLBACKOP_register);
    CONST(CALLBACKOP_unregister);
#endif
#ifdef HAVE_TRAPS_H
    CONST(TI_DPL_MASK); CONST(TI_IF);
#endif
#ifdef HAVE_MEMORY_H
    CONST(XENMEM_increase_reservation); CONST(XENMEM_decrease_reservation); CONST(XENMEM_maximum_ram_page);
    CONST(XENMEM_current_reservation); CONST(XENMEM_maximum_reservation); CONST(XENMEM_machphys_mfn_list);
    CONST(XENMEM_populate_physmap); CONST(XENMEM_add_to_physmap); CONST(XENMEM_memory_map);
    CONST(XENMEM_machine_memory_map); CONST(XENMEM_exchange); CONST(XENMEM_machphys_mapping);
    CONST(XENMEM_set_memory_map); CONST(XENMEM_maximum_gpfn); CONST(XENMEM_remove_from_physmap);
    CONST(XENMEMF_populate_on_demand); CONST(XENMEMF_exact_node_request); CONST(XENMEMF_vnode);
    CONST(XENMEMF_get_address_bits(0xffffffff));
    CONST(XENMAPSPACE_shared_info); CONST(XENMAPSPACE_grant_table); CONST(XENMAPSPACE_gmfn_foreign);
    CONST(E820_RAM); CONST(E820_RESERVED); CONST(E820_ACPI); CONST(E820_NVS); CONST(E820_UNUSABLE);
#endif
    printf("\n  }\n}\n");
    return 0;
}
