namespace Paravirt.XlConfig;

/// <summary>
/// The xl.cfg(5) grammar as Xen's libxlu implements it (tools/libs/util/libxlu_cfg_y.y; tokens in
/// <see cref="XlConfigLexer"/>):
/// <code>
///   file       := { statement-end | assignment statement-end } [ assignment ]      (the last needs no end)
///   statement-end := NEWLINE | ";"                                                  (a comment is a NEWLINE)
///   assignment := IDENT "=" value | IDENT "+=" value
///   value      := STRING | NUMBER | "[" nl* [ value nl* { "," nl* value nl* } [ "," nl* ] ] "]"
/// </code>
/// So: no line break between a key, its <c>=</c> and the start of the value; line breaks and comments are free
/// inside brackets; one trailing comma is allowed, an empty element (<c>[1,,2]</c>, <c>[,]</c>) is not; lists nest.
/// A bare word as a value is an error (strings must be quoted). xl reports the first error's line; here every
/// error names the file, line and column of the offending token.
/// </summary>
public static class XlConfigParser
{
    /// <summary>Largest config accepted (xl reads whole files; a megabyte is far beyond any real config).</summary>
    public const int MaxLength = 1 << 20;

    /// <summary>
    /// Deepest list nesting accepted. libxlu's bison stack (YYMAXDEPTH 10000) also ends in an error
    /// ("memory exhausted") for absurd nesting; this bound keeps the recursive descent's stack small.
    /// </summary>
    public const int MaxListDepth = 256;

    /// <summary>What overrides name as their file.</summary>
    public const string CommandLineSource = "<command line>";

    /// <summary>Parse a whole config file. Any error is an <see cref="XlConfigException"/>; nothing else is thrown.</summary>
    public static XlConfigFile Parse(string text, string fileName)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(fileName);
        var file = new XlConfigFile(fileName);
        if (text.Length > MaxLength)
            throw new XlConfigException(new SourcePosition(fileName, 1, 1), $"config file too large ({text.Length} characters, at most {MaxLength})");
        new Parser(new XlConfigLexer(text, fileName)).ParseStatements(file);
        return file;
    }

    /// <summary>
    /// Apply one <c>key=value</c> (or <c>key+=value</c>) from the command line, as <c>xl create cfg key=value…</c>:
    /// xl appends each such argument to the file text on a line of its own, so it is parsed with the same grammar
    /// and, coming later, replaces (<c>=</c>) or extends (<c>+=</c>) the file's setting. Errors name
    /// <see cref="CommandLineSource"/>, line 1 being the argument's first line.
    /// <para>One convenience beyond xl: a bare word value (<c>name=web</c>, <c>name=hello-c</c>) is taken as a
    /// string. xl rejects such an argument outright, so this never changes the meaning of one xl accepts.</para>
    /// </summary>
    public static void ApplyOverride(XlConfigFile file, string assignment)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(assignment);
        var start = new SourcePosition(CommandLineSource, 1, 1);
        if (assignment.Length > MaxLength)
            throw new XlConfigException(start, $"override too long ({assignment.Length} characters, at most {MaxLength})");
        if (!assignment.Contains('='))
            throw new XlConfigException(start, $"{XlValue.Quote(assignment)} is not of the form key=value");
        // The line break xl puts after each argument (xl_vmcontrol.c: "\n%s\n") also ends a trailing comment.
        string text = QuoteBareWord(assignment) + "\n";
        var scratch = file.Clone();
        new Parser(new XlConfigLexer(text, CommandLineSource)).ParseStatements(scratch);
        file.CopyFrom(scratch);
    }

    /// <summary><c>key=word</c> → <c>key="word"</c> when the word could only be an error in xl's grammar.</summary>
    private static string QuoteBareWord(string assignment)
    {
        int eq = assignment.IndexOf('=');
        int keyEnd = eq > 0 && assignment[eq - 1] == '+' ? eq - 1 : eq;
        string key = assignment[..keyEnd];
        if (key.Length == 0 || key[0] is < 'a' or > 'z' || !key.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '.'))
            return assignment;
        string value = assignment[(eq + 1)..];
        // Such a word is an IDENT (a syntax error as a value) or holds characters libxlu cannot lex at all
        // (upper case, - . / :); one starting with a digit may be a valid NUMBER, so it is left alone.
        if (value.Length == 0 || char.IsAsciiDigit(value[0])
            || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or '/' or ':'))
            return assignment;
        return assignment[..(eq + 1)] + "\"" + value + "\"";
    }

    private sealed class Parser(XlConfigLexer lexer)
    {
        public void ParseStatements(XlConfigFile file)
        {
            while (true)
            {
                var t = lexer.Next();
                switch (t.Kind)
                {
                    case XlTokenKind.EndOfFile:
                        return;
                    case XlTokenKind.NewLine or XlTokenKind.Semicolon:
                        continue;
                    case XlTokenKind.Ident:
                        ParseAssignment(file, t);
                        var end = lexer.Next();
                        if (end.Kind == XlTokenKind.EndOfFile) return;
                        if (end.Kind is XlTokenKind.NewLine or XlTokenKind.Semicolon) continue;
                        throw new XlConfigException(end.Position, $"expected `;' or a line break after the value of `{t.Text}', found {end.Describe()}");
                    case XlTokenKind.String:
                        throw new XlConfigException(t.Position, $"expected a setting name, found {t.Describe()} (setting names are not quoted)");
                    default:
                        throw new XlConfigException(t.Position, $"expected a setting name, found {t.Describe()}");
                }
            }
        }

        private void ParseAssignment(XlConfigFile file, XlToken key)
        {
            var op = lexer.Next();
            if (op.Kind is not (XlTokenKind.Assign or XlTokenKind.AddAssign))
                throw new XlConfigException(op.Position, $"expected `=' or `+=' after `{key.Text}', found {op.Describe()}");
            var value = ParseValue(lexer.Next(), 0);
            if (op.Kind == XlTokenKind.Assign) file.Set(key.Text, key.Position, value);
            else file.Append(key.Text, key.Position, value);
        }

        private XlValue ParseValue(XlToken t, int depth)
        {
            switch (t.Kind)
            {
                case XlTokenKind.String: return XlValue.String(t.Position, t.Text);
                case XlTokenKind.Number: return XlValue.Number(t.Position, t.Text);
                case XlTokenKind.OpenBracket: return ParseList(t, depth + 1);
                case XlTokenKind.Ident:
                    throw new XlConfigException(t.Position, $"unquoted word `{XlToken.Shorten(t.Text)}': strings must be quoted");
                default:
                    throw new XlConfigException(t.Position, $"expected a value (a quoted string, a number or a [list]), found {t.Describe()}");
            }
        }

        private XlValue ParseList(XlToken open, int depth)
        {
            if (depth > MaxListDepth)
                throw new XlConfigException(open.Position, $"lists nested deeper than {MaxListDepth}");
            var items = new List<XlValue>();
            var t = NextSkippingNewLines(open);
            if (t.Kind == XlTokenKind.CloseBracket) return XlValue.List(open.Position, items);
            while (true)
            {
                if (t.Kind == XlTokenKind.Comma)
                    throw new XlConfigException(t.Position, "expected a list element or `]', found `,' (empty list elements are not allowed)");
                items.Add(ParseValue(t, depth));
                t = NextSkippingNewLines(open);
                if (t.Kind == XlTokenKind.CloseBracket) return XlValue.List(open.Position, items);
                if (t.Kind != XlTokenKind.Comma)
                    throw new XlConfigException(t.Position, $"expected `,' or `]' in the list, found {t.Describe()}");
                t = NextSkippingNewLines(open);
                if (t.Kind == XlTokenKind.CloseBracket) return XlValue.List(open.Position, items); // one trailing comma
            }
        }

        private XlToken NextSkippingNewLines(XlToken open)
        {
            XlToken t;
            do t = lexer.Next(); while (t.Kind == XlTokenKind.NewLine);
            if (t.Kind == XlTokenKind.EndOfFile)
                throw new XlConfigException(open.Position, "unterminated list: this `[' has no matching `]'");
            return t;
        }
    }
}
