namespace Paravirt.XlConfig;

/// <summary>
/// Turns an <see cref="XlConfigFile"/> into a <see cref="DomainConfig"/> with xl's rules (tools/xl/xl_parse.c,
/// parse_config_data), in xl's order, so the first error is the one xl would stop at:
/// type/builder, name, uuid, memory, maxmem, vcpus, maxvcpus, on_* actions, kernel, ramdisk, cmdline, driver_domain.
/// <para>Where xl only prints a warning and carries on with a default (a number that does not parse, a list where a
/// single value belongs), this reader stops with an error at the value's position instead: a config that does not
/// mean what it says is not started.</para>
/// <para>Numbers are atoms read with strtol base 0 (<see cref="XlNumber"/>): <c>memory = "64"</c> is 64 as in xl,
/// and any atom can be read as a string (<c>name = 123</c> is the name "123").</para>
/// Unknown keys are ignored, as xl ignores them; each becomes a warning in <see cref="DomainConfig.Warnings"/>.
/// </summary>
public static class XlDomainConfigReader
{
    /// <summary>Keys this reader understands; others are reported as warnings and otherwise ignored.</summary>
    public static readonly IReadOnlySet<string> KnownKeys = new HashSet<string>(StringComparer.Ordinal)
    {
        "name", "uuid", "type", "builder", "memory", "maxmem", "vcpus", "maxvcpus", "kernel", "ramdisk", "cmdline",
        "root", "extra", "on_poweroff", "on_reboot", "on_watchdog", "on_crash", "driver_domain", "disk", "vif",
        "cpus", "cpu_weight", "cap",
        "max_event_channels", "max_grant_frames", "max_maptrack_frames",
    };

    /// <summary>libxl's default when neither memory nor maxmem is given (libxl_create.c: max_memkb = 32 * 1024).</summary>
    public const long DefaultMemoryMiB = 32;

    /// <summary>Largest memory/maxmem accepted, in MiB (1 TiB): bounds the frame pool request and keeps KiB in range.</summary>
    public const long MaxMemoryMiB = 1L << 20;

    /// <summary>
    /// Largest vcpus/maxvcpus accepted: Xen's HVM_MAX_VCPUS (public/hvm/hvm_info_table.h). A PV guest that does not
    /// move its vcpu_info with VCPUOP_register_vcpu_info can use only the XEN_LEGACY_MAX_VCPUS (32) of shared_info.
    /// </summary>
    public const int MaxVcpus = 128;

    /// <summary>
    /// Read the domain configuration. A relative <c>kernel</c>/<c>ramdisk</c> path is resolved against the current
    /// directory when the file exists there (what xl does: it hands the path to libxl unchanged), otherwise against
    /// <paramref name="configDirectory"/>, so that example configs work from any directory. An absolute path is
    /// kept. The file must exist either way.
    /// </summary>
    public static DomainConfig Read(XlConfigFile file, string configDirectory)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(configDirectory);
        var c = new DomainConfig();
        var top = new SourcePosition(file.Source, 1, 1);

        c.Type = ReadType(file);

        c.Name = String(file, "name") ?? throw new XlConfigException(top, "Domain name must be specified.");
        if (c.Name.Length == 0 || c.Name.Length > 64 || c.Name.Any(ch => ch < 0x21 || ch > 0x7e || ch == '/'))
            throw new XlConfigException(file["name"]!.Value.Position,
                $"invalid domain name {XlValue.Quote(c.Name)}: 1 to 64 printable ASCII characters, no spaces or '/'");

        if (String(file, "uuid") is { } uuid)
        {
            // libxl_uuid_from_string: exactly 36 characters, 8-4-4-4-12 hex digits.
            if (uuid.Length != 36 || !Guid.TryParseExact(uuid, "D", out var g))
                throw new XlConfigException(file["uuid"]!.Value.Position, $"Failed to parse UUID: {XlValue.Quote(uuid)}");
            c.Uuid = g;
        }

        // memory and maxmem default to each other (xl: max_memkb = target_memkb when maxmem is unset; libxl:
        // target_memkb = max_memkb when memory is unset), and to 32 MiB when neither is given.
        long? memory = Long(file, "memory", 1, MaxMemoryMiB);
        long? maxmem = Long(file, "maxmem", 1, MaxMemoryMiB);
        c.MemoryMiB = memory ?? maxmem ?? DefaultMemoryMiB;
        c.MaxMemMiB = maxmem ?? c.MemoryMiB;
        if (c.MaxMemMiB < c.MemoryMiB)
            throw new XlConfigException(file["maxmem"]!.Value.Position,
                $"maxmem ({c.MaxMemMiB}) must be equal to or greater than memory ({c.MemoryMiB})");

        // vcpus defaults to 1 (libxl sets one vCPU online); maxvcpus defaults to vcpus.
        c.Vcpus = (int)(Long(file, "vcpus", 1, MaxVcpus) ?? 1);
        c.MaxVcpus = (int)(Long(file, "maxvcpus", 1, MaxVcpus) ?? c.Vcpus);
        if (c.MaxVcpus < c.Vcpus)
            throw new XlConfigException(file["maxvcpus"]!.Value.Position, $"maxvcpus ({c.MaxVcpus}) < vcpus ({c.Vcpus})");

        ReadCpuKeys(file, c);

        c.OnPoweroff = Action(file, "on_poweroff") ?? DomainAction.Destroy;
        c.OnReboot = Action(file, "on_reboot") ?? DomainAction.Restart;
        c.OnWatchdog = Action(file, "on_watchdog") ?? DomainAction.Destroy;
        c.OnCrash = Action(file, "on_crash") ?? DomainAction.Destroy;

        // A libxl defbool read through xlu_cfg_get_long: 0 is false, any other number true.
        c.DriverDomain = (Long(file, "driver_domain", long.MinValue, long.MaxValue) ?? 0) != 0;

        // A driver domain's back-ends are Paravirt's managed code: it boots no kernel (the toolstack refuses one).
        c.Kernel = Path(file, "kernel", configDirectory)
            ?? (c.DriverDomain ? "" : throw new XlConfigException(top, "Neither kernel nor bootloader specified (kernel is required for a pv domain)"));
        c.Ramdisk = Path(file, "ramdisk", configDirectory);
        c.Cmdline = Cmdline(file, c.Warnings);

        // libxl's uint32 limits; the toolstack checks them against what the hypervisor can grant.
        c.MaxEventChannels = (uint?)Long(file, "max_event_channels", 0, uint.MaxValue);
        c.MaxGrantFrames = (uint?)Long(file, "max_grant_frames", 0, uint.MaxValue);
        c.MaxMaptrackFrames = (uint?)Long(file, "max_maptrack_frames", 0, uint.MaxValue);

        if (file["disk"] is { } disks)
        {
            if (!disks.Value.IsList) throw new XlConfigException(disks.Value.Position, "disk must be a list of DISKSPEC strings");
            foreach (var item in disks.Value.Items!)
            {
                if (item.IsList || item.IsNumber) throw new XlConfigException(item.Position, $"disk entries must be strings, got {item.Describe()}");
                try { c.Disks.Add(DiskSpec.Parse(item.Atom!)); }
                catch (DiskSpecException e) { throw new XlConfigException(item.Position, XlValue.OneLine(e.Message)); }
            }
        }

        if (file["vif"] is { } vifs)
        {
            if (!vifs.Value.IsList) throw new XlConfigException(vifs.Value.Position, "vif must be a list of VIFSPEC strings");
            var devids = new HashSet<int>();
            foreach (var item in vifs.Value.Items!)
            {
                if (item.IsList || item.IsNumber) throw new XlConfigException(item.Position, $"vif entries must be strings, got {item.Describe()}");
                VifSpec vif;
                var complaints = new List<string>();
                try { vif = VifSpec.Parse(item.Atom!, complaints); }
                catch (VifSpecException e) { throw new XlConfigException(item.Position, XlValue.OneLine(e.Message)); }
                foreach (string complaint in complaints)
                    c.Warnings.Add($"{item.Position}: warning: {XlValue.OneLine(complaint)}");
                // xl-network-configuration(5): "Each device has a DEVID which is its index within the vif list".
                vif = vif with { Devid = vif.Devid ?? c.Vifs.Count };
                if (!devids.Add(vif.Devid.Value))
                    throw new XlConfigException(item.Position, $"vif devid {vif.Devid} is used twice");
                c.Vifs.Add(vif);
            }
            if (c.Vifs.Count > 0)
                c.Warnings.Add($"{vifs.KeyPosition}: warning: {c.Vifs.Count} vif(s) parsed but not attached: network devices are not supported yet");
        }

        foreach (var s in file.Settings)
            if (!KnownKeys.Contains(s.Key)) c.Warnings.Add($"{s.KeyPosition}: warning: `{s.Key}' is not supported yet and is ignored");
        return c;
    }

    /// <summary>The same, handing the warnings out separately (they are also in <see cref="DomainConfig.Warnings"/>).</summary>
    public static DomainConfig Read(XlConfigFile file, string configDirectory, out IReadOnlyList<string> warnings)
    {
        var c = Read(file, configDirectory);
        warnings = c.Warnings;
        return c;
    }

    /// <summary>
    /// <c>type</c>, or the deprecated <c>builder</c>. xl compares with strncmp(value, name, strlen(value)), so any
    /// prefix of a type name selects it, checked in xl's order: "hvm", "pv", "pvh" for type (so "p" is pv and ""
    /// is hvm) and "hvm", "generic" for builder. Both given and different: xl's "Contradicting" error.
    /// Only pv runs here.
    /// </summary>
    private static string ReadType(XlConfigFile file)
    {
        string? type = null;
        XlValue? at = null;
        if (String(file, "type") is { } t)
        {
            at = file["type"]!.Value;
            type = IsPrefixOf(t, "hvm") ? "hvm" : IsPrefixOf(t, "pv") ? "pv" : IsPrefixOf(t, "pvh") ? "pvh"
                : throw new XlConfigException(at.Position, $"Invalid domain type {XlValue.Quote(t)}: expected \"pv\", \"pvh\" or \"hvm\"");
        }
        if (String(file, "builder") is { } b)
        {
            var bAt = file["builder"]!.Value;
            string fromBuilder = IsPrefixOf(b, "hvm") ? "hvm" : IsPrefixOf(b, "generic") ? "pv"
                : throw new XlConfigException(bAt.Position, $"Invalid builder {XlValue.Quote(b)}: expected \"generic\" (pv) or \"hvm\"");
            if (type != null && type != fromBuilder)
                throw new XlConfigException(bAt.Position, "Contradicting \"builder\" and \"type\" options specified.");
            type = fromBuilder;
            at ??= bAt;
        }
        type ??= "pv"; // xl's default on x86
        if (type != "pv")
            throw new XlConfigException(at!.Position, $"domain type \"{type}\" is not supported: Paravirt runs PV guests only");
        return type;
    }

    private static bool IsPrefixOf(string value, string name) => name.StartsWith(value, StringComparison.Ordinal);

    /// <summary>
    /// xl's parse_cmdline: <c>cmdline</c> wins (with a warning if <c>root</c> or <c>extra</c> is also given);
    /// otherwise <c>root=ROOT EXTRA</c>, <c>root=ROOT</c>, or <c>EXTRA</c>.
    /// </summary>
    private static string Cmdline(XlConfigFile file, List<string> warnings)
    {
        string? cmdline = String(file, "cmdline"), root = String(file, "root"), extra = String(file, "extra");
        if (cmdline != null)
        {
            if (root != null || extra != null)
                warnings.Add($"{file["cmdline"]!.KeyPosition}: warning: ignoring root= and extra= in favour of cmdline=");
            return cmdline;
        }
        if (root != null) return extra != null ? $"root={root} {extra}" : $"root={root}";
        return extra ?? "";
    }

    /// <summary>A single value read as a string (libxlu: any atom; a list is an error).</summary>
    private static string? String(XlConfigFile file, string key)
    {
        var s = file[key];
        if (s == null) return null;
        if (s.Value.IsList) throw new XlConfigException(s.Value.Position, $"{key} must be a single value, got a list");
        return s.Value.Atom;
    }

    /// <summary>A single value read as a number (xlu_cfg_get_bounded_long's rules, errors instead of warnings).</summary>
    private static long? Long(XlConfigFile file, string key, long min, long max)
    {
        var s = file[key];
        if (s == null) return null;
        var v = s.Value;
        if (v.IsList) throw new XlConfigException(v.Position, $"{key} must be a number, got a list");
        if (s.IsAppend) throw new XlConfigException(v.Position, $"{key} is a number: it cannot be set with +=");
        switch (XlNumber.TryParse(v.Atom!, out long n))
        {
            case XlNumber.Result.NotANumber:
                throw new XlConfigException(v.Position, v.IsNumber
                    ? $"{key} must be a number, got {v.Atom} (not a valid decimal, 0octal or 0xhex number)"
                    : $"{key} must be a number, got {v.Describe()}");
            case XlNumber.Result.OutOfRange:
                throw new XlConfigException(v.Position, $"{key} is out of range: {v.Describe()}");
        }
        if (n < min || n > max)
            throw new XlConfigException(v.Position, $"{key} must be between {min} and {max}, got {n}");
        return n;
    }

    /// <summary>
    /// <c>cpus</c>: a string for every vcpu or a list with one entry per vcpu (xl_parse.c parse_vcpu_affinity), each
    /// a <see cref="CpuRange"/>; more entries than maxvcpus is an error (xl drops them silently).
    /// <c>cpu_weight</c> 1–65535 and <c>cap</c> 0–100×maxvcpus (credit's ranges). The toolstack applies them at create.
    /// </summary>
    private static void ReadCpuKeys(XlConfigFile file, DomainConfig c)
    {
        if (file["cpus"] is { } cpus)
        {
            List<XlValue> items = cpus.Value.IsList ? cpus.Value.Items! : [cpus.Value];
            if (cpus.Value.IsList && items.Count > c.MaxVcpus)
                throw new XlConfigException(cpus.Value.Position, $"cpus lists {items.Count} vcpus but maxvcpus is {c.MaxVcpus}");
            c.Cpus = [];
            foreach (var item in items)
            {
                if (item.IsList) throw new XlConfigException(item.Position, $"cpus entries must be strings, got {item.Describe()}");
                try { c.Cpus.Add(CpuRange.Parse(item.Atom!).Text); }
                catch (CpuRangeException e) { throw new XlConfigException(item.Position, XlValue.OneLine(e.Message)); }
            }
            c.CpusPerVcpu = cpus.Value.IsList;
        }
        c.CpuWeight = (int?)Long(file, "cpu_weight", 1, 65535);
        c.Cap = (int?)Long(file, "cap", 0, 100L * c.MaxVcpus);
    }

    /// <summary>An on_* action: one of xl.cfg(5)'s names, compared exactly (xl_parse.c parse_action_on_shutdown).</summary>
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
            _ => throw new XlConfigException(file[key]!.Value.Position, $"Unknown {key} action {XlValue.Quote(v)} specified"),
        };
    }

    /// <summary>
    /// A kernel/ramdisk path. Absolute: kept. Relative: the current directory first (xl passes the path to libxl,
    /// which opens it from there), else the config file's directory. Missing either way: an error at the value.
    /// </summary>
    private static string? Path(XlConfigFile file, string key, string configDirectory)
    {
        string? p = String(file, key);
        if (p == null) return null;
        var at = file[key]!.Value.Position;
        if (p.Length == 0) throw new XlConfigException(at, $"{key} must not be empty");
        if (p.Contains('\0')) throw new XlConfigException(at, $"{key} path contains a NUL character");
        string resolved;
        try
        {
            if (System.IO.Path.IsPathRooted(p)) resolved = p;
            else
            {
                string fromCwd = System.IO.Path.GetFullPath(p);
                resolved = File.Exists(fromCwd) ? fromCwd : System.IO.Path.GetFullPath(System.IO.Path.Combine(configDirectory, p));
            }
        }
        catch (Exception e) when (e is ArgumentException or IOException or NotSupportedException or UnauthorizedAccessException)
        {
            throw new XlConfigException(at, $"{key} path {XlValue.Quote(p)} is not usable: {e.Message.ReplaceLineEndings(" ")}");
        }
        if (!File.Exists(resolved))
            throw new XlConfigException(at, $"{key} file {XlValue.Quote(p)} not found (looked in the current directory and in {XlValue.Quote(configDirectory)})");
        return resolved;
    }
}
