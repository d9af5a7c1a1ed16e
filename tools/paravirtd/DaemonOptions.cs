using System.CommandLine;
using System.Globalization;
using Paravirt.Control;

namespace Paravirt.Daemon;

/// <summary>paravirtd's command line: <c>paravirtd [--foreground] [--host-memory MiB] [--rundir DIR]</c>.</summary>
public sealed record DaemonOptions(RunDirectory RunDirectory, long HostMemoryMiB, bool Foreground, bool Detached)
{
    public const string HostMemoryVariable = "PARAVIRT_HOST_MEMORY_MB";
    public const long DefaultHostMemoryMiB = 2048;
    /// <summary>Dom0Host's bounds for the machine frame pool: at least 16 MiB, at most 1 TiB.</summary>
    public const long MinHostMemoryMiB = 16;
    public const long MaxHostMemoryMiB = 1024 * 1024;

    public static readonly Option<bool> ForegroundOption = new("--foreground", "-F")
    {
        Description = "Stay attached to the terminal and log to stderr as well as the log file.",
    };
    public static readonly Option<string?> HostMemoryOption = new("--host-memory")
    {
        Description = $"Machine memory for all domains, in MiB (default {DefaultHostMemoryMiB}, or ${HostMemoryVariable}).",
        HelpName = "MiB",
    };
    public static readonly Option<string?> RunDirOption = new("--rundir")
    {
        Description = $"Run directory (default ${RunDirectory.EnvironmentVariable}, else /tmp/paravirt-<uid>).",
        HelpName = "DIR",
    };
    public static readonly Option<bool> DetachedOption = new(DaemonLauncher.DetachedOption) { Hidden = true };

    public static RootCommand CreateCommand() => new("paravirtd: the Paravirt hypervisor, Dom0 and its services in one process")
    {
        ForegroundOption, HostMemoryOption, RunDirOption, DetachedOption,
    };

    /// <summary>Options from a parse result and the environment, or the one-line reason they are invalid.</summary>
    public static (DaemonOptions? Options, string? Error) From(ParseResult result, Func<string, string?> environment)
    {
        string? memoryText = result.GetValue(HostMemoryOption) ?? environment(HostMemoryVariable);
        long memory = DefaultHostMemoryMiB;
        if (!string.IsNullOrWhiteSpace(memoryText))
        {
            if (!long.TryParse(memoryText.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out memory)
                || memory < MinHostMemoryMiB || memory > MaxHostMemoryMiB)
                return (null, $"invalid host memory '{memoryText}': expected MiB between {MinHostMemoryMiB} and {MaxHostMemoryMiB}");
        }
        string? rundir = result.GetValue(RunDirOption);
        var directory = new RunDirectory(RunDirectory.Resolve(string.IsNullOrWhiteSpace(rundir) ? environment(RunDirectory.EnvironmentVariable) : rundir));
        return (new DaemonOptions(directory, memory, result.GetValue(ForegroundOption), result.GetValue(DetachedOption)), null);
    }
}
