using System.Text.RegularExpressions;
using Newtonsoft.Json.Linq;

namespace Paravirt.XlConfig;

/// <summary>A bad DISKSPEC: one line naming the offending part and the whole spec.</summary>
public sealed class DiskSpecException(string message) : Exception(message);

/// <summary>
/// One disk as xl-disk-configuration(5) describes it (libxl_device_disk's fields). Parse with <see cref="Parse"/>.
/// </summary>
public sealed partial record DiskSpec
{
    public string? Target { get; init; }
    /// <summary>raw, qcow, qcow2, vhd or qed (default raw).</summary>
    public string Format { get; init; } = "raw";
    public string Vdev { get; init; } = "";
    public bool ReadWrite { get; init; } = true;
    public bool IsCdrom { get; init; }
    /// <summary>Backend domain name (default: Dom0).</summary>
    public string? Backend { get; init; }
    /// <summary>phy, tap or qdisk; null lets the toolstack choose ("unknown" in libxl).</summary>
    public string? BackendType { get; init; }
    public string? Script { get; init; }
    public bool DirectIoSafe { get; init; }
    /// <summary>True/false when discard or no-discard was given; null for the default.</summary>
    public bool? Discard { get; init; }
    public bool Colo { get; init; }

    private static readonly string[] Formats = ["raw", "qcow", "qcow2", "vhd", "qed"];
    private static readonly string[] BackendTypes = ["phy", "tap", "qdisk"];
    private static readonly string[] FormatPrefixes = ["raw", "qcow", "qcow2", "vhd", "qed"];
    private static readonly string[] ScriptPrefixes = ["iscsi", "nbd", "enbd", "drbd"];
    private static readonly string[] IgnoredPrefixes = ["tapdisk", "tap2", "tap", "aio", "ioemu", "file", "phy"];
    private static readonly string[] Positional = ["target", "format", "vdev", "access"];

    /// <summary>vdev names of xen-vbd-interface(7): xvd*, hd*, sd*, and the d&lt;disk&gt;p&lt;partition&gt; form.</summary>
    [GeneratedRegex("^((xvd|sd)[a-z]+|hd[a-t])[0-9]*$|^d[0-9]+(p[0-9]+)?$")]
    private static partial Regex VdevPattern();

    /// <summary>
    /// Parse a DISKSPEC: comma-separated <c>key=value</c> pairs, flags and positional parameters
    /// (target, format, vdev, access); <c>target=</c> takes the rest of the string; the deprecated
    /// <c>[format:]target,vdev[:devtype],access</c> syntax and prefixes are accepted as xl does.
    /// </summary>
    public static DiskSpec Parse(string spec)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        bool cdrom = false, deprecatedSyntax = false;
        int pos = 0, next = 0;
        void Set(string key, string value, string part)
        {
            if (values.ContainsKey(key)) throw Error(spec, part, $"{key} specified twice");
            values[key] = value;
        }
        while (pos <= spec.Length)
        {
            while (pos < spec.Length && (spec[pos] == ' ' || spec[pos] == '\t')) pos++;
            if (spec.AsSpan(pos).StartsWith("target="))
            {
                // target= consumes the rest, trailing whitespace included; it may follow an empty positional target.
                string t = spec[(pos + 7)..];
                if (values.TryGetValue("target", out var earlier) && earlier.Length > 0) throw Error(spec, "target=", "target specified twice");
                values["target"] = t;
                break;
            }
            int comma = spec.IndexOf(',', pos);
            string part = comma < 0 ? spec[pos..] : spec[pos..comma];
            pos = comma < 0 ? spec.Length + 1 : comma + 1;
            int eq = part.IndexOf('=');
            if (eq > 0)
            {
                string key = part[..eq], value = part[(eq + 1)..];
                switch (key)
                {
                    case "format" or "vdev" or "access" or "devtype" or "backend" or "backendtype" or "script"
                        or "colo-host" or "colo-port" or "colo-export" or "active-disk" or "hidden-disk" or "specification":
                        Set(key, value, part);
                        break;
                    default:
                        throw Error(spec, part, $"unknown keyword `{key}'");
                }
                continue;
            }
            switch (part)
            {
                case "cdrom": cdrom = true; continue;
                case "direct-io-safe" or "discard" or "no-discard" or "colo":
                    if (!flags.Add(part)) throw Error(spec, part, $"{part} specified twice");
                    continue;
            }
            if (comma < 0 && part.Length == 0 && next > 0) break; // trailing comma
            // A positional parameter.
            string p = part;
            if (next == 0)
            {
                // Deprecated prefixes on the target: format:, script:, or ignored ones, possibly stacked (tap:aio:...).
                while (true)
                {
                    int colon = p.IndexOf(':');
                    if (colon <= 0) break;
                    string prefix = p[..colon];
                    if (FormatPrefixes.Contains(prefix)) { Set("format", prefix, part); p = p[(colon + 1)..]; }
                    else if (ScriptPrefixes.Contains(prefix)) { Set("script", "block-" + prefix, part); p = p[(colon + 1)..]; }
                    else if (IgnoredPrefixes.Contains(prefix)) p = p[(colon + 1)..];
                    else break;
                    // A prefix means xend's syntax, [format:]target,vdev[:devtype],access: no positional format.
                    deprecatedSyntax = true;
                }
            }
            // vdev:cdrom (deprecated) is always the vdev.
            if (p.EndsWith(":cdrom", StringComparison.Ordinal) && next <= 2)
            {
                Set("vdev", p[..^6], part);
                cdrom = true;
                next = 3;
                continue;
            }
            while (next < Positional.Length && (values.ContainsKey(Positional[next]) || (deprecatedSyntax && next == 1))) next++;
            if (next >= Positional.Length) throw Error(spec, part, "too many positional parameters");
            Set(Positional[next], p.Trim(), part);
            next++;
        }

        if (values.TryGetValue("devtype", out var devtype))
        {
            if (devtype != "cdrom") throw Error(spec, $"devtype={devtype}", $"unknown value for devtype: {devtype}");
            cdrom = true;
        }
        string format = values.GetValueOrDefault("format") is { Length: > 0 } f ? f : "raw";
        if (!Formats.Contains(format)) throw Error(spec, format, $"unknown value for format: {format}");
        string vdev = values.GetValueOrDefault("vdev") ?? "";
        if (vdev.Length == 0) throw Error(spec, spec, "no vdev specified");
        if (!VdevPattern().IsMatch(vdev)) throw Error(spec, vdev, $"invalid vdev `{vdev}' (see xen-vbd-interface(7))");
        bool rw = !cdrom;
        if (values.GetValueOrDefault("access") is { Length: > 0 } access)
        {
            rw = access switch
            {
                "rw" or "w" => true,
                "ro" or "r" => false,
                _ => throw Error(spec, access, $"unknown value for access: {access}"),
            };
        }
        string? backendType = values.GetValueOrDefault("backendtype") is { Length: > 0 } bt ? bt : null;
        if (backendType != null && !BackendTypes.Contains(backendType))
            throw Error(spec, backendType, $"unknown value for backendtype: {backendType}");
        string? target = values.GetValueOrDefault("target") is { Length: > 0 } t2 ? t2 : null;
        string? script = values.GetValueOrDefault("script") is { Length: > 0 } s ? s : null;
        if (target == null && !cdrom) throw Error(spec, spec, "no target specified");
        // "When this is used as a path, /dev will be prepended if the path doesn't start with a '/'."
        if (target != null && script == null && !target.StartsWith('/')) target = "/dev/" + target;
        bool? discard = flags.Contains("discard") ? true : flags.Contains("no-discard") ? false : null;
        if (flags.Contains("discard") && flags.Contains("no-discard")) throw Error(spec, "no-discard", "discard and no-discard both given");
        return new DiskSpec
        {
            Target = target, Format = format, Vdev = vdev, ReadWrite = rw, IsCdrom = cdrom,
            Backend = values.GetValueOrDefault("backend") is { Length: > 0 } b ? b : null, BackendType = backendType,
            Script = script, DirectIoSafe = flags.Contains("direct-io-safe"), Discard = discard, Colo = flags.Contains("colo"),
        };
    }

    /// <summary>The disk as libxl's JSON for libxl_device_disk (what `xl -N` prints).</summary>
    public JObject ToLibxlJson() => new()
    {
        ["backend_domid"] = 0,
        ["backend_domname"] = Backend,
        ["pdev_path"] = Target,
        ["vdev"] = Vdev,
        ["backend"] = BackendType ?? "unknown",
        ["format"] = Format,
        ["script"] = Script,
        ["removable"] = IsCdrom ? 1 : 0,
        ["readwrite"] = ReadWrite ? 1 : 0,
        ["is_cdrom"] = IsCdrom ? 1 : 0,
        ["direct_io_safe"] = DirectIoSafe,
        ["discard_enable"] = Discard switch { true => "True", false => "False", null => "default" },
    };

    private static DiskSpecException Error(string spec, string part, string what) =>
        new($"config parsing error in disk specification: {what} at `{part}' in `{spec}'");
}
