using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Newtonsoft.Json.Linq;

namespace Paravirt.XlConfig;

/// <summary>A bad VIFSPEC: one line naming the offending key/value and the whole spec.</summary>
public sealed class VifSpecException(string message) : Exception(message);

/// <summary>
/// One network interface as xl-network-configuration(5) describes it (libxl_device_nic's fields). Parse with
/// <see cref="Parse"/>. Every key is optional: <c>''</c> is a valid spec meaning "all defaults". A missing MAC is
/// not invented here; the toolstack calls <see cref="GenerateMac"/> when it creates the device.
/// </summary>
public sealed record VifSpec
{
    /// <summary>The guest-side MAC, lower case <c>xx:xx:xx:xx:xx:xx</c>; null: generated at create time.</summary>
    public string? Mac { get; init; }
    public string? Bridge { get; init; }
    /// <summary><c>vif</c> or <c>ioemu</c> (HVM only in Xen; kept for `xl -N`); null: libxl's default.</summary>
    public string? Type { get; init; }
    /// <summary>The backend interface name (libxl's <c>ifname</c>); null: <c>vifDOMID.DEVID</c>.</summary>
    public string? VifName { get; init; }
    public string? Script { get; init; }
    /// <summary>One or more space-separated addresses handed to the hotplug script.</summary>
    public string? Ip { get; init; }
    /// <summary>Backend domain name or id (default: Dom0).</summary>
    public string? Backend { get; init; }
    /// <summary>Emulated NIC model (HVM only in Xen).</summary>
    public string? Model { get; init; }
    /// <summary>The <c>rate=</c> text as given, or null for unlimited.</summary>
    public string? Rate { get; init; }
    /// <summary>Credit per interval, libxl's rate_bytes_per_interval (0 when no rate).</summary>
    public ulong RateBytesPerInterval { get; init; }
    /// <summary>Replenishment interval, libxl's rate_interval_usecs (0 when no rate).</summary>
    public uint RateIntervalUsecs { get; init; }
    /// <summary><c>accel=</c>: accepted and ignored, as xl does (with a warning from the reader).</summary>
    public string? Accel { get; init; }
    /// <summary>Explicit device id; null lets the toolstack pick the lowest free one.</summary>
    public int? Devid { get; init; }
    /// <summary>Explicit MTU; null: 1500 or the bridge's.</summary>
    public int? Mtu { get; init; }
    /// <summary><c>gatewaydev=</c> (or its deprecated alias <c>netdev=</c>), used by vif-route.</summary>
    public string? GatewayDev { get; init; }

    /// <summary>xl's default when <c>@INTERVAL</c> is not given (libxlu_vif.c): 50 ms.</summary>
    public const uint DefaultRateIntervalUsecs = 50_000;

    /// <summary>Smallest MTU accepted (IPv4's minimum datagram, RFC 791); the largest is 65535.</summary>
    public const int MinMtu = 68;

    private static readonly string[] StringKeys = ["bridge", "vifname", "script", "ip", "backend", "model", "gatewaydev", "netdev", "accel"];

    /// <summary>
    /// Parse a VIFSPEC: comma-separated <c>key=value</c> pairs (xl splits with strtok, so empty items are skipped).
    /// Blanks around an item are dropped. Keys are xl's (tools/xl/xl_parse.c parse_nic_config); a key xl does not
    /// know is an error naming it (xl's "unrecognized argument"), where <c>xl create</c> would only print it and carry
    /// on; a key given twice is an error rather than xl's silent last-one-wins. xl's COLO keys are refused by name.
    /// </summary>
    public static VifSpec Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string raw in spec.Split(','))
        {
            string part = raw.Trim(' ', '\t');
            if (part.Length == 0) continue;
            int eq = part.IndexOf('=');
            if (eq <= 0) throw Error(spec, part, $"unrecognized argument `{part}' (expected key=value)");
            string key = part[..eq], value = part[(eq + 1)..].Trim(' ', '\t');
            switch (key)
            {
                case "mac" or "type" or "rate" or "devid" or "mtu" or "bridge" or "vifname" or "script" or "ip"
                    or "backend" or "model" or "gatewaydev" or "netdev" or "accel":
                    break;
                case "forwarddev":
                case var colo when colo.StartsWith("colo_", StringComparison.Ordinal):
                    throw Error(spec, part, $"`{key}' (COLO replication) is not supported");
                default:
                    throw Error(spec, part, $"unrecognized argument `{key}'");
            }
            string canonical = key == "netdev" ? "gatewaydev" : key;
            if (values.ContainsKey(canonical)) throw Error(spec, part, $"{canonical} specified twice");
            if (value.Length == 0) throw Error(spec, part, $"empty value for {key}");
            if (value.Any(ch => ch < 0x20 || ch == 0x7f)) throw Error(spec, part, $"control character in the value of {key}");
            values[canonical] = value;
        }

        string? Get(string key) => values.GetValueOrDefault(key);
        string? type = Get("type");
        if (type is not (null or "vif" or "ioemu")) throw Error(spec, $"type={type}", $"invalid type `{type}' (expected vif or ioemu)");
        string? mac = Get("mac") is { } m ? ParseMac(spec, m) : null;
        string? vifname = Get("vifname");
        // It becomes a Linux interface name: IFNAMSIZ (16) including the NUL, no '/' and no blanks.
        if (vifname != null && (vifname.Length > 15 || vifname.Any(ch => ch is '/' or ' ' or '\t' or ':')))
            throw Error(spec, $"vifname={vifname}", $"invalid vifname `{vifname}' (at most 15 characters, no '/', ':' or blanks)");
        string? ip = Get("ip");
        if (ip != null)
            foreach (string address in ip.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                if (!IsAddress(address)) throw Error(spec, $"ip={ip}", $"invalid IP address `{address}'");
        string? backend = Get("backend");
        if (backend != null && (backend.Length > 64 || backend.Any(ch => ch <= 0x20 || ch > 0x7e || ch == '/')))
            throw Error(spec, $"backend={backend}", $"invalid backend domain `{backend}'");
        int? devid = Get("devid") is { } d ? (int)Number(spec, "devid", d, 0, int.MaxValue) : null;
        int? mtu = Get("mtu") is { } u ? (int)Number(spec, "mtu", u, MinMtu, 65535) : null;
        ulong bytes = 0;
        uint usecs = 0;
        if (Get("rate") is { } rate)
        {
            try { (bytes, usecs) = ParseRate(rate); }
            catch (VifSpecException e) { throw Error(spec, $"rate={rate}", e.Message); }
        }
        return new VifSpec
        {
            Mac = mac, Bridge = Get("bridge"), Type = type, VifName = vifname, Script = Get("script"), Ip = ip,
            Backend = backend, Model = Get("model"), Rate = Get("rate"), RateBytesPerInterval = bytes,
            RateIntervalUsecs = usecs, Accel = Get("accel"), Devid = devid, Mtu = mtu, GatewayDev = Get("gatewaydev"),
        };
    }

    /// <summary>
    /// <c>RATE/s[@INTERVAL]</c> as libxlu_vif.c reads it: RATE is <c>[0-9]+[GMK]?[Bb]/s</c> (decimal multipliers;
    /// <c>b</c> is bits, divided by 8), 1 to 2^32-1 before the multiplier; INTERVAL is <c>[0-9]+[mu]?s?</c> where a
    /// bare number or <c>s</c> means seconds (despite the manual), at most 2^32-1 µs; default 50 ms. The credit is
    /// bytes-per-second × interval / 10^6. A leading zero (which strtoull would read as octal) is refused.
    /// Returns (rate_bytes_per_interval, rate_interval_usecs).
    /// </summary>
    public static (ulong BytesPerInterval, uint IntervalUsecs) ParseRate(string rate)
    {
        ArgumentNullException.ThrowIfNull(rate);
        int at = rate.IndexOf('@');
        string bytesPart = at < 0 ? rate : rate[..at];
        if (bytesPart.Length == 0) throw new VifSpecException("no rate specified");
        int i = Digits(bytesPart, out ulong perSecond, "rate");
        string unit = bytesPart[i..];
        ulong multiplier = unit.Length > 0 ? unit[0] switch { 'G' => 1_000_000_000UL, 'M' => 1_000_000UL, 'K' => 1_000UL, _ => 1UL } : 1;
        string rest = multiplier == 1 ? unit : unit[1..];
        if (rest is not ("B/s" or "b/s")) throw new VifSpecException($"invalid rate `{bytesPart}' (expected a number, an optional G, M or K, then B/s or b/s)");
        perSecond *= multiplier; // < 2^32 * 10^9: no overflow
        if (rest[0] == 'b') perSecond /= 8;

        ulong usecs = DefaultRateIntervalUsecs;
        if (at >= 0)
        {
            string interval = rate[(at + 1)..];
            if (interval.Length == 0) throw new VifSpecException($"invalid replenishment interval `{interval}'");
            int j = Digits(interval, out usecs, "replenishment interval");
            usecs *= interval[j..] switch
            {
                "" or "s" => 1_000_000UL,
                "m" or "ms" => 1_000UL,
                "u" or "us" => 1UL,
                _ => throw new VifSpecException($"invalid replenishment interval `{interval}' (expected a number then ms, us or s)"),
            };
            if (usecs > uint.MaxValue) throw new VifSpecException($"replenishment interval overflow in `{interval}'");
        }
        if (perSecond > ulong.MaxValue / usecs) throw new VifSpecException($"rate overflow in `{rate}'");
        return (perSecond * usecs / 1_000_000UL, (uint)usecs);
    }

    /// <summary>A decimal number of 1 to 2^32-1 at the start of <paramref name="s"/>; returns where it ends.</summary>
    private static int Digits(string s, out ulong value, string what)
    {
        int i = 0;
        value = 0;
        while (i < s.Length && char.IsAsciiDigit(s[i]))
        {
            value = value * 10 + (ulong)(s[i] - '0');
            if (value > uint.MaxValue) throw new VifSpecException($"{what} overflow in `{s}'");
            i++;
        }
        if (i == 0) throw new VifSpecException($"invalid {what} `{s}' (expected a decimal number first)");
        if (s[0] == '0') throw new VifSpecException(value == 0 ? $"{what} overflow in `{s}' (zero)" : $"invalid {what} `{s}' (leading zero)");
        return i;
    }

    /// <summary>Six groups of one or two hex digits separated by colons; returned lower case with two digits each.</summary>
    private static string ParseMac(string spec, string mac)
    {
        string[] groups = mac.Split(':');
        if (groups.Length != 6 || groups.Any(g => g.Length is < 1 or > 2 || !g.All(char.IsAsciiHexDigit)))
            throw Error(spec, $"mac={mac}", $"invalid mac `{mac}' (expected six hex bytes separated by ':')");
        return string.Join(':', groups.Select(g => byte.Parse(g, NumberStyles.HexNumber, CultureInfo.InvariantCulture).ToString("x2", CultureInfo.InvariantCulture)));
    }

    private static bool IsAddress(string s)
    {
        int slash = s.IndexOf('/');
        string address = slash < 0 ? s : s[..slash];
        if (!IPAddress.TryParse(address, out var ip) || address.Contains('%')) return false;
        // IPAddress.TryParse accepts "1" or "1.2" as IPv4 shorthand; a vif address is written out in full.
        if (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && address.Count(ch => ch == '.') != 3) return false;
        if (slash < 0) return true;
        string prefix = s[(slash + 1)..];
        int max = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
        return prefix.Length is > 0 and <= 3 && prefix.All(char.IsAsciiDigit) && int.Parse(prefix, CultureInfo.InvariantCulture) <= max;
    }

    /// <summary>
    /// xl's parse_ulong (strtoul base 10), but the whole value must be decimal digits (xl reads "0x10" as 0 and
    /// "12ab" as 12), bounded.
    /// </summary>
    private static long Number(string spec, string key, string value, long min, long max)
    {
        if (value.Length > 18 || !value.All(char.IsAsciiDigit))
            throw Error(spec, $"{key}={value}", $"{key} must be a decimal number, got `{value}'");
        long n = long.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);
        if (n < min || n > max) throw Error(spec, $"{key}={value}", $"{key} must be between {min} and {max}, got {n}");
        return n;
    }

    /// <summary>
    /// A MAC in Xen's OUI, 00:16:3e, as libxl makes one for a vif without <c>mac=</c> (libxl_nic.c): three random
    /// bytes with the top bit of the first cleared, so the upper half of the range stays free for manual use.
    /// </summary>
    public static string GenerateMac()
    {
        Span<byte> r = stackalloc byte[3];
        RandomNumberGenerator.Fill(r);
        return FormattableString.Invariant($"00:16:3e:{r[0] & 0x7f:x2}:{r[1]:x2}:{r[2]:x2}");
    }

    /// <summary>This vif with a generated MAC if it has none (create time only).</summary>
    public VifSpec WithMac() => Mac != null ? this : this with { Mac = GenerateMac() };

    /// <summary>
    /// The nic as libxl's JSON for libxl_device_nic (what `xl -N` prints). As for disks, every field is written;
    /// a MAC not yet generated is libxl's all-zero default, devid -1 is libxl's "not chosen yet".
    /// </summary>
    public JObject ToLibxlJson() => new()
    {
        ["backend_domid"] = 0,
        ["backend_domname"] = Backend,
        ["devid"] = Devid ?? -1,
        ["mtu"] = Mtu ?? 0,
        ["model"] = Model,
        ["mac"] = Mac ?? "00:00:00:00:00:00",
        ["ip"] = Ip,
        ["bridge"] = Bridge,
        ["ifname"] = VifName,
        ["script"] = Script,
        ["nictype"] = Type switch { "vif" => "vif", "ioemu" => "vif_ioemu", _ => "unknown" },
        ["rate_bytes_per_interval"] = RateBytesPerInterval,
        ["rate_interval_usecs"] = RateIntervalUsecs,
        ["gatewaydev"] = GatewayDev,
    };

    private static VifSpecException Error(string spec, string part, string what) =>
        new($"config parsing error in vif specification: {what} at `{part}' in `{spec}'");
}
