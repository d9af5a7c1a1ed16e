using System.Text;
using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Cpu.Emulated;
using Paravirt.Domains.Console;
using Paravirt.Domains.Toolstack;
using Paravirt.Domains.XenStore;

namespace Paravirt.GuestSdk.Tests;

/// <summary>
/// Acceptance of `pvport patch`: the patched guest boots and behaves the same. guest-sdk/tests/pvport-patch runs on
/// the emulated CPU through the real toolstack, xenstored and xenconsoled, once as built and once after pvport has
/// rewritten its padded cpuid instructions into the forced-emulation form.
/// </summary>
public class PvportPatchBootTests
{
    private static (DomainEnd End, string Console, string Dmesg) Boot(string kernel)
    {
        var timeout = TimeSpan.FromSeconds(60);
        using var memory = new MachineMemory(32768);
        var hv = new Hypervisor.Hypervisor(memory, new EmulatedPlatform());
        try
        {
            var xs = new XenStoreDaemon();
            var consoled = new XenConsoled(hv, null);
            using var ts = new Toolstack(hv, xs, consoled);
            var info = ts.Create(new XlConfig.DomainConfig { Name = "pvport", MemoryMiB = 32, MaxMemMiB = 32, Kernel = kernel }, paused: true);
            using var session = ts.AttachConsole(info.DomId);
            ts.Unpause(info.DomId);
            bool ended = session.End.Wait(timeout);
            var text = new StringBuilder();
            while (session.Output.TryRead(out var chunk)) text.Append(Encoding.UTF8.GetString(chunk));
            var dmesg = hv.Console.Read(false);
            if (!ended) ts.Destroy(info.DomId);
            Assert.That(ended, Is.True, $"{kernel} did not finish in {timeout}; console: {text}\ndmesg:\n{dmesg}");
            return (session.End.Result, text.ToString(), dmesg);
        }
        finally
        {
            hv.Dispose();
        }
    }

    [Test]
    public void TheUnpatchedGuestRunsItsPlainCpuidsToTheEnd()
    {
        var (end, console, dmesg) = Boot(Kernels.PatchGuest);
        Assert.That(end.Reason, Is.EqualTo(ShutdownReason.Poweroff), $"{console}\n{dmesg}");
        Assert.That(console, Does.Match(@"^pvport-patch: vendor \S{12}\npvport-patch: leaf 0x40000000 \(before\): .{12}\npvport-patch: leaf 0x40000000 \(after\): .{12}\npvport-patch: done\n$"));
    }

    [Test]
    public void ThePatchedGuestBootsAndBehavesTheSame()
    {
        string patched = Kernels.TempFile("pvport-patch");
        try
        {
            var r = Pvport.Run("patch", Kernels.PatchGuest, "-o", patched);
            Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
            Assert.That(r.Stdout, Does.Contain("2 patched"));
            Assert.That(File.ReadAllBytes(patched), Is.Not.EqualTo(File.ReadAllBytes(Kernels.PatchGuest)));

            var original = Boot(Kernels.PatchGuest);
            var rewritten = Boot(patched);
            TestContext.Out.WriteLine($"unpatched:\n{original.Console}patched:\n{rewritten.Console}");
            Assert.That(rewritten.End.Reason, Is.EqualTo(ShutdownReason.Poweroff), $"patched guest: {rewritten.Console}\n{rewritten.Dmesg}");
            Assert.That(rewritten.Console, Is.EqualTo(original.Console), rewritten.Dmesg);
            Assert.That(rewritten.Console, Does.Contain("pvport-patch: done\n"));
        }
        finally
        {
            File.Delete(patched);
        }
    }
}
