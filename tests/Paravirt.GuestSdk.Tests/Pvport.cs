using Paravirt.Pvport;

namespace Paravirt.GuestSdk.Tests;

internal sealed record PvportRun(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs pvport's command line in-process, capturing both streams.</summary>
internal static class Pvport
{
    public static PvportRun Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = PvportCommandLine.RunAsync(args, stdout, stderr).GetAwaiter().GetResult();
        return new PvportRun(code, stdout.ToString(), stderr.ToString());
    }
}
