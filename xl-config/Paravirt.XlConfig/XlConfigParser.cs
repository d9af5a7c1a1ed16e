using System.Globalization;
using System.Text;

namespace Paravirt.XlConfig;

/// <summary>
/// The xl.cfg(5) grammar as Xen's libxlu implements it (tools/libs/util/libxlu_cfg_l.l, libxlu_cfg_y.y):
/// <code>
///   file       := { statement }
///   statement  := [ KEY ( "=" | "+=" ) value ] ( NEWLINE | ";" | EOF )
///   value      := STRING | NUMBER | "[" { NEWLINE } [ value { NEWLINE } { "," { NEWLINE } value { NEWLINE } } [ "," { NEWLINE } ] ] "]"
///   KEY        := [a-zA-Z_][a-zA-Z0-9_.]*
///   NUMBER     := 0x[0-9a-fA-F]+ | [0-9]+
///   STRING     := '...' | "..."   with C escapes: \\ \" \' \a \b \f \n \r \t \v \xHH \ooo
///   comments   := "#" to the end of the line
/// </code>
/// Errors name the file, line and column (libxlu gives only the line).
/// </summary>
public static class XlConfigParser
{
    /// <summary>Largest config accepted (xl reads whole files; a megabyte is far beyond any real config).</summary>
    public const int MaxLength = 1 << 20;
    private const int MaxListDepth = 32;

    public static XlConfigFile Parse(string text, string fileName)
    {
        var file = new XlConfigFile(fileName);
        if (text.Length > MaxLength)
            throw new XlConfigException(new SourcePosition(fileName, 1, 1), $"config file too large ({text.Length} bytes, at most {MaxLength})");
        new Parser(text, fileName).ParseFile(file);
        return file;
    }

    /// <summary>Apply one <c>key=value</c> (or <c>key+=value</c>) from the xl command line, with the same grammar.</summary>
    public static void ApplyOverride(XlConfigFile file, string assignment)
    {
        const string source = "<command line>";
        if (assignment.Length > MaxLength)
            throw new XlConfigException(new SourcePosition(source, 1, 1), "override too long");
        // Convenience beyond libxlu: on the command line a bare word is a string (`name=web`), as people type it.
        int eq = assignment.IndexOf('=');
        if (eq > 0)
        {
            string value = assignment[(eq + 1)..].Trim();
            if (value.Length > 0 && value.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '_' or '-' or '.' or '/' or ':')
                && !char.IsAsciiDigit(value[0]))
                assignment = assignment[..(eq + 1)] + "\"" + value + "\"";
        }
        var p = new Parser(assignment, source);
        if (!p.ParseSingleStatement(file))
            throw new XlConfigException(new SourcePosition(source, 1, 1), $"`{assignment}' is not of the form key=value");
    }

    private sealed class Parser(string text, string file)
    {
        private int _pos, _line = 1, _col = 1;

        private SourcePosition Here => new(file, _line, _col);
        private bool AtEnd => _pos >= text.Length;
        private char Peek => text[_pos];

        public void ParseFile(XlConfigFile cfg)
        {
            while (true)
            {
                SkipBlanksAndComments();
                if (AtEnd) return;
                if (Peek == '\n' || Peek == ';') { Advance(); continue; }
                ParseAssignment(cfg);
                SkipBlanksAndComments();
                if (AtEnd) return;
                if (Peek == '\n' || Peek == ';') { Advance(); continue; }
                throw Error(Here, $"expected end of line after the value, found {Describe(Peek)}");
            }
        }

        public bool ParseSingleStatement(XlConfigFile cfg)
        {
            SkipBlanksAndComments();
            if (AtEnd || !IsKeyStart(Peek)) return false;
            ParseAssignment(cfg);
            SkipBlanksAndComments();
            while (!AtEnd && (Peek == ';' || Peek == '\n')) { Advance(); SkipBlanksAndComments(); }
            if (!AtEnd) throw Error(Here, $"unexpected {Describe(Peek)} after the value");
            return true;
        }

        private void ParseAssignment(XlConfigFile cfg)
        {
            var keyAt = Here;
            if (!IsKeyStart(Peek)) throw Error(keyAt, $"expected a setting name, found {Describe(Peek)}");
            int start = _pos;
            while (!AtEnd && IsKeyChar(Peek)) Advance();
            string key = text[start.._pos];
            SkipBlanksAndComments();
            bool append;
            if (!AtEnd && Peek == '=') { Advance(); append = false; }
            else if (!AtEnd && Peek == '+' && _pos + 1 < text.Length && text[_pos + 1] == '=') { Advance(); Advance(); append = true; }
            else throw Error(Here, AtEnd ? $"expected `=' after `{key}', found end of file" : $"expected `=' after `{key}', found {Describe(Peek)}");
            SkipBlanksAndComments();
            var value = ParseValue(0, allowNewlines: false);
            if (append) cfg.Append(key, keyAt, value);
            else cfg.Set(key, keyAt, value);
        }

        private XlValue ParseValue(int depth, bool allowNewlines)
        {
            if (allowNewlines) SkipBlanksCommentsAndNewlines(); else SkipBlanksAndComments();
            var at = Here;
            if (AtEnd) throw Error(at, "expected a value, found end of file");
            char c = Peek;
            if (c == '"' || c == '\'') return XlValue.String(at, ParseString());
            if (c >= '0' && c <= '9') return XlValue.Number(at, ParseNumber());
            if (c == '[')
            {
                if (depth >= MaxListDepth) throw Error(at, $"lists nested deeper than {MaxListDepth}");
                Advance();
                var items = new List<XlValue>();
                SkipBlanksCommentsAndNewlines();
                if (!AtEnd && Peek == ']') { Advance(); return XlValue.List(at, items); }
                while (true)
                {
                    items.Add(ParseValue(depth + 1, allowNewlines: true));
                    SkipBlanksCommentsAndNewlines();
                    if (AtEnd) throw Error(at, "unterminated list: no `]'");
                    if (Peek == ']') { Advance(); return XlValue.List(at, items); }
                    if (Peek != ',') throw Error(Here, $"expected `,' or `]' in list, found {Describe(Peek)}");
                    Advance();
                    SkipBlanksCommentsAndNewlines();
                    if (AtEnd) throw Error(at, "unterminated list: no `]'");
                    if (Peek == ']') { Advance(); return XlValue.List(at, items); } // trailing comma
                }
            }
            if (c == '\n' || c == ';') throw Error(at, "expected a value, found end of line");
            if (IsKeyStart(c)) throw Error(at, $"unquoted string `{Word()}': strings must be quoted");
            throw Error(at, $"expected a value, found {Describe(c)}");
        }

        private string ParseNumber()
        {
            var at = Here;
            int start = _pos;
            if (Peek == '0' && _pos + 1 < text.Length && (text[_pos + 1] == 'x' || text[_pos + 1] == 'X'))
            {
                Advance(); Advance();
                int digits = _pos;
                while (!AtEnd && char.IsAsciiHexDigit(Peek)) Advance();
                if (_pos == digits) throw Error(at, "hexadecimal number without digits");
            }
            else while (!AtEnd && char.IsAsciiDigit(Peek)) Advance();
            if (!AtEnd && (char.IsAsciiLetterOrDigit(Peek) || Peek == '_' || Peek == '.'))
                throw Error(at, $"malformed number `{text[start.._pos]}{Word()}'");
            return text[start.._pos];
        }

        private string ParseString()
        {
            var at = Here;
            char quote = Peek;
            Advance();
            var sb = new StringBuilder();
            while (true)
            {
                if (AtEnd || Peek == '\n') throw Error(at, "unterminated string");
                char c = Peek;
                if (c == quote) { Advance(); return sb.ToString(); }
                if (c != '\\') { sb.Append(c); Advance(); continue; }
                var escAt = Here;
                Advance();
                if (AtEnd || Peek == '\n') throw Error(at, "unterminated string");
                char e = Peek;
                Advance();
                switch (e)
                {
                    case '"' or '\'' or '\\': sb.Append(e); break;
                    case 'a': sb.Append('\a'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'v': sb.Append('\v'); break;
                    case 'x':
                    {
                        int v = 0, n = 0;
                        while (n < 2 && !AtEnd && char.IsAsciiHexDigit(Peek)) { v = v * 16 + Convert.ToInt32(Peek.ToString(), 16); Advance(); n++; }
                        if (n != 2) throw Error(escAt, "invalid \\x escape: two hexadecimal digits needed");
                        sb.Append((char)v);
                        break;
                    }
                    case >= '0' and <= '7':
                    {
                        int v = e - '0', n = 1;
                        while (n < 3 && !AtEnd && Peek >= '0' && Peek <= '7') { v = v * 8 + (Peek - '0'); Advance(); n++; }
                        if (v > 255) throw Error(escAt, $"octal escape \\{Convert.ToString(v, 8)} out of range");
                        sb.Append((char)v);
                        break;
                    }
                    default:
                        throw Error(escAt, $"invalid character {Describe(e)} after backslash in quoted string");
                }
            }
        }

        private string Word()
        {
            int s = _pos;
            while (_pos < text.Length && (char.IsAsciiLetterOrDigit(text[_pos]) || text[_pos] == '_' || text[_pos] == '.')) _pos++;
            string w = text[s.._pos];
            _pos = s;
            return w.Length > 40 ? w[..40] + "..." : w;
        }

        private void SkipBlanksAndComments()
        {
            while (!AtEnd)
            {
                char c = Peek;
                if (c == ' ' || c == '\t' || c == '\r') Advance();
                else if (c == '#') { while (!AtEnd && Peek != '\n') Advance(); }
                else return;
            }
        }

        private void SkipBlanksCommentsAndNewlines()
        {
            while (true)
            {
                SkipBlanksAndComments();
                if (!AtEnd && Peek == '\n') Advance();
                else return;
            }
        }

        private void Advance()
        {
            if (text[_pos] == '\n') { _line++; _col = 1; }
            else _col++;
            _pos++;
        }

        private static bool IsKeyStart(char c) => char.IsAsciiLetter(c) || c == '_';
        private static bool IsKeyChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_' || c == '.';

        private static string Describe(char c) => c switch
        {
            '\n' => "end of line",
            _ when c < 0x20 || c == 0x7f => $"control character 0x{(int)c:x2}",
            _ when c > 0x7e => $"character U+{(int)c:X4}",
            _ => $"`{c}'",
        };

        private XlConfigException Error(SourcePosition at, string what) => new(at, what);
    }

    internal static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
