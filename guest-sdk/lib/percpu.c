/*
 * percpu.c - per-vCPU data: the pv_cpu blocks, which vCPU is running, and
 * where each vCPU's vcpu_info lives.  Pure memory logic (no hypercalls), so
 * the host tests link it; lib/smp.c brings vCPUs up.
 */
#include <paravirt/smp.h>

#include "internal.h"

struct pv_cpu pv_cpus[PV_SMP_MAX_VCPUS];
/* Set once vCPU 0's GS base points at pv_cpus[0]: %gs then always holds the running vCPU's block. */
bool pv_smp_gs_ready;

struct pv_cpu *pv_smp_cpu(unsigned int vcpu)
{
    return vcpu < PV_SMP_MAX_VCPUS ? &pv_cpus[vcpu] : NULL;
}

unsigned int pv_smp_processor_id(void)
{
    if (!PV_READ_ONCE(pv_smp_gs_ready))
        return 0;
    unsigned int id;
    __asm__ __volatile__("movl %%gs:%c1, %0" : "=r"(id) : "i"(offsetof(struct pv_cpu, id)));
    return id;
}

vcpu_info_t *pv_vcpu_info(unsigned int vcpu)
{
    if (vcpu >= PV_SMP_MAX_VCPUS)
        return NULL;
    vcpu_info_t *registered = PV_READ_ONCE(pv_cpus[vcpu].vcpu_info);
    if (registered != NULL)
        return registered;
    return pv_shared_info != NULL ? &pv_shared_info->vcpu_info[vcpu] : NULL;
}
