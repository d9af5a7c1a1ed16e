namespace Paravirt.XlConfig;

/// <summary>
/// How xl turns an atom into a number. libxlu keeps every atom as text and its xlu_cfg_get_long calls
/// <c>strtol(text, &amp;end, 0)</c>, accepting the value only if <c>end</c> is past the first character and at the
/// end of the text. Base 0 means: leading white space, an optional sign, then <c>0x</c>/<c>0X</c> + hex digits,
/// or <c>0</c> + octal digits, or decimal. So <c>"64"</c> (quoted) and <c>" 64"</c> are 64, <c>010</c> is 8,
/// <c>0x</c>, <c>08</c>, <c>12ab</c> and <c>"64 "</c> are not numbers, and values beyond a 64-bit long are out
/// of range (ERANGE).
/// </summary>
internal static class XlNumber
{
    public enum Result { Ok, NotANumber, OutOfRange }

    public static Result TryParse(string s, out long value)
    {
        value = 0;
        int i = 0;
        while (i < s.Length && s[i] is ' ' or '\t' or '\n' or '\v' or '\f' or '\r') i++;
        bool negative = false;
        if (i < s.Length && s[i] is '+' or '-') negative = s[i++] == '-';

        int radix = 10;
        if (i < s.Length && s[i] == '0')
        {
            // "0x" counts as a prefix only when a hex digit follows; otherwise strtol reads just the "0".
            if (i + 2 < s.Length && s[i + 1] is 'x' or 'X' && char.IsAsciiHexDigit(s[i + 2])) { radix = 16; i += 2; }
            else radix = 8;
        }

        int digitsStart = i;
        ulong magnitude = 0;
        bool overflow = false;
        for (; i < s.Length; i++)
        {
            int d = Digit(s[i]);
            if (d < 0 || d >= radix) break;
            if (!overflow)
            {
                ulong next = magnitude * (ulong)radix + (ulong)d;
                if (magnitude > (ulong.MaxValue - (ulong)d) / (ulong)radix) overflow = true;
                else magnitude = next;
            }
        }
        if (i == digitsStart || i != s.Length) return Result.NotANumber;
        ulong limit = negative ? 1UL << 63 : long.MaxValue;
        if (overflow || magnitude > limit) return Result.OutOfRange;
        value = negative ? (long)(0 - magnitude) : (long)magnitude;
        return Result.Ok;
    }

    private static int Digit(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
