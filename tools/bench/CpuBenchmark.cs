using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Paravirt.Cpu;
using Paravirt.Cpu.Emulated;
using Paravirt.Hypervisor;
using Paravirt.Hypervisor.Boot;

namespace Paravirt.Bench;

/// <summary>
/// `./bench cpu`: the compute guest (CRC32 + quicksort + SHA-256, guest-sdk/bench/cpu) booted in-process on the
/// emulated platform through the real hypervisor and domain builder, against the same source compiled for the
/// host by make (`bench-native`) and run here too. Prints guest instructions, guest MIPS and the slowdown; the
/// last line is <c>cpu: &lt;guest MIPS&gt; MIPS, &lt;slowdown&gt;x native</c>.
/// </summary>
internal static class CpuBenchmark
{
    private const int NativeRuns = 6;
    private const int GuestRuns = 3;
    /// <summary>xencons_interface (io/console.h): in[1024], out[2048], then in_cons, in_prod, out_cons, out_prod.</summary>
    private const int ConsOut = 1024, ConsOutSize = 2048, ConsOutProd = 1024 + 2048 + 12;

    public static int Run(TextWriter stdout, TextWriter stderr)
    {
        string root = RepoRoot();
        string sdk = Path.Combine(root, "guest-sdk");
        string guest = Path.Combine(sdk, "build", "bench", "cpu");
        // Only what the benchmark needs (the compute guest and its native twin), not every SDK guest.
        if (!Make(sdk, stderr, guest, "bench-native")) return 1;
        string native = Path.Combine(sdk, "build", "host", "bench-cpu");

        // Native: best of several runs, half before and half after the guest runs (the machine's load drifts);
        // the binary times its own workload (clock_gettime around it).
        string? nativeResult = null;
        long bestNs = long.MaxValue;
        bool NativeRun()
        {
            var (ok, output) = Exec(native, [], null);
            if (!ok) { stderr.WriteLine($"bench cpu: {native} failed:\n{output}"); return false; }
            foreach (var line in output.Split('\n'))
            {
                if (line.StartsWith("bench-cpu native-ns ", StringComparison.Ordinal)) bestNs = Math.Min(bestNs, long.Parse(line[20..]));
                if (line.StartsWith("bench-cpu result ", StringComparison.Ordinal)) nativeResult = line;
            }
            return true;
        }
        for (int i = 0; i < NativeRuns / 2; i++) if (!NativeRun()) return 1;

        // Emulated: best of several boots of the guest, each on a fresh hypervisor, decode caches and JIT warm-up
        // included in every one (the first run also pays the JIT compiling the hypervisor and the handlers).
        GuestRun? best = null;
        for (int i = 0; i < GuestRuns; i++)
        {
            var run = RunGuest(guest, stderr);
            if (run == null) return 1;
            stdout.WriteLine($"cpu: guest run {i + 1}: {run.Instructions:N0} instructions in {run.Seconds:F3} s (boot included), " +
                             $"process CPU time {run.CpuSeconds:F3} s, {run.Instructions / run.CpuSeconds / 1e6:F0} guest M instructions per CPU second");
            if (best == null || run.Seconds < best.Seconds) best = run;
        }
        for (int i = NativeRuns / 2; i < NativeRuns; i++) if (!NativeRun()) return 1;
        if (nativeResult == null || bestNs == long.MaxValue) { stderr.WriteLine("bench cpu: no result from the native run"); return 1; }
        if (best!.Result != nativeResult)
        {
            stderr.WriteLine($"bench cpu: the guest's result differs from the native one\n  guest:  {best.Result}\n  native: {nativeResult}");
            return 1;
        }

        double guestSeconds = best.Seconds, nativeSeconds = bestNs / 1e9;
        ulong instructions = best.Instructions;
        double mips = instructions / guestSeconds / 1e6;
        double slowdown = guestSeconds / nativeSeconds;
        stdout.WriteLine($"cpu: guest executed {instructions:N0} instructions in {guestSeconds:F3} s (best of {GuestRuns}, boot included); result matches native");
        // CPU time of this process over that guest run (the vCPU thread plus hypervisor, GC and JIT threads): on a
        // loaded machine it shows the interpreter's own cost better than wall time, which the last line reports.
        stdout.WriteLine($"cpu: process CPU time over that guest run {best.CpuSeconds:F3} s, {instructions / best.CpuSeconds / 1e6:F0} guest M instructions per CPU second");
        // Every managed allocation in the process over the run (boot, hypercalls, console): the executor itself
        // allocates only when it decodes a new block.
        stdout.WriteLine($"cpu: managed allocations over that guest run {best.Allocated:N0} bytes, {best.Allocated / (instructions / 1e6):F1} bytes per million guest instructions");
        stdout.WriteLine($"cpu: native run of the same C code: {nativeSeconds * 1000:F1} ms (best of {NativeRuns})");
        stdout.WriteLine($"cpu: {mips:F0} MIPS, {slowdown:F1}x native");
        return 0;
    }

    private sealed record GuestRun(double Seconds, double CpuSeconds, long Allocated, ulong Instructions, string Result);

    /// <summary>Boot the compute guest on the real hypervisor and builder, one vCPU on the emulated platform, and
    /// time it to its shutdown.</summary>
    private static GuestRun? RunGuest(string guest, TextWriter stderr)
    {
        using var memory = new MachineMemory(16384);
        var platform = new EmulatedPlatform { Log = m => stderr.WriteLine(m) };
        using var hv = new Hypervisor.Hypervisor(memory, platform);
        var domain = hv.CreateDomain("bench-cpu", Guid.NewGuid(), 8192, 1);
        var build = DomainBuilder.Build(memory, domain, new PvBuildRequest(KernelImage.Load(guest), null, "", 1, 2));
        using var down = new ManualResetEventSlim();
        hv.DomainShutdown += d => { if (d == domain) down.Set(); };
        using var self = Process.GetCurrentProcess();
        var cpuBefore = self.TotalProcessorTime;
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();
        hv.Unpause(domain);
        if (!down.Wait(TimeSpan.FromMinutes(10))) { stderr.WriteLine("bench cpu: the guest did not finish in 10 minutes"); return null; }
        sw.Stop();
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        self.Refresh();
        double cpuSeconds = (self.TotalProcessorTime - cpuBefore).TotalSeconds;
        var vcpu = (EmulatedVcpu)domain.Vcpus[0].Cpu;
        string console = ReadConsole(memory, build.ConsoleMfn);
        string result = console.Split('\n').FirstOrDefault(l => l.StartsWith("bench-cpu result ", StringComparison.Ordinal)) ?? console;
        return new GuestRun(sw.Elapsed.TotalSeconds, cpuSeconds, allocated, vcpu.InstructionsRetired, result);
    }

    private static string ReadConsole(MachineMemory memory, ulong mfn)
    {
        var page = memory.FrameForRead(mfn);
        uint prod = BinaryPrimitives.ReadUInt32LittleEndian(page[ConsOutProd..]);
        int n = (int)Math.Min(prod, (uint)ConsOutSize);
        return Encoding.ASCII.GetString(page.Slice(ConsOut, n));
    }

    private static bool Make(string sdk, TextWriter stderr, params string[] targets)
    {
        var (ok, output) = Exec("make", ["-s", "-C", sdk, .. targets], null);
        if (!ok) stderr.WriteLine($"bench cpu: make failed:\n{output}");
        return ok;
    }

    private static (bool Ok, string Output) Exec(string file, string[] args, string? cwd)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (cwd != null) psi.WorkingDirectory = cwd;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode == 0, stdout.Result + stderr);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Paravirt.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("not inside the Paravirt checkout");
    }
}
