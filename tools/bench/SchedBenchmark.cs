using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Paravirt.Cpu;
using Paravirt.Cpu.Emulated;
using Paravirt.Hypervisor;
using Paravirt.Hypervisor.Boot;

namespace Paravirt.Bench;

/// <summary>
/// `./bench sched`: the credit scheduler with real guests on the emulated CPU, on a hypervisor given one pCPU.
/// (a) two spinning guests (guest-sdk/tests/spin) at weights 512 and 256 share the pCPU: their CPU times against
/// the expected 2:1; (b) one spinning guest capped at 25% alone on the pCPU: its CPU use against the cap; (c) a guest
/// blocked in SCHEDOP_block (guest-sdk/tests/idle): the host CPU this process uses (getrusage) over a window, against
/// the same window with no guest at all measured first in the same run. Acceptance for (c): under 1% of a core.
/// </summary>
internal static partial class SchedBenchmark
{
    /// <summary>xencons_interface (io/console.h): out[2048] at 1024; out_prod at 1024 + 2048 + 12.</summary>
    private const int ConsOut = 1024, ConsOutSize = 2048, ConsOutProd = 1024 + 2048 + 12;

    public static int Run(TextWriter stdout, TextWriter stderr, double seconds)
    {
        if (seconds is < 0.5 or > 600) { stderr.WriteLine("bench sched: --seconds must be 0.5..600"); return 1; }
        string sdk = Path.Combine(RepoRoot(), "guest-sdk");
        string spin = Path.Combine(sdk, "build", "tests", "spin"), idle = Path.Combine(sdk, "build", "tests", "idle");
        var (made, makeOutput) = Exec("make", ["-s", "-C", sdk, spin, idle]);
        if (!made) { stderr.WriteLine($"bench sched: make failed:\n{makeOutput}"); return 1; }

        using var memory = new MachineMemory(65536);
        var platform = new EmulatedPlatform { Log = m => stderr.WriteLine(m) };
        using var hv = new Hypervisor.Hypervisor(memory, platform, pcpus: 1);
        var window = TimeSpan.FromSeconds(seconds);

        // (c) first, the baseline: this process with the hypervisor up and no guest (after a moment for the JIT and
        // start-up threads to settle), then the same with an idle guest.
        Thread.Sleep(500);
        double baseCore = ProcessCpuShare(window);
        var idler = Boot(hv, memory, idle, "idle");
        if (!WaitForConsole(memory, idler.Console, "idle: blocking", TimeSpan.FromMinutes(2)))
        {
            stderr.WriteLine("bench sched: the idle guest did not reach SCHEDOP_block:\n" + ReadConsole(memory, idler.Console));
            return 1;
        }
        Thread.Sleep(200); // its boost and last credit settle
        double idleCore = ProcessCpuShare(window);
        bool idleBlocked = idler.Domain.Vcpus[0].IsBlocked;
        double idleGuestCpu = idler.Domain.CpuTimeSeconds;
        hv.DestroyDomain(idler.Domain);

        // (a) two spinners at 512:256 on the one pCPU.
        var heavy = Boot(hv, memory, spin, "spin-512", weight: 512, start: false);
        var light = Boot(hv, memory, spin, "spin-256", weight: 256, start: false);
        hv.Unpause(heavy.Domain);
        hv.Unpause(light.Domain);
        if (!WaitForConsole(memory, heavy.Console, "spinning", TimeSpan.FromMinutes(2)) || !WaitForConsole(memory, light.Console, "spinning", TimeSpan.FromMinutes(2)))
        {
            stderr.WriteLine("bench sched: the spinning guests did not start");
            return 1;
        }
        Thread.Sleep(300);
        double h0 = heavy.Domain.CpuTimeSeconds, l0 = light.Domain.CpuTimeSeconds;
        var wall = Stopwatch.StartNew();
        Thread.Sleep(window);
        double hs = heavy.Domain.CpuTimeSeconds - h0, ls = light.Domain.CpuTimeSeconds - l0, span = wall.Elapsed.TotalSeconds;
        hv.DestroyDomain(heavy.Domain);
        hv.DestroyDomain(light.Domain);

        // (b) one spinner capped at 25% of the pCPU, alone.
        const int cap = 25;
        var capped = Boot(hv, memory, spin, "spin-cap", cap: cap);
        if (!WaitForConsole(memory, capped.Console, "spinning", TimeSpan.FromMinutes(2)))
        {
            stderr.WriteLine("bench sched: the capped guest did not start");
            return 1;
        }
        Thread.Sleep(300);
        double c0 = capped.Domain.CpuTimeSeconds;
        var capWall = Stopwatch.StartNew();
        Thread.Sleep(window);
        double cs = capped.Domain.CpuTimeSeconds - c0, capSpan = capWall.Elapsed.TotalSeconds;
        hv.DestroyDomain(capped.Domain);

        double ratio = ls > 0 ? hs / ls : double.PositiveInfinity;
        stdout.WriteLine($"sched: one pCPU, credit scheduler (tslice 30 ms, ratelimit 1000 us), {seconds:F1} s windows, emulated CPU");
        stdout.WriteLine($"sched: (a) weights 512:256, two spinning guests: {hs:F2} s : {ls:F2} s of CPU over {span:F2} s "
            + $"({hs / span:P1} : {ls / span:P1}); ratio {ratio:F2} against the expected 2.00 ({(ratio / 2 - 1):+0.0%;-0.0%})");
        stdout.WriteLine($"sched: (b) cap {cap}%, one spinning guest alone: {cs / capSpan:P1} of the pCPU over {capSpan:F2} s "
            + $"({(cs / capSpan * 100 / cap - 1):+0.0%;-0.0%} against the cap)");
        stdout.WriteLine($"sched: (c) idle guest blocked in SCHEDOP_block (vCPU blocked: {(idleBlocked ? "yes" : "no")}, {idleGuestCpu * 1000:F0} ms of guest CPU in all, boot included): "
            + $"process {idleCore:P2} of a core, baseline without guests {baseCore:P2}; the guest adds {(idleCore - baseCore):P2} "
            + $"({(idleCore - baseCore < 0.01 ? "under" : "OVER")} the 1% acceptance)");
        return 0;
    }

    private sealed record Guest(Domain Domain, ulong Console);

    private static Guest Boot(Hypervisor.Hypervisor hv, MachineMemory memory, string kernel, string name, int? weight = null, int? cap = null, bool start = true)
    {
        var d = hv.CreateDomain(name, Guid.NewGuid(), 4096, 1);
        if (d.SetSchedParams(weight, cap) != 0) throw new InvalidOperationException($"weight {weight} / cap {cap} refused");
        var built = DomainBuilder.Build(memory, d, new PvBuildRequest(KernelImage.Load(kernel), null, "", 1, 2));
        if (start) hv.Unpause(d);
        return new Guest(d, built.ConsoleMfn);
    }

    /// <summary>This process's CPU time (getrusage RUSAGE_SELF: every thread) over <paramref name="window"/>, per wall second.</summary>
    private static double ProcessCpuShare(TimeSpan window)
    {
        long before = ProcessCpuMicros();
        var wall = Stopwatch.StartNew();
        Thread.Sleep(window);
        long after = ProcessCpuMicros();
        return (after - before) / 1e6 / wall.Elapsed.TotalSeconds;
    }

    private static long ProcessCpuMicros()
    {
        if (GetRusage(0, out var u) != 0) throw new InvalidOperationException($"getrusage failed: errno {Marshal.GetLastPInvokeError()}");
        return u.UtimeSec * 1_000_000 + u.UtimeUsec + u.StimeSec * 1_000_000 + u.StimeUsec;
    }

    /// <summary>struct rusage (x86-64 Linux): ru_utime and ru_stime (struct timeval) first, then 14 longs.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Rusage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec;
        public long MaxRss, IxRss, IdRss, IsRss, MinFlt, MajFlt, NSwap, InBlock, OuBlock, MsgSnd, MsgRcv, NSignals, NvCsw, NivCsw;
    }

    [LibraryImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static partial int GetRusage(int who, out Rusage usage);

    private static bool WaitForConsole(MachineMemory memory, ulong mfn, string text, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (ReadConsole(memory, mfn).Contains(text, StringComparison.Ordinal)) return true;
            Thread.Sleep(20);
        }
        return false;
    }

    private static string ReadConsole(MachineMemory memory, ulong mfn)
    {
        var page = memory.FrameForRead(mfn);
        uint prod = BinaryPrimitives.ReadUInt32LittleEndian(page[ConsOutProd..]);
        int n = (int)Math.Min(prod, (uint)ConsOutSize);
        return Encoding.ASCII.GetString(page.Slice(ConsOut, n));
    }

    private static (bool Ok, string Output) Exec(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode == 0, output.Result + error);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Paravirt.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("not inside the Paravirt checkout");
    }
}
