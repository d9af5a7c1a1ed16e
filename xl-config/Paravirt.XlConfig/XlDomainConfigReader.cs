using System.Globalization;

namespace Paravirt.XlConfig;

/// <summary>
/// Turns an <see cref="XlConfigFile"/> into a <see cref="DomainConfig"/> with xl's rules (tools/xl/xl_parse.c):
/// names, defaults, how <c>cmdline</c>, <c>root</c> and <c>extra</c> combine, the <c>on_*</c> actions.
/// Errors point at the offending value.
/// </summary>
public static class XlDomainConfigReader
{
    /// <summary>Keys this reader understands; others are kept as warnings, as xl ignores what it does not know.</summary>
    public static readonly IReadOnlySet<string> KnownKeys = new HashSet<string>(StringComparer.Ordinal)
    {
        "name", "uuid", "type", "builder", "memory", "maxmem", "vcpus", "maxvcpus", "kernel", "ramdisk", "cmdline",
        "root", "extra", "on_poweroff", "on_reboot", "on_watchdog", "on_crash", "driver_domain", "disk",
    };

    /// <summary>
    /// Read the domain configuration. Relative <c>kernel</c>/<c>ramdisk</c> paths are resolved against the current
    /// directory when the file exists there (xl's behaviour), otherwise against <paramref name="configDirectory"/>
    /// so that example configs work from anywhere.
    /// </summary>
    public static DomainConfig Read(XlConfigFile file, string configDirectory) => Read(file, configDirectory, out _);

    public static DomainConfig Read(XlConfigFile file, string configDirectory, out IReadOnlyList<string> warnings)
    {
        var warn = new List<string>();
        var c = new DomainConfig();

        c.Name = String(file, "name") ?? throw new XlConfigException(new SourcePosition(file.Source, 1, 1), "Domain name must be specified.");
        if (c.Name.Length == 0 || c.Name.Length > 64 || c.Name.Any(ch => ch < 0x21 || ch > 0x7e || ch == '/'))
            throw new XlConfigException(file["name"]!.Value.Position, $"invalid domain name \"{c.Name}\": 1..64 printable characters, no '/' or spaces");
        if (String(file, "uuid") is { } uuid)
        {
            if (!Guid.TryParseExact(uuid, "D", out var g))
                throw new XlConfigException(file["uuid"]!.Value.Position, $"Failed to parse UUID: {uuid}");
            c.Uuid = g;
        }

        string? type = String(file, "type");
        string? builder = String(file, "builder");
        if (type == null && builder != null)
        {
            type = builder switch
            {
                "generic" => "pv",
                "hvm" => "hvm",
                _ => throw new XlConfigException(file["builder"]!.Value.Position, $"Invalid builder \"{builder}\""),
            };
        }
        type ??= "pv";
        if (type is not ("pv" or "pvh" or "hvm"))
            throw new XlConfigException(file["type"]!.Value.Position, $"Invalid domain type \"{type}\"");
        if (type != "pv")
            throw new XlConfigException((file["type"] ?? file["builder"])!.Value.Position, $"domain type \"{type}\" is not supported: Paravirt runs PV guests only");
        c.Type = type;

        c.MemoryMiB = Long(file, "memory", 1, 1L << 30) ?? 128;
        c.MaxMemMiB = Long(file, "maxmem", 1, 1L << 30) ?? c.MemoryMiB;
        if (c.MaxMemMiB < c.MemoryMiB)
            throw new XlConfigException(file["maxmem"]!.Value.Position, $"maxmem ({c.MaxMemMiB}) must not be less than memory ({c.MemoryMiB})");
        c.Vcpus = (int)(Long(file, "vcpus", 1, 4096) ?? 1);
        c.MaxVcpus = (int)(Long(file, "maxvcpus", 1, 4096) ?? c.Vcpus);
        if (c.MaxVcpus < c.Vcpus)
            throw new XlConfigException(file["maxvcpus"]!.Value.Position, $"maxvcpus ({c.MaxVcpus}) must not be less than vcpus ({c.Vcpus})");

        c.Kernel = Path(file, "kernel", configDirectory) ?? throw new XlConfigException(new SourcePosition(file.Source, 1, 1), "kernel must be specified for a pv domain");
        c.Ramdisk = Path(file, "ramdisk", configDirectory);

        string? cmdline = String(file, "cmdline"), root = String(file, "root"), extra = String(file, "extra");
        if (cmdline != null)
        {
            if (root != null || extra != null) warn.Add("Warning: ignoring root= and extra= in favour of cmdline=");
            c.Cmdline = cmdline;
        }
        else if (root != null) c.Cmdline = extra != null ? $"root={root} {extra}" : $"root={root}";
        else c.Cmdline = extra ?? "";

        c.OnPoweroff = Action(file, "on_poweroff") ?? DomainAction.Destroy;
        c.OnReboot = Action(file, "on_reboot") ?? DomainAction.Restart;
        c.OnWatchdog = Action(file, "on_watchdog") ?? DomainAction.Destroy;
        c.OnCrash = Action(file, "on_crash") ?? DomainAction.Destroy;
        c.DriverDomain = (Long(file, "driver_domain", 0, 1) ?? 0) == 1;
        if (file["disk"] is { } disks)
        {
            if (!disks.Value.IsList) throw new XlConfigException(disks.Value.Position, "disk must be a list of DISKSPEC strings");
            foreach (var item in disks.Value.Items!)
            {
                if (item.IsList || item.IsNumber) throw new XlConfigException(item.Position, $"disk entries must be strings, got {item.Describe()}");
                try { c.Disks.Add(DiskSpec.Parse(item.Atom!)); }
                catch (DiskSpecException e) { throw new XlConfigException(item.Position, e.Message); }
            }
            if (c.Disks.Count > 0) warn.Add($"{disks.KeyPosition}: warning: disk devices are parsed but not attached yet (no block back-end)");
        }

        foreach (var s in file.Settings)
            if (!KnownKeys.Contains(s.Key)) warn.Add($"{s.KeyPosition}: warning: `{s.Key}' is not supported yet and is ignored");
        warnings = warn;
        return c;
    }

    private static string? String(XlConfigFile file, string key)
    {
        var s = file[key];
        if (s == null) return null;
        if (s.Value.IsList) throw new XlConfigException(s.Value.Position, $"{key} must be a single value, got a list");
        return s.Value.Atom;
    }

    private static long? Long(XlConfigFile file, string key, long min, long max)
    {
        var s = file[key];
        if (s == null) return null;
        if (s.Value.IsList || !s.Value.IsNumber)
            throw new XlConfigException(s.Value.Position, $"{key} must be a number, got {s.Value.Describe()}");
        string a = s.Value.Atom!;
        bool ok = a.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? long.TryParse(a.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long v)
            : long.TryParse(a, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        if (!ok || v < min || v > max)
            throw new XlConfigException(s.Value.Position, $"{key} must be between {min} and {max}, got {a}");
        return v;
    }

    private static DomainAction? Action(XlConfigFile file, string key)
    {
        string? v = String(file, key);
        if (v == null) return null;
        return v switch
        {
            "destroy" => DomainAction.Destroy,
            "restart" => DomainAction.Restart,
            "rename-restart" => DomainAction.RenameRestart,
            "preserve" => DomainAction.Preserve,
            "coredump-destroy" => DomainAction.CoredumpDestroy,
            "coredump-restart" => DomainAction.CoredumpRestart,
            "soft-reset" => DomainAction.SoftReset,
            _ => throw new XlConfigException(file[key]!.Value.Position, $"Unknown {key} action \"{v}\" specified"),
        };
    }

    private static string? Path(XlConfigFile file, string key, string configDirectory)
    {
        string? p = String(file, key);
        if (p == null) return null;
        if (p.Length == 0) throw new XlConfigException(file[key]!.Value.Position, $"{key} must not be empty");
        string resolved;
        if (System.IO.Path.IsPathRooted(p)) resolved = p;
        else
        {
            string fromCwd = System.IO.Path.GetFullPath(p);
            resolved = File.Exists(fromCwd) ? fromCwd : System.IO.Path.GetFullPath(System.IO.Path.Combine(configDirectory, p));
        }
        if (!File.Exists(resolved))
            throw new XlConfigException(file[key]!.Value.Position, $"{key} file \"{p}\" not found");
        return resolved;
    }
}
