using System.Globalization;
using System.Text;

namespace Paravirt.XlConfig;

/// <summary>A place in a config source, 1-based, for messages.</summary>
public readonly record struct SourcePosition(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}

/// <summary>A bad config: <see cref="Exception.Message"/> is one line, <c>file:line:column: what is wrong</c>.</summary>
public sealed class XlConfigException : Exception
{
    public XlConfigException(SourcePosition at, string what) : base($"{at}: {what}") => Position = at;
    public SourcePosition Position { get; }
}

/// <summary>
/// A value of xl.cfg: an atom (libxlu keeps numbers and strings alike as strings; <see cref="IsNumber"/> says
/// how it was written) or a list of values.
/// </summary>
public sealed class XlValue
{
    private XlValue(SourcePosition at, string? atom, bool isNumber, List<XlValue>? items)
    {
        Position = at;
        Atom = atom;
        IsNumber = isNumber;
        Items = items;
    }

    public SourcePosition Position { get; }
    public string? Atom { get; }
    public bool IsNumber { get; }
    public List<XlValue>? Items { get; }
    public bool IsList => Items != null;

    public static XlValue String(SourcePosition at, string s) => new(at, s, false, null);
    public static XlValue Number(SourcePosition at, string digits) => new(at, digits, true, null);
    public static XlValue List(SourcePosition at, List<XlValue> items) => new(at, null, false, items);

    /// <summary>The value in xl.cfg syntax; parsing it again gives the same value.</summary>
    public override string ToString() => IsList
        ? "[" + string.Join(", ", Items!) + "]"
        : IsNumber ? Atom! : "\"" + Escape(Atom!) + "\"";

    /// <summary>
    /// What the value is, for messages, on one line: <c>string "x"</c>, <c>number 3</c> (a word that libxlu lexes
    /// as a number, e.g. <c>12ab</c>, is shown as written) or <c>a list</c>.
    /// </summary>
    public string Describe() => IsList ? "a list" : IsNumber ? $"number {Atom}" : $"string {Quote(Atom!)}";

    /// <summary>
    /// A string for a one-line message: quoted, escaped, long ones cut. Control and line-separating characters,
    /// which have no xl escape, are shown as <c>\xHH</c> or <c>\uHHHH</c>.
    /// </summary>
    internal static string Quote(string s) =>
        "\"" + OneLine(Escape(s.Length > 60 ? s[..60] : s)) + (s.Length > 60 ? "...\"" : "\"");

    /// <summary>Any text made safe for a one-line message: control and line-separating characters as <c>\xHH</c>/<c>\uHHHH</c>.</summary>
    internal static string OneLine(string s)
    {
        StringBuilder? sb = null;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            bool control = c < ' ' || c == (char)0x7f || c == (char)0x85;
            bool separator = c is '\u2028' or '\u2029' || char.IsSurrogate(c);
            if (!control && !separator) { sb?.Append(c); continue; }
            sb ??= new StringBuilder(s, 0, i, s.Length + 8);
            sb.Append(control ? "\\x" : "\\u").Append(((int)c).ToString(control ? "x2" : "x4", CultureInfo.InvariantCulture));
        }
        return sb?.ToString() ?? s;
    }

    /// <summary>Backslash escapes that libxlu decodes (see <see cref="XlConfigLexer"/>), for the characters that need one.</summary>
    internal static string Escape(string s)
    {
        StringBuilder? sb = null;
        for (int i = 0; i < s.Length; i++)
        {
            string? e = s[i] switch
            {
                '\\' => "\\\\", '"' => "\\\"", '\n' => "\\n", '\r' => "\\r", '\t' => "\\t",
                '\a' => "\\a", '\b' => "\\b", '\f' => "\\f", '\v' => "\\v",
                _ => null,
            };
            if (e == null) { sb?.Append(s[i]); continue; }
            sb ??= new StringBuilder(s, 0, i, s.Length + 8);
            sb.Append(e);
        }
        return sb?.ToString() ?? s;
    }
}

/// <summary>
/// One <c>key = value</c> or <c>key += value</c> as finally in force. <see cref="IsAppend"/> says the last statement
/// for the key was <c>+=</c>: libxlu refuses to read such a setting as a number ("can't use += with numbers").
/// </summary>
public sealed record XlSetting(string Key, SourcePosition KeyPosition, XlValue Value)
{
    public bool IsAppend { get; init; }
}

/// <summary>
/// A parsed xl.cfg: the settings in the order first seen. As in libxlu (which looks a key up newest-first), a later
/// assignment replaces an earlier one.
/// </summary>
public sealed class XlConfigFile
{
    private readonly List<string> _order = [];
    private readonly Dictionary<string, XlSetting> _settings = new(StringComparer.Ordinal);

    public XlConfigFile(string source) => Source = source;

    /// <summary>The file name used in messages.</summary>
    public string Source { get; }
    public IEnumerable<XlSetting> Settings => _order.Select(k => _settings[k]);
    public int Count => _order.Count;
    public XlSetting? this[string key] => _settings.GetValueOrDefault(key);
    public bool Contains(string key) => _settings.ContainsKey(key);

    /// <summary><c>key = value</c>.</summary>
    public void Set(string key, SourcePosition at, XlValue value)
    {
        if (!_settings.ContainsKey(key)) _order.Add(key);
        _settings[key] = new XlSetting(key, at, value);
    }

    /// <summary>
    /// <c>key += value</c>, as libxlu's xlu__cfg_concat_vals: on an unset key it stores the value; otherwise strings
    /// are concatenated (numbers are strings to libxlu, so <c>1</c> += <c>2</c> is the string <c>"12"</c>) and lists
    /// are joined, the old items first. The merged value takes the position of the appended one, as in libxlu.
    /// Adding a list to a string or a string to a list is an error at the appended value.
    /// </summary>
    public void Append(string key, SourcePosition at, XlValue value)
    {
        if (!_settings.TryGetValue(key, out var old))
        {
            _order.Add(key);
            _settings[key] = new XlSetting(key, at, value) { IsAppend = true };
            return;
        }
        XlValue merged;
        if (!old.Value.IsList && !value.IsList)
            merged = XlValue.String(value.Position, old.Value.Atom + value.Atom);
        else if (old.Value.IsList && value.IsList)
            merged = XlValue.List(value.Position, [.. old.Value.Items!, .. value.Items!]);
        else
            throw new XlConfigException(value.Position,
                $"cannot add {value.Describe()} to {old.Value.Describe()} of `{key}' (+= joins a string to a string or a list to a list)");
        _settings[key] = new XlSetting(key, at, merged) { IsAppend = true };
    }

    /// <summary>A copy to apply statements to, so a failed override leaves the original untouched.</summary>
    internal XlConfigFile Clone()
    {
        var copy = new XlConfigFile(Source);
        copy.CopyFrom(this);
        return copy;
    }

    internal void CopyFrom(XlConfigFile other)
    {
        _order.Clear();
        _order.AddRange(other._order);
        _settings.Clear();
        foreach (var (k, v) in other._settings) _settings[k] = v;
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var s in Settings) sb.Append(CultureInfo.InvariantCulture, $"{s.Key} = {s.Value}\n");
        return sb.ToString();
    }
}
