using System.Globalization;
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

    /// <summary>
    /// Parse a VIFSPEC as `xl create` reads it (tools/xl/xl_parse.c parse_nic_config; the grammar and keys of
    /// xl-network-configuration(5)). Items are split at commas with empty ones skipped (strtok), blanks around an item
    /// dropped; an item is <c>key=value</c> with the key spelt exactly (lower case, no blank before '='). What xl
    /// only complains about and skips is added to <paramref name="warnings"/> in xl's words and the spec still
    /// parses: an unknown key or a bare flag, an invalid <c>type</c> or <c>mac</c> (the MAC is then generated),
    /// <c>accel</c>, the deprecated <c>netdev</c>, COLO keys (no COLO here). A key given twice: the last one wins, as in
    /// xl. Values are free text except <c>type</c>, <c>mac</c>, <c>rate</c>, <c>devid</c> and <c>mtu</c>; what makes xl
    /// exit (a bad rate, a devid or mtu that is not a number) throws <see cref="VifSpecException"/>.
    /// </summary>
    public static VifSpec Parse(string spec, ICollection<string>? warnings = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var v = new VifSpec();
        foreach (string raw in spec.Split(','))
        {
            string part = raw.Trim(' ', '\t');
            if (part.Length == 0) continue;
            int eq = part.IndexOf('=');
            string key = eq < 0 ? "" : part[..eq], value = eq < 0 ? "" : part[(eq + 1)..];
            if (value.Any(ch => ch < 0x20 || ch == 0x7f))
                throw Error(spec, part, $"control character in the value of {key}");
            switch (key)
            {
                case "type":
                    if (value is "vif" or "ioemu") v = v with { Type = value };
                    else warnings?.Add("Invalid parameter `type'.");
                    break;
                case "mac":
                    if (ParseMac(value) is { } mac) v = v with { Mac = mac };
                    else warnings?.Add("Invalid parameter `mac'.");
                    break;
                case "bridge": v = v with { Bridge = value }; break;
                case "netdev":
                    warnings?.Add("the netdev parameter is deprecated, please use gatewaydev instead");
                    v = v with { GatewayDev = value };
                    break;
                case "gatewaydev": v = v with { GatewayDev = value }; break;
                case "ip": v = v with { Ip = value }; break;
                case "script": v = v with { Script = value }; break;
                case "backend": v = v with { Backend = value }; break;
                case "vifname": v = v with { VifName = value }; break;
                case "model": v = v with { Model = value }; break;
                case "rate":
                    try
                    {
                        var (bytes, usecs) = ParseRate(value);
                        v = v with { Rate = value, RateBytesPerInterval = bytes, RateIntervalUsecs = usecs };
                    }
                    catch (VifSpecException e) { throw Error(spec, part, e.Message); }
                    break;
                case "accel":
                    warnings?.Add("the accel parameter for vifs is currently not supported");
                    v = v with { Accel = value };
                    break;
                case "devid": v = v with { Devid = (int)ParseUlong(spec, part, value, int.MaxValue) }; break;
                case "mtu": v = v with { Mtu = (int)ParseUlong(spec, part, value, int.MaxValue) }; break;
                case "forwarddev":
                case var colo when colo.StartsWith("colo_", StringComparison.Ordinal):
                    warnings?.Add($"`{key}' is a COLO replication parameter; COLO is not supported, ignored");
                    break;
                default:
                    warnings?.Add($"unrecognized argument `{part}'");
                    break;
            }
        }
        return v;
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

    /// <summary>
    /// A MAC as xl reads one: six hexadecimal numbers of at most 255, each followed by one separator character of any
    /// kind (so <c>00-16-3e-74-34-32</c> reads as well as the documented colons); text after the sixth is ignored.
    /// Returned lower case with two digits per byte; null when it is not six such numbers.
    /// </summary>
    public static string? ParseMac(string text)
    {
        Span<byte> bytes = stackalloc byte[6];
        int pos = 0;
        for (int i = 0; i < 6; i++)
        {
            if (pos > text.Length) return null;
            int start = pos, value = 0;
            while (pos < text.Length && char.IsAsciiHexDigit(text[pos]) && value <= 255)
                value = value * 16 + HexDigit(text[pos++]);
            if (pos == start || value > 255) return null;
            bytes[i] = (byte)value;
            pos++; // the separator, whatever it is (xl: oparg = endptr + 1)
        }
        return string.Join(':', bytes.ToArray().Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
    }

    private static int HexDigit(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    /// <summary>
    /// xl's parse_ulong (strtoul base 10): blanks, then decimal digits, then anything (ignored, as strtoul stops there).
    /// No digits is fatal in xl ("failed to convert"), and so is a value beyond what libxl's field holds.
    /// </summary>
    private static long ParseUlong(string spec, string part, string value, long max)
    {
        int i = 0;
        while (i < value.Length && value[i] is ' ' or '\t') i++;
        if (i < value.Length && value[i] == '+') i++;
        int start = i;
        long n = 0;
        while (i < value.Length && char.IsAsciiDigit(value[i]))
        {
            n = n * 10 + (value[i++] - '0');
            if (n > max) throw Error(spec, part, $"{value} is out of range (at most {max})");
        }
        if (i == start) throw Error(spec, part, $"failed to convert \"{value}\" to number");
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
