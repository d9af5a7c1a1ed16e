using System.Diagnostics;
using NUnit.Framework;

namespace Paravirt.GuestSdk.Tests;

/// <summary>The real pvport executable: its exit status reaches the shell.</summary>
public class PvportProcessTests
{
    private static (int Code, string Stdout, string Stderr) RunProcess(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pvport.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("pvport did not finish");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Test]
    public void TheExecutableExitsZeroOneAndTwoForCleanFindingsAndBadInput()
    {
        Assert.That(RunProcess("scan", Kernels.Hello).Code, Is.EqualTo(0));
        Assert.That(RunProcess("scan", Kernels.Seeded).Code, Is.EqualTo(1));
        var bad = RunProcess("scan", typeof(PvportProcessTests).Assembly.Location);
        Assert.That(bad.Code, Is.EqualTo(2));
        Assert.That(bad.Stderr, Is.EqualTo("pvport: not an ELF file (bad magic)\n"));
    }
}
