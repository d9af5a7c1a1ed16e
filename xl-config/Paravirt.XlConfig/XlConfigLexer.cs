using System.Text;

namespace Paravirt.XlConfig;

internal enum XlTokenKind
{
    EndOfFile,
    /// <summary>A line break, or a comment together with the line break that ends it (libxlu: one NEWLINE token).</summary>
    NewLine,
    Ident,
    Number,
    String,
    Assign,
    AddAssign,
    Semicolon,
    Comma,
    OpenBracket,
    CloseBracket,
}

internal readonly record struct XlToken(XlTokenKind Kind, SourcePosition Position, string Text)
{
    /// <summary>What the token is, for "found ..." in messages.</summary>
    public string Describe() => Kind switch
    {
        XlTokenKind.EndOfFile => "end of file",
        XlTokenKind.NewLine => "end of line",
        XlTokenKind.Ident => $"word `{Shorten(Text)}'",
        XlTokenKind.Number => $"number {Shorten(Text)}",
        XlTokenKind.String => $"string {XlValue.Quote(Text)}",
        XlTokenKind.Assign => "`='",
        XlTokenKind.AddAssign => "`+='",
        XlTokenKind.Semicolon => "`;'",
        XlTokenKind.Comma => "`,'",
        XlTokenKind.OpenBracket => "`['",
        XlTokenKind.CloseBracket => "`]'",
        _ => Kind.ToString(),
    };

    internal static string Shorten(string s) => s.Length > 40 ? s[..40] + "..." : s;
}

/// <summary>
/// The xl.cfg tokens exactly as libxlu's flex scanner (tools/libs/util/libxlu_cfg_l.l) cuts them:
/// <list type="bullet">
/// <item>IDENT <c>[a-z][._0-9a-z]*</c> — lower case only; an upper-case letter is a lexical error in xl.</item>
/// <item>NUMBER <c>[0-9][0-9a-fx]*</c> — so <c>0x1f</c> and even <c>12ab</c> are one token; its meaning is decided
///   later, by strtol(…, 0) when a number is asked for (<see cref="XlNumber"/>). Upper-case hex digits end the
///   token and then fail as an unexpected character, as in xl.</item>
/// <item>STRING <c>'…'</c> or <c>"…"</c> on one line; a backslash may precede any character but a line break.</item>
/// <item><c>, [ ] += = ;</c>, blanks (space and tab only: a carriage return is a lexical error in xl),
///   and NEWLINE, which is a line break or a <c>#</c> comment <em>including</em> its line break — a comment on the
///   last line with no line break after it does not match and is an error in xl.</item>
/// <item><c>+ - . ( ) :</c> alone are errors that make xl warn the file looks like Python.</item>
/// </list>
/// Positions are 1-based lines and columns; a column counts characters (a tab is one column).
/// </summary>
internal sealed class XlConfigLexer(string text, string file)
{
    private int _pos, _line = 1, _col = 1;

    public XlToken Next()
    {
        while (_pos < text.Length && (text[_pos] == ' ' || text[_pos] == '\t')) Advance();
        var at = new SourcePosition(file, _line, _col);
        if (_pos >= text.Length) return new XlToken(XlTokenKind.EndOfFile, at, "");

        char c = text[_pos];
        switch (c)
        {
            case '\n':
                Advance();
                return new XlToken(XlTokenKind.NewLine, at, "");
            case '#':
                while (_pos < text.Length && text[_pos] != '\n') Advance();
                if (_pos >= text.Length)
                    throw new XlConfigException(at, "comment on the last line must end with a line break (xl rejects it otherwise)");
                Advance();
                return new XlToken(XlTokenKind.NewLine, at, "");
            case ',': Advance(); return new XlToken(XlTokenKind.Comma, at, ",");
            case '[': Advance(); return new XlToken(XlTokenKind.OpenBracket, at, "[");
            case ']': Advance(); return new XlToken(XlTokenKind.CloseBracket, at, "]");
            case ';': Advance(); return new XlToken(XlTokenKind.Semicolon, at, ";");
            case '=': Advance(); return new XlToken(XlTokenKind.Assign, at, "=");
            case '+' when _pos + 1 < text.Length && text[_pos + 1] == '=':
                Advance(); Advance();
                return new XlToken(XlTokenKind.AddAssign, at, "+=");
            case '"' or '\'':
                return new XlToken(XlTokenKind.String, at, ReadString(at));
        }
        if (c is >= 'a' and <= 'z')
        {
            int start = _pos;
            while (_pos < text.Length && IsIdentChar(text[_pos])) Advance();
            return new XlToken(XlTokenKind.Ident, at, text[start.._pos]);
        }
        if (c is >= '0' and <= '9')
        {
            int start = _pos;
            while (_pos < text.Length && IsNumberChar(text[_pos])) Advance();
            if (_pos < text.Length && text[_pos] is >= 'A' and <= 'Z')
                throw new XlConfigException(Here, $"unexpected `{text[_pos]}' in a number (xl.cfg hex digits are lower case)");
            return new XlToken(XlTokenKind.Number, at, text[start.._pos]);
        }
        throw new XlConfigException(at, UnexpectedCharacter(c));
    }

    private static bool IsIdentChar(char c) => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '.';
    private static bool IsNumberChar(char c) => c is (>= '0' and <= '9') or (>= 'a' and <= 'f') or 'x';

    private static string UnexpectedCharacter(char c) => c switch
    {
        '\r' => "unexpected carriage return: xl.cfg files need Unix (LF) line endings",
        '\0' => "unexpected NUL character",
        // libxlu sets likely_python for exactly these and prints a hint after the error.
        '+' or '-' or '.' or '(' or ')' or ':' => $"unexpected `{c}' (xl.cfg is not Python: values are quoted strings, numbers or [lists])",
        >= 'A' and <= 'Z' => $"unexpected `{c}': setting names are lower case",
        < ' ' or (char)0x7f => $"unexpected control character 0x{(int)c:x2}",
        > (char)0x7e => $"unexpected character U+{(int)c:X4} outside a quoted string",
        _ => $"unexpected `{c}'",
    };

    /// <summary>
    /// A quoted string and its escapes, as libxlu's xlu__cfgl_dequote decodes them. The escapes that work are
    /// <c>\" \' \\ \a \b \f \n \r \t \v</c>. libxlu also recognises <c>\x</c> and octal <c>\ooo</c> but never
    /// produces their character: <c>\x</c> is always rejected, and an octal escape is swallowed without a trace (its
    /// NUMERIC_CHAR macro parses the digits and discards the value). Both are rejected here with a message, so a
    /// config never silently loses characters. Any other character after a backslash is an error, as in libxlu.
    /// </summary>
    private string ReadString(SourcePosition at)
    {
        char quote = text[_pos];
        Advance();
        StringBuilder? sb = null;
        int runStart = _pos;
        while (true)
        {
            if (_pos >= text.Length || text[_pos] == '\n')
                throw new XlConfigException(at, "unterminated string");
            char c = text[_pos];
            if (c == quote)
            {
                string s = sb == null ? text[runStart.._pos] : sb.Append(text, runStart, _pos - runStart).ToString();
                Advance();
                return s;
            }
            if (c == '\0') throw new XlConfigException(Here, "unexpected NUL character in a quoted string");
            if (c != '\\') { Advance(); continue; }

            var escAt = Here;
            sb ??= new StringBuilder();
            sb.Append(text, runStart, _pos - runStart);
            Advance();
            if (_pos >= text.Length || text[_pos] == '\n')
                throw new XlConfigException(at, "unterminated string");
            char e = text[_pos];
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
                    throw new XlConfigException(escAt, "`\\x' escapes are not supported in quoted strings (xl rejects them)");
                case >= '0' and <= '7':
                {
                    int end = _pos;
                    while (end < text.Length && end < _pos + 2 && text[end] is >= '0' and <= '7') end++;
                    throw new XlConfigException(escAt,
                        $"octal escape `\\{e}{text[_pos..end]}' is not supported in quoted strings (xl drops such characters)");
                }
                default:
                    throw new XlConfigException(escAt, $"invalid character {DescribeChar(e)} after backslash in quoted string");
            }
            runStart = _pos;
        }
    }

    private SourcePosition Here => new(file, _line, _col);

    internal static string DescribeChar(char c) => c switch
    {
        < ' ' or (char)0x7f => $"0x{(int)c:x2}",
        > (char)0x7e => $"U+{(int)c:X4}",
        _ => $"`{c}'",
    };

    private void Advance()
    {
        if (text[_pos] == '\n') { _line++; _col = 1; }
        else _col++;
        _pos++;
    }
}
