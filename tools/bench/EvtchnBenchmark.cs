using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Paravirt.Cpu;
using Paravirt.Cpu.Emulated;
using Paravirt.Hypervisor;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;

namespace Paravirt.Bench;

/// <summary>
/// `./bench evtchn`: the pingpong example (guest-sdk/examples/pingpong) run through the real toolstack — `xl create`
/// twice against a private paravirtd — for <see cref="DefaultRounds"/> round trips (EVTCHNOP_send + SCHEDOP_poll on
/// each side, on the emulated CPU). The guests time themselves with their PV clock. The baseline, measured in the
/// same run, is a host-only round trip: two host threads bouncing an event over a loopback interdomain channel of
/// Domain-0 through the same <see cref="EventChannelTable"/> typed operations (no guest, no emulated CPU).
/// Last line: <c>evtchn: &lt;round trip&gt; us round trip, &lt;events/s&gt; events/s</c>.
/// </summary>
internal static class EvtchnBenchmark
{
    /// <summary>The issue's 10^5 round trips; `--rounds` lowers it for a quick look.</summary>
    public const int DefaultRounds = 100_000;
    private const int BaselineRounds = 200_000;

    public static int Run(TextWriter stdout, TextWriter stderr, int rounds)
    {
        if (rounds < 1 || rounds > 10_000_000) { stderr.WriteLine("bench evtchn: rounds must be 1..10000000"); return 1; }
        string root = RepoRoot();
        string xl = Path.Combine(root, "xl");
        string cfg = Path.Combine(root, "xl-config", "examples", "pingpong.cfg");
        string runDir = Path.Combine(Path.GetTempPath(), "paravirt-bench-evtchn-" + Guid.NewGuid().ToString("N")[..12]);
        // The baseline first, while no guest competes for the host's cores.
        double baseUs = HostRoundTripUs(BaselineRounds);
        Directory.CreateDirectory(runDir);
        try
        {
            // The ping side: console attached, waits for a peer.
            using var ping = Start(xl, runDir, "create", "-c", cfg, "name=bench-ping");
            if (!WaitFor(() => ping.Output.Contains("waiting for a peer", StringComparison.Ordinal), ping.Process, TimeSpan.FromMinutes(5)))
            {
                stderr.WriteLine("bench evtchn: the ping domain did not come up:\n" + ping.Output);
                return 1;
            }
            var (idOk, idOut) = Exec(xl, runDir, TimeSpan.FromMinutes(1), "domid", "bench-ping");
            if (!idOk || !ushort.TryParse(idOut.Trim(), CultureInfo.InvariantCulture, out ushort pingId))
            {
                stderr.WriteLine("bench evtchn: xl domid bench-ping failed:\n" + idOut);
                return 1;
            }

            var wall = Stopwatch.StartNew();
            var (ok, pong) = Exec(xl, runDir, TimeSpan.FromHours(2), "create", "-c", cfg, "name=bench-pong",
                $"extra=\"peer={pingId} rounds={rounds}\"");
            wall.Stop();
            var took = Regex.Match(pong, @"pong: (\d+) round trips took (\d+) ns\n");
            if (!ok || !took.Success || took.Groups[1].Value != rounds.ToString(CultureInfo.InvariantCulture))
            {
                stderr.WriteLine("bench evtchn: the pong domain did not finish its round trips:\n" + pong);
                return 1;
            }
            if (!ping.Process.WaitForExit(60_000) || !ping.Output.Contains($"ping: answered {rounds} events\n", StringComparison.Ordinal))
            {
                stderr.WriteLine("bench evtchn: the ping domain did not answer every event:\n" + ping.Output);
                return 1;
            }
            double guestNs = double.Parse(took.Groups[2].Value, CultureInfo.InvariantCulture);
            double rttUs = guestNs / rounds / 1000;
            double eventsPerSecond = 2.0 * rounds / (guestNs / 1e9);

            stdout.WriteLine($"evtchn: guests ping and pong (xl create, emulated CPU): {rounds:N0} round trips in {guestNs / 1e9:F3} s "
                + $"(guest PV clock; pong's whole xl create, boot included, {wall.Elapsed.TotalSeconds:F1} s)");
            stdout.WriteLine($"evtchn: baseline, two host threads over a Domain-0 loopback channel (EventChannelTable.Send): "
                + $"{baseUs:F2} us round trip ({BaselineRounds:N0} round trips); guests are {rttUs / baseUs:F1}x the baseline");
            stdout.WriteLine($"evtchn: {rttUs:F2} us round trip, {eventsPerSecond:F0} events/s");
            return 0;
        }
        finally
        {
            StopDaemon(runDir);
            try { Directory.Delete(runDir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Two host threads, each owning one end of an interdomain channel Domain-0 has with itself: a send on one end runs
    /// the other end's handler, which wakes the thread owning it, which sends back. Returns microseconds per round trip.
    /// </summary>
    private static double HostRoundTripUs(int rounds)
    {
        using var memory = new MachineMemory(1024);
        using var hv = new Hypervisor.Hypervisor(memory, new EmulatedPlatform());
        var dom0 = hv.Dom0;
        Check(EventChannelTable.AllocUnbound(dom0, DomId.Self, DomId.Self, out uint a), "alloc_unbound");
        Check(EventChannelTable.BindInterdomain(dom0, DomId.Self, a, out uint b), "bind_interdomain");
        using var atA = new SemaphoreSlim(0);
        using var atB = new SemaphoreSlim(0);
        dom0.EventChannels.SetHandler(a, () => atA.Release());
        dom0.EventChannels.SetHandler(b, () => atB.Release());
        // bind_interdomain marks the new port pending (its handler already ran): start from clean.
        while (atB.Wait(0)) { }

        var pong = new Thread(() =>
        {
            for (int i = 0; i < rounds; i++)
            {
                atB.Wait();
                Check(EventChannelTable.Send(dom0, b), "send");
            }
        }) { IsBackground = true, Name = "evtchn-baseline-pong" };
        pong.Start();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < rounds; i++)
        {
            Check(EventChannelTable.Send(dom0, a), "send");
            atA.Wait();
        }
        sw.Stop();
        pong.Join();
        EventChannelTable.Close(dom0, a);
        return sw.Elapsed.TotalMicroseconds / rounds;
    }

    private static void Check(int rc, string op)
    {
        if (rc != 0) throw new InvalidOperationException($"bench evtchn baseline: {op} returned {rc}");
    }

    private sealed class Running : IDisposable
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

    private static ProcessStartInfo Psi(string xl, string runDir, string[] args)
    {
        var psi = new ProcessStartInfo(xl)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["PARAVIRT_RUNDIR"] = runDir;
        return psi;
    }

    private static Running Start(string xl, string runDir, params string[] args)
    {
        var p = Process.Start(Psi(xl, runDir, args))!;
        p.StandardInput.Close();
        return new Running(p);
    }

    private static (bool Ok, string Output) Exec(string xl, string runDir, TimeSpan timeout, params string[] args)
    {
        using var p = Process.Start(Psi(xl, runDir, args))!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            return (false, $"timed out after {timeout}\n{stdout.Result}{stderr.Result}");
        }
        return (p.ExitCode == 0, stdout.Result + stderr.Result);
    }

    private static bool WaitFor(Func<bool> condition, Process p, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout && !p.HasExited)
        {
            if (condition()) return true;
            Thread.Sleep(50);
        }
        return condition();
    }

    /// <summary>The private paravirtd xl started for this run.</summary>
    private static void StopDaemon(string runDir)
    {
        var pidFile = Path.Combine(runDir, "paravirtd.pid");
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
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Paravirt.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("not inside the Paravirt checkout");
    }
}
