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

    public override string ToString() => IsList
        ? "[" + string.Join(", ", Items!) + "]"
        : IsNumber ? Atom! : "\"" + Atom!.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    /// <summary>What the value is, for messages: <c>string "x"</c>, <c>number 3</c>, <c>a list</c>.</summary>
    public string Describe() => IsList ? "a list" : IsNumber ? $"number {Atom}" : $"string \"{Atom}\"";
}

/// <summary>One <c>key = value</c> (or <c>key += value</c>) as finally in force.</summary>
public sealed record XlSetting(string Key, SourcePosition KeyPosition, XlValue Value);

/// <summary>A parsed xl.cfg: the settings in the order first seen; a later assignment replaces an earlier one.</summary>
public sealed class XlConfigFile
{
    private readonly List<string> _order = [];
    private readonly Dictionary<string, XlSetting> _settings = new(StringComparer.Ordinal);

    public XlConfigFile(string source) => Source = source;

    public string Source { get; }
    public IEnumerable<XlSetting> Settings => _order.Select(k => _settings[k]);
    public XlSetting? this[string key] => _settings.GetValueOrDefault(key);
    public bool Contains(string key) => _settings.ContainsKey(key);

    /// <summary><c>key = value</c>.</summary>
    public void Set(string key, SourcePosition at, XlValue value)
    {
        if (!_settings.ContainsKey(key)) _order.Add(key);
        _settings[key] = new XlSetting(key, at, value);
    }

    /// <summary>
    /// <c>key += value</c>, as libxlu: strings are concatenated, lists appended; on an unset key it is a plain
    /// assignment; mixing a string and a list is an error.
    /// </summary>
    public void Append(string key, SourcePosition at, XlValue value)
    {
        if (!_settings.TryGetValue(key, out var old)) { Set(key, at, value); return; }
        XlValue merged;
        if (!old.Value.IsList && !value.IsList)
            merged = XlValue.String(old.Value.Position, old.Value.Atom + value.Atom);
        else if (old.Value.IsList && value.IsList)
            merged = XlValue.List(old.Value.Position, [.. old.Value.Items!, .. value.Items!]);
        else
            throw new XlConfigException(at, $"cannot append {value.Describe()} to {old.Value.Describe()} of `{key}'");
        _settings[key] = old with { Value = merged };
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var s in Settings) sb.Append(CultureInfo.InvariantCulture, $"{s.Key} = {s.Value}\n");
        return sb.ToString();
    }
}
