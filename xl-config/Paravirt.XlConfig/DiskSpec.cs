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
    /// <summary>xen or virtio (the protocol the guest sees); null: xen.</summary>
    public string? Specification { get; init; }
    /// <summary>trusted / untrusted (advice to the front-end); null: the default (trusted).</summary>
    public bool? Trusted { get; init; }
    /// <summary>grant_usage=1/0 (virtio only); null: the default.</summary>
    public bool? GrantUsage { get; init; }

    private static readonly string[] Formats = ["raw", "qcow", "qcow2", "vhd", "qed"];
    private static readonly string[] BackendTypes = ["phy", "tap", "qdisk", "standalone"];
    private static readonly string[] Specifications = ["xen", "virtio"];
    /// <summary>Parameters whose values are enumerations: giving the same value twice is fine (libxl's DSET).</summary>
    private static readonly string[] EnumParameters = ["format", "backendtype", "specification"];
    /// <summary>xl's deprecated format prefixes (the man page names raw:, qcow2: and vhd:; xl also takes qcow:).</summary>
    private static readonly string[] FormatPrefixes = ["raw", "qcow", "qcow2", "vhd"];
    private static readonly string[] ScriptPrefixes = ["iscsi", "nbd", "enbd", "drbd"];
    private static readonly string[] IgnoredPrefixes = ["tapdisk", "tap2", "tap", "aio", "ioemu", "file", "phy"];
    private static readonly string[] Positional = ["target", "format", "vdev", "access"];

    /// <summary>vdev names of xen-vbd-interface(7): xvd*, hd*, sd*, and the d&lt;disk&gt;p&lt;partition&gt; form.</summary>
    [GeneratedRegex("^((xvd|sd)[a-z]+|hd[a-t])[0-9]*$|^d[0-9]+(p[0-9]+)?$")]
    private static partial Regex VdevPattern();

    /// <summary>What xl takes for a deprecated prefix it does not know: <c>word:</c> then the end or a non-alphanumeric.</summary>
    [GeneratedRegex("^[a-z][a-z0-9]*:([^a-z0-9]|$)")]
    private static partial Regex UnknownPrefix();

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
            // "Each parameter may be specified at most once"; as xl, an empty value given earlier may be replaced, and
            // an enumeration may be given its same value again.
            if (values.TryGetValue(key, out var earlier) && earlier.Length > 0
                && !(EnumParameters.Contains(key) && (earlier == value || (key == "format" && value.Length == 0 && earlier == "raw"))))
                throw Error(spec, part, $"{key} specified twice");
            values[key] = value.Length == 0 && earlier is { Length: > 0 } ? earlier : value;
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
                        or "colo-host" or "colo-port" or "colo-export" or "active-disk" or "hidden-disk" or "specification"
                        or "grant_usage":
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
                case "direct-io-safe" or "discard" or "no-discard" or "colo" or "no-colo" or "trusted" or "untrusted":
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
                    else if (UnknownPrefix().IsMatch(p)) throw Error(spec, part, $"unknown deprecated disk prefix `{prefix}:'");
                    else break;
                    // A prefix means xend's syntax, [format:]target,vdev[:devtype],access: no positional format.
                    deprecatedSyntax = true;
                }
            }
            // vdev:cdrom and vdev:disk (deprecated) are always the vdev.
            if ((p.EndsWith(":cdrom", StringComparison.Ordinal) || p.EndsWith(":disk", StringComparison.Ordinal)) && next is 1 or 2)
            {
                int colon = p.LastIndexOf(':');
                Set("vdev", p[..colon], part);
                cdrom = p.EndsWith(":cdrom", StringComparison.Ordinal);
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
            if (devtype is not ("cdrom" or "disk")) throw Error(spec, $"devtype={devtype}", $"unknown value for devtype: {devtype}");
            cdrom = devtype == "cdrom";
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
        if (flags.Contains("colo") && flags.Contains("no-colo")) throw Error(spec, "no-colo", "colo and no-colo both given");
        if (flags.Contains("trusted") && flags.Contains("untrusted")) throw Error(spec, "untrusted", "trusted and untrusted both given");
        string? specification = values.GetValueOrDefault("specification") is { Length: > 0 } sp ? sp : null;
        if (specification != null && !Specifications.Contains(specification))
            throw Error(spec, specification, $"unknown value for specification: {specification}");
        bool? grantUsage = values.GetValueOrDefault("grant_usage") switch
        {
            null => null,
            "1" => true,
            "0" => false,
            var g => throw Error(spec, $"grant_usage={g}", $"unknown value for grant_usage: {g}"),
        };
        if (values.GetValueOrDefault("colo-port") is { } port && (!int.TryParse(port, out int portNumber) || portNumber <= 0 || portNumber > 65535))
            throw Error(spec, $"colo-port={port}", $"unknown value for colo_port: {port}");
        return new DiskSpec
        {
            Target = target, Format = format, Vdev = vdev, ReadWrite = rw, IsCdrom = cdrom,
            Backend = values.GetValueOrDefault("backend") is { Length: > 0 } b ? b : null, BackendType = backendType,
            Script = script, DirectIoSafe = flags.Contains("direct-io-safe"), Discard = discard, Colo = flags.Contains("colo"),
            Specification = specification, Trusted = flags.Contains("trusted") ? true : flags.Contains("untrusted") ? false : null,
            GrantUsage = grantUsage,
        };
    }

    /// <summary>The disk as libxl's JSON for libxl_device_disk (what `xl -N` prints).</summary>
    public JObject ToLibxlJson()
    {
        var json = LibxlBaseJson();
        // libxl_device_disk's later fields in IDL order, present when the spec set them (enum/defbool defaults are omitted).
        if (Specification is not null) json["specification"] = Specification;
        if (Trusted is bool trusted) json["trusted"] = trusted ? "True" : "False";
        if (GrantUsage is bool grants) json["grant_usage"] = grants ? "True" : "False";
        return json;
    }

    private JObject LibxlBaseJson() => new()
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
