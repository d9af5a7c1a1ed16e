using Paravirt.Hypervisor;
using Paravirt.Hypervisor.Scheduling;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Toolstack;

/// <summary>
/// The credit scheduler from the toolstack's side (libxl_sched.c, libxl_domain.c's vcpu affinity): cpus /
/// cpu_weight / cap applied at create, `xl sched-credit` and `xl vcpu-pin`. Values are checked as libxl checks them
/// before they reach the hypervisor, which checks them again.
/// </summary>
public sealed partial class Toolstack
{
    /// <summary>The one cpupool (libxl's Pool-0, id 0): every pCPU, the credit scheduler.</summary>
    public const string PoolName = "Pool-0";

    private int PcpuCount => _hv.Scheduler.Core.PcpuCount;

    /// <summary>cpu_weight, cap and cpus (hard affinity per vcpu) from xl.cfg, before the domain first runs.</summary>
    private void ApplySchedParams(Domain d, DomainConfig c)
    {
        if (c.CpuWeight is not null || c.Cap is not null)
            SetSchedCredit(d, c.CpuWeight, c.Cap);
        if (c.Cpus is not { Count: > 0 } cpus) return;
        for (int i = 0; i < d.Vcpus.Count; i++)
        {
            // A string applies to every vcpu; a list gives vcpu i its i-th entry, and vcpus past the list keep "all".
            string? text = c.CpusPerVcpu ? (i < cpus.Count ? cpus[i] : null) : cpus[0];
            if (text is null) continue;
            var mask = ResolveCpus(text, $"cpus for vcpu {i}");
            if (d.Vcpus[i].SetAffinity(mask, null) != 0)
                throw new ToolstackException($"cpus=\"{text}\" for vcpu {i}: no pCPU of this host (0-{PcpuCount - 1}) in it");
        }
    }

    /// <summary>A cpu list (xl.cfg cpus, xl vcpu-pin) as a mask of this host's pCPUs; empty is refused.</summary>
    private CpuMask ResolveCpus(string text, string what)
    {
        CpuRange range;
        try { range = CpuRange.Parse(text); }
        catch (CpuRangeException e) { throw new ToolstackException(e.Message); }
        int n = PcpuCount;
        // One NUMA node holding every pCPU (the host as the hypervisor sees it).
        var mask = CpuMask.Of(n, range.Resolve(n, node => node == 0 ? Enumerable.Range(0, n) : []));
        if (mask.IsEmpty) throw new ToolstackException($"{what} \"{text}\" selects no pCPU of this host (0-{n - 1})");
        return mask;
    }

    public SchedCreditPool GetSchedCreditPool()
    {
        var (t, r, m) = _hv.Scheduler.PoolParams;
        return new SchedCreditPool(PoolName, t, r, m);
    }

    public void SetSchedCreditPool(int? timesliceMs, int? ratelimitUs, int? migrationDelayUs)
    {
        // libxl_sched_credit_params_set's checks, with its messages.
        if (timesliceMs is < CreditScheduler.MinTimesliceMs or > CreditScheduler.MaxTimesliceMs)
            throw new ToolstackException($"Time slice out of range, valid range is from {CreditScheduler.MinTimesliceMs} to {CreditScheduler.MaxTimesliceMs}");
        if (ratelimitUs is { } r && r != 0 && r is < CreditScheduler.MinRatelimitUs or > CreditScheduler.MaxRatelimitUs)
            throw new ToolstackException($"Ratelimit out of range, valid range is from {CreditScheduler.MinRatelimitUs} to {CreditScheduler.MaxRatelimitUs}");
        var (t0, r0, _) = _hv.Scheduler.PoolParams;
        if ((ratelimitUs ?? r0) * 1000L > (timesliceMs ?? t0) * 1_000_000L)
            throw new ToolstackException("Ratelimit cannot be greater than timeslice");
        if (migrationDelayUs is < 0 or > CreditScheduler.MaxMigrationDelayUs)
            throw new ToolstackException($"vcpu migration delay should be >= 0 and <= {CreditScheduler.MaxMigrationDelayUs}us");
        if (_hv.Scheduler.SetPoolParams(timesliceMs, ratelimitUs, migrationDelayUs) != 0)
            throw new ToolstackException("setting sched credit param: Invalid argument");
    }

    public SchedCreditParams GetSchedCredit(uint domId)
    {
        var d = Lookup(domId);
        _guests.TryGetValue(d.Id, out var g);
        return new SchedCreditParams(d.Id, g?.Name ?? d.Name, d.SchedWeight, d.SchedCap);
    }

    public void SetSchedCredit(uint domId, int? weight, int? cap) => SetSchedCredit(Lookup(domId), weight, cap);

    /// <summary>sched_credit_domain_set: weight 1..65535; cap 0..100 × the domain's vCPUs.</summary>
    private void SetSchedCredit(Domain d, int? weight, int? cap)
    {
        if (weight is < CreditScheduler.MinWeight or > CreditScheduler.MaxWeight)
            throw new ToolstackException($"Domain {d.Id}:Cpu weight out of range, valid values are within range from 1 to 65535");
        int maxCap = (d.IsManaged ? PcpuCount : d.Vcpus.Count) * 100;
        if (cap is < 0 || cap > maxCap)
            throw new ToolstackException($"Domain {d.Id}:Cpu cap out of range, valid range is from 0 to {maxCap} for specified number of vcpus");
        if (d.SetSchedParams(weight, cap) != 0)
            throw new ToolstackException($"Domain {d.Id}:Setting domain sched credit: Invalid argument");
    }

    /// <summary>
    /// libxl_set_vcpuaffinity(_all): <paramref name="vcpu"/> null for every vCPU; a null affinity stays as it is.
    /// All are checked before any changes, so a bad request leaves every vCPU as it was.
    /// </summary>
    public void PinVcpu(uint domId, int? vcpu, string? hard, string? soft)
    {
        var d = Lookup(domId);
        if (d.IsManaged) throw new ToolstackException($"Domain {d.Id}:domain 0 runs in paravirtd and has no vCPUs to pin");
        if (vcpu is { } v && (v < 0 || v >= d.Vcpus.Count))
            throw new ToolstackException($"Domain {d.Id}:vcpu {v} does not exist (the domain has vcpus 0-{d.Vcpus.Count - 1})");
        var hardMask = hard is null ? null : ResolveCpus(hard, "hard affinity");
        var softMask = soft is null ? null : ResolveCpus(soft, "soft affinity");
        foreach (var target in vcpu is { } one ? [d.Vcpus[one]] : d.Vcpus)
            if (target.SetAffinity(hardMask, softMask) != 0)
                throw new ToolstackException($"Domain {d.Id}:Setting vcpu affinity: Invalid argument");
        _hv.Console.Log($"d{d.Id}: vcpu {(vcpu is { } n ? n.ToString(System.Globalization.CultureInfo.InvariantCulture) : "all")} pinned: hard {hardMask?.ToString() ?? "unchanged"}, soft {softMask?.ToString() ?? "unchanged"}");
    }

    private static VcpuState StateOf(Vcpu v) =>
        new(v.Id, v.IsUp, v.IsRunning, v.IsBlocked, v.CpuTime.TotalSeconds, v.Pcpu, v.HardAffinity.ToString(), v.SoftAffinity.ToString());
}
