using System.Globalization;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;
using Paravirt.Control.Messages;
using Paravirt.XlConfig;

namespace Paravirt.Xl;

/// <summary>
/// A domain configuration in libxl's JSON shape (libxl_domain_config as libxl_types.idl generates it): c_info,
/// b_info with a "type.pv" union member, disks, nics and the on_* actions in lower case. `xl create -n` prints this;
/// `xl list -l` prints an array of {"domid", "config"} objects.
/// </summary>
public static class LibxlJson
{
    public static JObject DomainConfig(DomainConfig config)
    {
        var cInfo = new JObject
        {
            ["type"] = config.Type,
            ["name"] = config.Name,
        };
        if (config.Uuid is { } uuid) cInfo["uuid"] = uuid.ToString();
        if (config.DriverDomain) cInfo["driver_domain"] = "True";

        int maxVcpus = config.MaxVcpus > 0 ? config.MaxVcpus : config.Vcpus;
        long maxMem = Math.Max(config.MaxMemMiB, config.MemoryMiB);
        var pv = new JObject { ["kernel"] = config.Kernel };
        if (!string.IsNullOrEmpty(config.Cmdline)) pv["cmdline"] = config.Cmdline;
        if (config.Ramdisk is not null) pv["ramdisk"] = config.Ramdisk;
        var bInfo = new JObject
        {
            ["max_vcpus"] = maxVcpus,
            ["avail_vcpus"] = new JArray(Enumerable.Range(0, config.Vcpus)),
            ["max_memkb"] = maxMem * 1024,
            ["target_memkb"] = config.MemoryMiB * 1024,
            ["sched_params"] = SchedParams(config),
            ["type.pv"] = pv,
        };
        if (HardAffinity(config, maxVcpus) is { } affinity) bInfo["vcpu_hard_affinity"] = affinity;
        if (config.MaxEventChannels is { } channels) bInfo["event_channels"] = channels;
        if (config.MaxGrantFrames is { } grantFrames) bInfo["max_grant_frames"] = grantFrames;
        if (config.MaxMaptrackFrames is { } maptrackFrames) bInfo["max_maptrack_frames"] = maptrackFrames;
        return new JObject
        {
            ["c_info"] = cInfo,
            ["b_info"] = bInfo,
            ["disks"] = new JArray(config.Disks.Select(d => d.ToLibxlJson())),
            ["nics"] = new JArray(config.Vifs.Select(v => v.ToLibxlJson())),
            ["on_poweroff"] = Action(config.OnPoweroff),
            ["on_reboot"] = Action(config.OnReboot),
            ["on_watchdog"] = Action(config.OnWatchdog),
            ["on_crash"] = Action(config.OnCrash),
        };
    }

    /// <summary>libxl_domain_sched_params: weight and cap when the config sets them (libxl omits its -1 defaults).</summary>
    private static JObject SchedParams(DomainConfig config)
    {
        var p = new JObject();
        if (config.CpuWeight is { } weight) p["weight"] = weight;
        if (config.Cap is { } cap) p["cap"] = cap;
        return p;
    }

    /// <summary>
    /// b_info.vcpu_hard_affinity: one libxl_bitmap (a JSON array of set bits) per vcpu, resolved against this host
    /// as the toolstack sees it (Environment.ProcessorCount pcpus, all in NUMA node 0).
    /// </summary>
    private static JArray? HardAffinity(DomainConfig config, int maxVcpus)
    {
        if (config.Cpus is not { Count: > 0 } cpus) return null;
        int nrCpus = Environment.ProcessorCount;
        IEnumerable<int> NodeCpus(int node) => node == 0 ? Enumerable.Range(0, nrCpus) : [];
        var maps = new List<JArray>();
        foreach (string text in cpus)
        {
            // The reader validated these; a config that came over the wire otherwise is shown without affinity.
            try { maps.Add(new JArray(CpuRange.Parse(text ?? "").Resolve(nrCpus, NodeCpus))); }
            catch (CpuRangeException) { return null; }
        }
        int count = config.CpusPerVcpu ? maps.Count : maxVcpus;
        return new JArray(Enumerable.Range(0, count).Select(i => maps[config.CpusPerVcpu ? i : 0].DeepClone()));
    }

    /// <summary>libxl_action_on_shutdown's JSON names.</summary>
    public static string Action(DomainAction action) => action switch
    {
        DomainAction.Destroy => "destroy",
        DomainAction.Restart => "restart",
        DomainAction.RenameRestart => "rename_restart",
        DomainAction.Preserve => "preserve",
        DomainAction.CoredumpDestroy => "coredump_destroy",
        DomainAction.CoredumpRestart => "coredump_restart",
        DomainAction.SoftReset => "soft_reset",
        _ => action.ToString().ToLowerInvariant(),
    };

    /// <summary>
    /// `xl create -n` (and `xl -N create`): xl's printf_info with no domain yet, i.e. {"domid": null, "config": ...}
    /// (tools/xl/xl_info.c printf_info_one_json with domid -1).
    /// </summary>
    public static JObject DryRun(DomainConfig config) => new() { ["domid"] = JValue.CreateNull(), ["config"] = DomainConfig(config) };

    /// <summary>
    /// xl list -l: one {"domid", "config"} entry per domain whose configuration the toolstack holds, as
    /// libxl_retrieve_domain_configuration gives it: the file's configuration brought up to date with the running
    /// domain (its name after a rename, its uuid, its memory target and maximum). Dom0 was not built from an xl.cfg and
    /// has none, so it is left out, as xl leaves out a domain whose configuration cannot be retrieved.
    /// </summary>
    public static string List(IEnumerable<DomainSummary> domains)
    {
        var array = new JArray();
        foreach (var d in domains)
        {
            if (d.Config is not { } c) continue;
            var config = DomainConfig(c);
            var info = (JObject)config["c_info"]!;
            info["name"] = d.Name;
            info["uuid"] = d.Uuid.ToString();
            var build = (JObject)config["b_info"]!;
            if (d.TargetKiB > 0) build["target_memkb"] = d.TargetKiB;
            if (d.MaxKiB > 0) build["max_memkb"] = d.MaxKiB;
            array.Add(new JObject { ["domid"] = d.DomId, ["config"] = config });
        }
        return Render(array);
    }

    /// <summary>libxl's generator indents by four spaces.</summary>
    public static string Render(JToken token)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        using (var json = new JsonTextWriter(writer) { Formatting = Formatting.Indented, Indentation = 4 })
            token.WriteTo(json);
        return writer + "\n";
    }
}
