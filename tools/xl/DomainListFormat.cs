using System.Globalization;
using System.Numerics;
using System.Text;
using Paravirt.Control.Messages;

namespace Paravirt.Xl;

/// <summary>
/// The table `xl list` prints, column for column as Xen's list_domains (tools/xl/xl_info.c): a header with tabs
/// before State and Time(s), then per domain the name left-aligned in 40, domid, memory (MiB) and VCPUs
/// right-aligned in 5, five spaces, the six state letters, two spaces, and the CPU time in seconds as %8.1f.
/// </summary>
public static class DomainListFormat
{
    public const string Header = "Name                                        ID   Mem VCPUs\tState\tTime(s)";

    /// <summary>The state flags in xl's order: running, blocked, paused, shutdown, crashed, dying.</summary>
    private const int StateLetters = 6;

    public static string Row(DomainSummary domain)
    {
        var row = new StringBuilder(80);
        row.Append(domain.Name.PadRight(40));
        row.Append(' ').Append(domain.DomId.ToString(CultureInfo.InvariantCulture).PadLeft(5));
        row.Append(' ').Append(domain.MemoryMiB.ToString(CultureInfo.InvariantCulture).PadLeft(5));
        row.Append(' ').Append(domain.Vcpus.ToString(CultureInfo.InvariantCulture).PadLeft(5));
        row.Append("     ").Append(StateColumn(domain.State));
        row.Append("  ").Append(CpuTime(domain.CpuTimeSeconds).PadLeft(8));
        return row.ToString();
    }

    /// <summary>The extra header of xl list -v (UUID, shutdown reason code, security label).</summary>
    public const string VerboseHeader = "   UUID                            Reason-Code\tSecurity Label";

    public static string Table(IEnumerable<DomainSummary> domains, bool verbose = false)
    {
        var table = new StringBuilder();
        table.Append(Header);
        if (verbose) table.Append(VerboseHeader);
        table.Append('\n');
        foreach (var domain in domains)
        {
            table.Append(Row(domain));
            if (verbose)
            {
                // " <uuid>", then " %8x" of the shutdown reason or " %8s" of '-' while it runs, then " %16s" of the
                // security label: no XSM here, so "-".
                string reason = "-";
                if (domain.State.Length >= 5 && domain.State[3] == 's')
                {
                    int code = "-rscwS".IndexOf(domain.State[4], StringComparison.Ordinal);
                    reason = code < 0 ? "?" : code.ToString("x", CultureInfo.InvariantCulture);
                }
                table.Append(' ').Append(domain.Uuid.ToString()).Append(' ').Append(reason.PadLeft(8)).Append(' ').Append("-".PadLeft(16));
            }
            table.Append('\n');
        }
        return table.ToString();
    }

    /// <summary>Exactly six printable letters whatever the daemon sent: missing flags show as '-'.</summary>
    private static string StateColumn(string state)
    {
        Span<char> letters = stackalloc char[StateLetters];
        for (int i = 0; i < StateLetters; i++)
            letters[i] = i < state.Length && state[i] is > ' ' and < (char)127 ? state[i] : '-';
        return new string(letters);
    }

    /// <summary>
    /// %8.1f of xl's <c>(float)cpu_time / 1e9</c>: the nanosecond count passes through single precision first,
    /// so round-trip the same way to print the same digits.
    /// </summary>
    private static string CpuTime(double seconds)
    {
        if (!double.IsFinite(seconds) || seconds < 0)
            seconds = 0;
        double value = (float)(seconds * 1e9) / 1e9;
        return OneDecimal(value);
    }

    /// <summary>
    /// A non-negative double with one decimal, rounded as glibc's printf does: from the exact binary value, ties to
    /// even. (.NET's "F1" rounds ties away from zero, so 0.25 would print 0.3 where xl prints 0.2.)
    /// </summary>
    internal static string OneDecimal(double value)
    {
        long bits = BitConverter.DoubleToInt64Bits(value);
        int exponent = (int)((bits >> 52) & 0x7FF);
        long fraction = bits & ((1L << 52) - 1);
        BigInteger mantissa = exponent == 0 ? fraction : fraction | (1L << 52);
        int power = exponent == 0 ? -1074 : exponent - 1075;

        // value = mantissa * 2^power; tenths = round_half_even(value * 10).
        BigInteger scaled = mantissa * 10;
        BigInteger tenths;
        if (power >= 0)
        {
            tenths = scaled << power;
        }
        else
        {
            var denominator = BigInteger.One << -power;
            tenths = BigInteger.DivRem(scaled, denominator, out var remainder);
            int half = (remainder * 2).CompareTo(denominator);
            if (half > 0 || (half == 0 && !tenths.IsEven))
                tenths += 1;
        }
        var whole = BigInteger.DivRem(tenths, 10, out var tenth);
        return string.Create(CultureInfo.InvariantCulture, $"{whole}.{tenth}");
    }
}
