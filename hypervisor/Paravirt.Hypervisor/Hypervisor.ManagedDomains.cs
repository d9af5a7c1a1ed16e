using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor;

// Managed domains besides Dom0: driver domains, whose back-ends are C# code acting with the domain's own id. Like
// Dom0 they have no memory or vCPUs of their own; unlike Dom0 they are unprivileged (no foreign mappings, no
// control over other domains): what they see of a guest is what it granted them.
public sealed partial class Hypervisor
{
    /// <summary>
    /// Create an unprivileged managed domain with a fresh domain id (XEN_DOMCTL_createdomain for a domain whose
    /// kernel is managed code). It is never paused and never runs guest code; <see cref="DestroyDomain"/> ends it.
    /// </summary>
    public Domain CreateManagedDomain(string name, Guid uuid)
    {
        lock (_domainsLock)
        {
            ushort id = 0;
            for (int tries = 0; tries < DomId.FirstReserved; tries++)
            {
                _domidRover = (ushort)(_domidRover + 1 >= DomId.FirstReserved ? 1 : _domidRover + 1);
                if (!_domains.ContainsKey(_domidRover)) { id = _domidRover; break; }
            }
            if (id == 0) throw new HypervisorException(XenErrno.ENOSPC, "no free domain id");
            var d = new Domain(this, id, name, uuid, managed: true, privileged: false);
            // In the pool like every domain (xl sched-credit lists it), though it has no vCPUs to schedule.
            d.SchedDomain = Scheduler.AddDomain(id);
            _domains[id] = d;
            return d;
        }
    }
}
