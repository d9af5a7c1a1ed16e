using System.Diagnostics;
using NUnit.Framework;

namespace Paravirt.EndToEnd.Tests;

/// <summary>The README's first command, through the root-level `./xl` script (which builds on first use).</summary>
[NonParallelizable]
public class ReadmeCommandTests
{
    [Test]
    public void TheReadmeMainCommandBootsHello()
    {
        using var xl = new Xl();
        var psi = new ProcessStartInfo(Path.Combine(Xl.RepoRoot, "xl"))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = Xl.RepoRoot,
        };
        foreach (var a in new[] { "create", "-c", "xl-config/examples/hello.cfg" }) psi.ArgumentList.Add(a);
        psi.Environment["PARAVIRT_RUNDIR"] = xl.RunDir;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.That(p.WaitForExit(600_000), Is.True, "./xl finished");
        Assert.That(p.ExitCode, Is.Zero, stdout.Result + stderr.Result);
        Assert.That(stdout.Result, Does.Contain("Hello from Paravirt domain "), stdout.Result + stderr.Result);
    }
}
