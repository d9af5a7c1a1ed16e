using System.Diagnostics;
using System.Text;

namespace Paravirt.EndToEnd.Tests;

public sealed record XlResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>
/// Runs the real `xl` (the build of this configuration) against a private $PARAVIRT_RUNDIR, so each fixture gets
/// its own paravirtd. Dispose kills that paravirtd and removes the run directory.
/// </summary>
public sealed class Xl : IDisposable
{
    public static readonly string RepoRoot = FindRoot();
    /// <summary>The build configuration of this test assembly (artifacts/bin/&lt;project&gt;/&lt;config&gt;/): run the same xl.</summary>
    private static readonly string Configuration = Path.GetFileName(AppContext.BaseDirectory.TrimEnd('/'));

    public Xl(long hostMemoryMiB = 512)
    {
        RunDir = Path.Combine(Path.GetTempPath(), "paravirt-e2e-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(RunDir);
        HostMemoryMiB = hostMemoryMiB;
    }

    public string RunDir { get; }
    public long HostMemoryMiB { get; }
    public static string XlDll => Path.Combine(RepoRoot, "artifacts", "bin", "xl", Configuration, "xl.dll");
    public static string GuestBuild => Path.Combine(RepoRoot, "guest-sdk", "build");

    public ProcessStartInfo StartInfo(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
            UseShellExecute = false, WorkingDirectory = RepoRoot,
        };
        psi.ArgumentList.Add(XlDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["PARAVIRT_RUNDIR"] = RunDir;
        psi.Environment["PARAVIRT_HOST_MEMORY_MB"] = HostMemoryMiB.ToString();
        return psi;
    }

    public XlResult Run(params string[] args) => Run(TimeSpan.FromSeconds(120), args);

    public XlResult Run(TimeSpan timeout, params string[] args)
    {
        using var p = Process.Start(StartInfo(args))!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"xl {string.Join(' ', args)} did not finish in {timeout}: {stdout.Result}{stderr.Result}");
        }
        return new XlResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>A started xl process whose output is collected as it comes.</summary>
    public sealed class Running : IDisposable
    {
        private readonly StringBuilder _out = new();
        public Running(Process p)
        {
            Process = p;
            p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_out) _out.Append(e.Data).Append('\n'); };
            p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_out) _out.Append(e.Data).Append('\n'); };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
        }
        public Process Process { get; }
        public string Output { get { lock (_out) return _out.ToString(); } }
        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill(entireProcessTree: true);
            Process.Dispose();
        }
    }

    public Running Start(params string[] args) => new(Process.Start(StartInfo(args))!);

    /// <summary>Write a config in the run directory and return its path.</summary>
    public string Config(string name, string body)
    {
        var path = Path.Combine(RunDir, name + ".cfg");
        File.WriteAllText(path, body);
        return path;
    }

    public string GuestConfig(string name, string kernel, int memory = 32, string extra = "") =>
        Config(name, $"name = \"{name}\"\ntype = \"pv\"\nmemory = {memory}\nvcpus = 1\nkernel = \"{kernel}\"\n{extra}");

    public static bool WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (condition()) return true;
            Thread.Sleep(50);
        }
        return condition();
    }

    public void Dispose()
    {
        var pidFile = Path.Combine(RunDir, "paravirtd.pid");
        try
        {
            if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid))
            {
                using var p = Process.GetProcessById(pid);
                p.Kill(entireProcessTree: true);
                p.WaitForExit(10_000);
            }
        }
        catch (ArgumentException) { }
        catch (InvalidOperationException) { }
        try { Directory.Delete(RunDir, recursive: true); } catch (IOException) { }
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Paravirt.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (Paravirt.sln)");
    }
}
