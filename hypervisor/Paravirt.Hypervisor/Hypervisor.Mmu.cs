using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor;

public sealed partial class Hypervisor
{
    /// <summary>The PV MMU: page types, validated page-table updates, the read-only M2P.</summary>
    public PvMmu Mmu { get; }
}
