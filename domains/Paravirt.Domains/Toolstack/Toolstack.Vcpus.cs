using Paravirt.Hypervisor.Abi;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Toolstack;

/// <summary>The vCPU side of domain creation: `vcpus` (online at boot) and `maxvcpus` (created).</summary>
public sealed partial class Toolstack
{
    /// <summary>How many vCPUs the domain is created with: maxvcpus when given, else vcpus (libxl's max_vcpus).</summary>
    internal static int MaxVcpusOf(DomainConfig c) => c.MaxVcpus > 0 ? c.MaxVcpus : c.Vcpus;

    private static void ValidateVcpus(DomainConfig c)
    {
        int max = MaxVcpusOf(c);
        if (c.Vcpus < 1) throw new ToolstackException($"vcpus must be at least 1, got {c.Vcpus}");
        if (max < c.Vcpus) throw new ToolstackException($"maxvcpus ({max}) < vcpus ({c.Vcpus})");
        if (max > SharedInfoLayout.LegacyMaxVcpus)
            throw new ToolstackException($"maxvcpus={max}: at most {SharedInfoLayout.LegacyMaxVcpus} vCPUs per PV domain are supported");
    }
}
