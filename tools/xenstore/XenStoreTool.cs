using System.Globalization;
using System.Text;
using Paravirt.Control;

namespace Paravirt.XenStoreCli;

/// <summary>
/// Xen's xenstore-* client tools (tools/xenstore/xenstore_client.c) as one program: `xenstore read|write|ls|rm|
/// list|exists|chmod|watch ...`. Options, output (values sanitised with \t \n \r \\ and \ooo escapes, `ls`'s
/// indented tree cut at 80 columns; -f prints full paths uncut) and exit status (0 ok, 1 failure, 2 usage) follow Xen's.
/// The store is xenstored's socket: $XENSTORED_PATH, else $PARAVIRT_RUNDIR/xenstored/socket.
/// </summary>
public sealed class XenStoreTool(TextWriter output, TextWriter error)
{
    public const int Usage = 2;
    private const int LsWidth = 80;

    public static string SocketPath()
    {
        string? explicitPath = Environment.GetEnvironmentVariable("XENSTORED_PATH");
        return string.IsNullOrEmpty(explicitPath)
            ? Path.Combine(RunDirectory.FromEnvironment().Path, "xenstored", "socket")
            : explicitPath;
    }

    public int Run(string[] args, Func<XsClient> connect)
    {
        if (args.Length == 0)
            return Fail(Usage, "xenstore", "usage: xenstore <read|write|ls|rm|list|exists|chmod|watch> [options] [args]");
        string command = args[0];
        string tool = "xenstore-" + command;
        var (flags, values, operands, bad) = Options(args[1..], command == "watch" ? "n" : "");
        if (bad is not null) return Fail(Usage, tool, $"invalid option -- '{bad}'");

        int? expected = command switch
        {
            "read" or "rm" or "exists" or "watch" => operands.Count >= 1 ? null : 1,
            "write" => operands.Count >= 2 && operands.Count % 2 == 0 ? null : 2,
            "list" => operands.Count >= 1 ? null : 1,
            "chmod" => operands.Count >= 2 ? null : 2,
            "ls" => null,
            _ => -1,
        };
        if (expected == -1) return Fail(Usage, "xenstore", $"unknown command '{command}'");
        if (expected is not null) return Fail(Usage, tool, $"Usage: {UsageLine(command)}");

        XsClient client;
        try { client = connect(); }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
        {
            return Fail(1, tool, $"failed to connect to xenstore: {e.Message}");
        }
        using (client)
        {
            try
            {
                return command switch
                {
                    "read" => InTransaction(client, tx => Read(client, tx, tool, operands, flags.Contains('p'), flags.Contains('R'))),
                    "write" => InTransaction(client, tx => Write(client, tx, tool, operands)),
                    "rm" => InTransaction(client, tx => Remove(client, tx, tool, operands, flags.Contains('t'))),
                    "exists" => InTransaction(client, tx => Exists(client, tx, operands)),
                    "list" => InTransaction(client, tx => List(client, tx, tool, operands, flags.Contains('p'))),
                    "chmod" => InTransaction(client, tx => Chmod(client, tx, tool, operands, flags.Contains('r'))),
                    "ls" => Ls(client, tool, operands.Count > 0 ? operands[0] : "/", flags.Contains('f'), flags.Contains('p')),
                    "watch" => Watch(client, operands, values.TryGetValue('n', out var n) ? n : null, tool),
                    _ => Usage,
                };
            }
            catch (IOException e)
            {
                return Fail(1, tool, e.Message);
            }
        }
    }

    private static string UsageLine(string command) => command switch
    {
        "read" => "xenstore-read [-h] [-p] [-R] [-s] key [...]",
        "write" => "xenstore-write [-h] [-s] key value [...]",
        "rm" => "xenstore-rm [-h] [-s] [-t] key [...]",
        "exists" => "xenstore-exists [-h] [-s] key [...]",
        "list" => "xenstore-list [-h] [-s] [-p] key [...]",
        "chmod" => "xenstore-chmod [-h] [-s] [-r] key <mode [modes...]>",
        "watch" => "xenstore-watch [-h] [-n NR] [-s] key",
        _ => "xenstore-ls [-h] [-f] [-p] [-s] [path]",
    };

    /// <summary>getopt-style: clustered single-letter flags, an argument for the letters in <paramref name="withValue"/>, "--" ends options.</summary>
    private static (HashSet<char>, Dictionary<char, string>, List<string>, char?) Options(string[] args, string withValue)
    {
        var flags = new HashSet<char>();
        var values = new Dictionary<char, string>();
        var operands = new List<string>();
        const string known = "hpRsftrn";
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--") { operands.AddRange(args[(i + 1)..]); break; }
            if (a.Length < 2 || a[0] != '-' || operands.Count > 0) { operands.Add(a); continue; }
            for (int j = 1; j < a.Length; j++)
            {
                char c = a[j];
                if (!known.Contains(c) || (c == 'n' && !withValue.Contains('n'))) return (flags, values, operands, c);
                if (withValue.Contains(c))
                {
                    string v = j + 1 < a.Length ? a[(j + 1)..] : i + 1 < args.Length ? args[++i] : "";
                    values[c] = v;
                    break;
                }
                flags.Add(c);
            }
        }
        return (flags, values, operands, null);
    }

    /// <summary>Run a body in a transaction, retrying on EAGAIN as xenstore_client does.</summary>
    private static int InTransaction(XsClient client, Func<uint, int> body)
    {
        while (true)
        {
            uint tx = client.TransactionStart();
            int rc = body(tx);
            if (client.TransactionEnd(tx, commit: rc == 0)) return rc;
        }
    }

    private int Read(XsClient client, uint tx, string tool, List<string> keys, bool prefix, bool raw)
    {
        foreach (string key in keys)
        {
            byte[] value;
            try { value = client.Read(tx, key); }
            catch (XsError) { return Fail(1, tool, $"couldn't read path {key}"); }
            output.Write(prefix ? $"{key}: " : "");
            // -R prints the bytes as stored, without the newline a sanitised value gets.
            output.Write(raw ? Encoding.UTF8.GetString(value) : Sanitise(value) + "\n");
        }
        return 0;
    }

    private int Write(XsClient client, uint tx, string tool, List<string> pairs)
    {
        for (int i = 0; i < pairs.Count; i += 2)
        {
            try { client.Write(tx, pairs[i], Unsanitise(pairs[i + 1])); }
            catch (XsError) { return Fail(1, tool, $"couldn't write path {pairs[i]}"); }
        }
        return 0;
    }

    private int Remove(XsClient client, uint tx, string tool, List<string> keys, bool tidy)
    {
        foreach (string key in keys)
        {
            try { client.Rm(tx, key); }
            catch (XsError) { return Fail(1, tool, $"could not remove path {key}"); }
            if (!tidy) continue;
            // -t: remove parents left empty, as xenstore-rm's tidy mode does.
            string path = key.TrimEnd('/');
            while (path.LastIndexOf('/') is var slash and > 0)
            {
                path = path[..slash];
                try
                {
                    if (client.Directory(tx, path).Length != 0 || client.Read(tx, path).Length != 0) break;
                    client.Rm(tx, path);
                }
                catch (XsError) { break; }
            }
        }
        return 0;
    }

    private static int Exists(XsClient client, uint tx, List<string> keys)
    {
        foreach (string key in keys)
        {
            try { client.Read(tx, key); }
            catch (XsError) { return 1; }
        }
        return 0;
    }

    private int List(XsClient client, uint tx, string tool, List<string> keys, bool prefix)
    {
        foreach (string key in keys)
        {
            string[] entries;
            try { entries = client.Directory(tx, key); }
            catch (XsError) { return Fail(1, tool, $"couldn't list path {key}"); }
            foreach (string entry in entries)
                output.Write(prefix ? $"{key.TrimEnd('/')}/{entry}\n" : $"{entry}\n");
        }
        return 0;
    }

    private int Chmod(XsClient client, uint tx, string tool, List<string> operands, bool recurse)
    {
        string key = operands[0];
        var perms = operands.Skip(1).ToList();
        foreach (string perm in perms)
        {
            if (perm.Length < 2 || "nrwb".IndexOf(perm[0]) < 0 || !uint.TryParse(perm.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out _))
                return Fail(1, tool, $"Invalid permission specification: '{perm}'");
        }
        return SetPerms(client, tx, tool, key, perms, recurse);
    }

    private int SetPerms(XsClient client, uint tx, string tool, string path, List<string> perms, bool recurse)
    {
        try { client.SetPerms(tx, path, perms); }
        catch (XsError) { return Fail(1, tool, $"Error occurred trying to set permissions on path {path}"); }
        if (!recurse) return 0;
        string[] children;
        try { children = client.Directory(tx, path); }
        catch (XsError) { return 0; }
        foreach (string child in children)
        {
            int rc = SetPerms(client, tx, tool, $"{path.TrimEnd('/')}/{child}", perms, recurse);
            if (rc != 0) return rc;
        }
        return 0;
    }

    /// <summary>xenstore-ls: each node indented one space per level, `name = "value"`, cut at 80 columns unless -f.</summary>
    private int Ls(XsClient client, string tool, string path, bool full, bool showPerms)
    {
        try
        {
            LsLevel(client, path, 0, full, showPerms);
            return 0;
        }
        catch (XsError e)
        {
            return Fail(1, tool, $"xs_directory ({path}): {Describe(e.Name)}");
        }
    }

    private void LsLevel(XsClient client, string path, int depth, bool full, bool showPerms)
    {
        foreach (string entry in client.Directory(0, path))
        {
            string child = path == "/" ? "/" + entry : $"{path.TrimEnd('/')}/{entry}";
            var line = new StringBuilder();
            // -f prints each node's full path (and never cuts the line); otherwise one space of indent per level.
            if (full) line.Append(child);
            else line.Append(' ', depth).Append(entry);
            string value;
            try { value = Sanitise(client.Read(0, child)); }
            catch (XsError) { value = ""; }
            // Cut so that name, ` = "`, the value and `..."` fit the width, marking the cut with `\...`.
            const int tagLength = 8; // ` = "..."`
            int room = LsWidth - tagLength - line.Length;
            if (!full && line.Length + value.Length + tagLength > LsWidth)
                line.Append(" = \"").Append(value.AsSpan(0, Math.Clamp(room, 0, value.Length))).Append("\\...\"");
            else
                line.Append(" = \"").Append(value).Append('"');
            if (showPerms)
            {
                string[] perms;
                try { perms = client.GetPerms(0, child); }
                catch (XsError) { perms = []; }
                // Dotted leader to column 60, then the permissions: `name = "v" . . . .  (n0,r1)`.
                const int permColumn = 60;
                if (line.Length < permColumn) line.Append(' ');
                for (int column = line.Length; column < permColumn; column++) line.Append((column & 1) == 1 ? '.' : ' ');
                line.Append("  (").Append(string.Join(",", perms)).Append(")");
            }
            output.Write(line.Append('\n').ToString());
            LsLevel(client, child, depth + 1, full, showPerms);
        }
    }

    private int Watch(XsClient client, List<string> keys, string? count, string tool)
    {
        int remaining = -1;
        if (count is not null && (!int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out remaining) || remaining <= 0))
            return Fail(Usage, tool, $"invalid number of events: '{count}'");
        foreach (string key in keys)
        {
            try { client.Watch(key, key); }
            catch (XsError) { return Fail(1, tool, $"watch failed for {key}"); }
        }
        while (remaining != 0)
        {
            var (path, _) = client.NextEvent();
            output.Write(path + "\n");
            output.Flush();
            if (remaining > 0) remaining--;
        }
        return 0;
    }

    /// <summary>sanitise_value: printable ASCII except backslash as is; \t \n \r \\; anything else as \ooo.</summary>
    public static string Sanitise(ReadOnlySpan<byte> value)
    {
        var text = new StringBuilder(value.Length);
        foreach (byte b in value)
        {
            if (b >= ' ' && b <= '~' && b != '\\') { text.Append((char)b); continue; }
            text.Append('\\');
            switch (b)
            {
                case (byte)'\t': text.Append('t'); break;
                case (byte)'\n': text.Append('n'); break;
                case (byte)'\r': text.Append('r'); break;
                case (byte)'\\': text.Append('\\'); break;
                default: text.Append(Convert.ToString(b, 8).PadLeft(3, '0')); break;
            }
        }
        return text.ToString();
    }

    /// <summary>unsanitise_value: the inverse of <see cref="Sanitise"/> (an unknown escape stands for its character).</summary>
    public static byte[] Unsanitise(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var result = new List<byte>(bytes.Length);
        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != '\\' || i + 1 >= bytes.Length) { result.Add(bytes[i]); continue; }
            byte c = bytes[++i];
            switch (c)
            {
                case (byte)'t': result.Add((byte)'\t'); break;
                case (byte)'n': result.Add((byte)'\n'); break;
                case (byte)'r': result.Add((byte)'\r'); break;
                case >= (byte)'0' and <= (byte)'7':
                    int v = 0, digits = 0;
                    while (digits < 3 && i < bytes.Length && bytes[i] is >= (byte)'0' and <= (byte)'7')
                    {
                        v = v * 8 + (bytes[i] - '0');
                        i++;
                        digits++;
                    }
                    i--;
                    result.Add((byte)v);
                    break;
                default: result.Add(c); break;
            }
        }
        return result.ToArray();
    }

    private static string Describe(string errno) => errno switch
    {
        "ENOENT" => "No such file or directory",
        "EACCES" => "Permission denied",
        "EINVAL" => "Invalid argument",
        "E2BIG" => "Argument list too long",
        _ => errno,
    };

    private int Fail(int code, string tool, string message)
    {
        error.Write($"{tool}: {message}\n");
        return code;
    }
}
