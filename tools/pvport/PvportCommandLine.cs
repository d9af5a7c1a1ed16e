using System.CommandLine;
using Paravirt.PortAnalysis;
using Paravirt.PortAnalysis.Elf;

namespace Paravirt.Pvport;

/// <summary>Exit statuses: the kernel is clean, has findings, or could not be analysed (or the command line was wrong).</summary>
public static class PvportExit
{
    public const int Clean = 0, Findings = 1, BadInput = 2;
}

/// <summary>
/// `pvport scan &lt;elf&gt; [--json]` and `pvport patch &lt;in&gt; -o &lt;out&gt; [--json]`. Errors are one line on stderr
/// and exit status 2; nothing a file contains makes pvport throw.
/// </summary>
public static class PvportCommandLine
{
    public static RootCommand Build(TextWriter stdout, TextWriter stderr)
    {
        var scanFile = new Argument<string>("elf") { Description = "x86-64 ELF kernel image" };
        var scanJson = new Option<bool>("--json") { Description = "machine-readable output (one JSON object)" };
        var scan = new Command("scan", "list every sensitive or privileged instruction a PV port must replace") { scanFile, scanJson };
        scan.SetAction(r => Guard(stderr, () =>
        {
            string path = r.GetValue(scanFile)!;
            var report = KernelScanner.Scan(ElfImage.Load(path));
            if (r.GetValue(scanJson)) stdout.WriteLine(ReportJson.Scan(path, report).ToString());
            else ReportText.Scan(stdout, path, report);
            return report.IsClean ? PvportExit.Clean : PvportExit.Findings;
        }));

        var patchIn = new Argument<string>("in") { Description = "x86-64 ELF kernel image to patch" };
        var patchOut = new Option<string>("--output", "-o") { Description = "where to write the patched image", Required = true };
        var patchJson = new Option<bool>("--json") { Description = "machine-readable output (one JSON object)" };
        var patch = new Command("patch", "rewrite the findings that have a same-size PV form, report the rest") { patchIn, patchOut, patchJson };
        patch.SetAction(r => Guard(stderr, () =>
        {
            string input = r.GetValue(patchIn)!, output = r.GetValue(patchOut)!;
            var report = KernelScanner.Scan(ElfImage.Load(input));
            var result = KernelPatcher.Patch(report);
            try
            {
                File.WriteAllBytes(output, result.Output);
                if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
                    File.SetUnixFileMode(output, File.GetUnixFileMode(input));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                throw new ElfFormatException($"{output}: cannot write: {e.Message}");
            }
            if (r.GetValue(patchJson)) stdout.WriteLine(ReportJson.Patch(input, output, result).ToString());
            else ReportText.Patch(stdout, input, output, result);
            return result.IsClean ? PvportExit.Clean : PvportExit.Findings;
        }));

        var root = new RootCommand("pvport: find (and where possible rewrite) what an x86-64 kernel must change to run as a Paravirt/Xen PV guest")
        {
            scan, patch,
        };
        return root;
    }

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = Build(stdout, stderr);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            await stderr.WriteLineAsync($"pvport: {parsed.Errors[0].Message}").ConfigureAwait(false);
            return PvportExit.BadInput;
        }
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        return await parsed.InvokeAsync(config).ConfigureAwait(false);
    }

    private static int Guard(TextWriter stderr, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (ElfFormatException e)
        {
            stderr.WriteLine($"pvport: {e.Message}");
            return PvportExit.BadInput;
        }
    }
}
