using System.Text;
using System.Text.RegularExpressions;
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
/// rewritten its padded cpuid instructions into the forced-emulation form and its other sensitive instructions into
/// int3 trampolines. With the command line "emulated-only" the guest runs only what the hypervisor's privileged-op
/// emulation also completes, so the unpatched kernel is the reference; without it, it also runs cli, sti, hlt,
/// popfq and invlpg, which only the trampolines make work, and says for each whether it did what the native instruction means.
/// </summary>
public class PvportPatchBootTests
{
    private const string EmulatedOnly = "emulated-only";

    private static (DomainEnd End, string Console, string Dmesg) Boot(string kernel, string cmdline = EmulatedOnly)
    {
        var timeout = TimeSpan.FromSeconds(60);
        using var memory = new MachineMemory(32768);
        var hv = new Hypervisor.Hypervisor(memory, new EmulatedPlatform());
        try
        {
            var xs = new XenStoreDaemon();
            var consoled = new XenConsoled(hv, null);
            using var ts = new Toolstack(hv, xs, consoled);
            var info = ts.Create(new XlConfig.DomainConfig { Name = "pvport", MemoryMiB = 32, MaxMemMiB = 32, Kernel = kernel, Cmdline = cmdline }, paused: true);
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

    /// <summary>Every line the emulated group prints, in order (the cpuid lines show whatever the policy says).</summary>
    private const string EmulatedLines =
        @"pvport-patch: vendor \S{12}\npvport-patch: leaf 0x40000000 \(before\): .{12}\npvport-patch: leaf 0x40000000 \(after\): .{12}\n" +
        @"pvport-patch: cr2 is vcpu_info.arch.cr2: yes\n" +
        @"pvport-patch: cr3 is the boot L4: yes\npvport-patch: cr3 reloaded: yes\npvport-patch: dr0 round trip: yes\n" +
        @"pvport-patch: wrmsr FS_BASE takes effect: yes\npvport-patch: rdmsr FS_BASE reads it back: yes\n" +
        @"pvport-patch: user GS base round trip: yes\npvport-patch: rdmsr TSC advances: yes\npvport-patch: wbinvd returns\n" +
        @"pvport-patch: clts clears CR0.TS \(the FPU is usable\)\npvport-patch: leaf 0x40000000 \(tight\): .{12}\n";

    private static string Patch()
    {
        string patched = Kernels.TempFile("pvport-patch");
        var r = Pvport.Run("patch", Kernels.PatchGuest, "-o", patched);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stdout, Does.Contain("23 patched, 0 left to port by hand"));
        Assert.That(Regex.Matches(r.Stdout, @"\[int3-trampoline\]"), Has.Count.EqualTo(21), r.Stdout);
        return patched;
    }

    [Test]
    public void TheUnpatchedGuestRunsItsEmulatedInstructionsToTheEnd()
    {
        var (end, console, dmesg) = Boot(Kernels.PatchGuest);
        Assert.That(end.Reason, Is.EqualTo(ShutdownReason.Poweroff), $"{console}\n{dmesg}");
        Assert.That(console, Does.Match("^" + EmulatedLines + "pvport-patch: done\n$"));
    }

    [Test]
    public void ThePatchedGuestBootsAndBehavesTheSame()
    {
        string patched = Patch();
        try
        {
            Assert.That(File.ReadAllBytes(patched), Is.Not.EqualTo(File.ReadAllBytes(Kernels.PatchGuest)));
            var original = Boot(Kernels.PatchGuest);
            var rewritten = Boot(patched);
            TestContext.Out.WriteLine($"unpatched:\n{original.Console}patched:\n{rewritten.Console}");
            Assert.That(rewritten.End.Reason, Is.EqualTo(ShutdownReason.Poweroff), $"patched guest: {rewritten.Console}\n{rewritten.Dmesg}");
            Assert.That(rewritten.Console, Is.EqualTo(original.Console), rewritten.Dmesg);
            Assert.That(rewritten.Console, Does.Match("^" + EmulatedLines + "pvport-patch: done\n$"));
        }
        finally
        {
            File.Delete(patched);
        }
    }

    [Test]
    public void ThePatchedGuestRunsHltPopfAndInvlpgThroughItsTrampolines()
    {
        string patched = Patch();
        try
        {
            var (end, console, dmesg) = Boot(patched, "");
            Assert.That(end.Reason, Is.EqualTo(ShutdownReason.Poweroff), $"{console}\n{dmesg}");
            Assert.That(console, Does.Match("^" + EmulatedLines +
                @"pvport-patch: cli masks events: yes\npvport-patch: sti unmasks events: yes\n" +
                @"pvport-patch: hlt sleeps until the timer event: yes\npvport-patch: events unmasked after sti; hlt: yes\n" +
                @"pvport-patch: popf restores events on: yes\npvport-patch: popf with IF clear masks events: yes\n" +
                @"pvport-patch: popf sets the carry flag: yes\npvport-patch: popf kept events masked: yes\n" +
                @"pvport-patch: invlpg, then the new mapping shows: yes\npvport-patch: done\n$"), dmesg);
        }
        finally
        {
            File.Delete(patched);
        }
    }

    [Test]
    public void WithoutTrampolinesTheUnpatchedGuestCrashesAtItsFirstCli()
    {
        var (end, console, dmesg) = Boot(Kernels.PatchGuest, "");
        Assert.That(end.Reason, Is.EqualTo(ShutdownReason.Crash), $"{console}\n{dmesg}");
        Assert.That(console, Does.Match("^" + EmulatedLines + "$"), "nothing after the emulated group: the cli faulted");
        Assert.That(dmesg, Does.Contain("Unhandled general protection fault/trap [#13, ec=0000]"), "cli at IOPL 0 is #GP, as on Xen");
    }
}
