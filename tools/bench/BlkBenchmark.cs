using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Win32.SafeHandles;

namespace Paravirt.Bench;

/// <summary>
/// `./bench blk`: the blk example in bench mode (guest-sdk/examples/blk, extra="bench ...") booted through `xl create
/// -c` with a RAM-backed raw image in /dev/shm, so the guest's I/O goes blkfront → ring/grants/event channel → blkback
/// in Dom0 → the file. The guest times its own phases with the PV clock: sequential write (+ flush) and read of the
/// image in 256 KiB calls, then random 4 KiB reads and writes. The same I/O is then done directly on the same file
/// from this process, and each guest figure is printed next to the host's. The last line is
/// <c>blk: &lt;seq read MB/s&gt; MB/s seq read, &lt;ratio&gt;x host; &lt;4k random read IOPS&gt; IOPS</c>
/// (ratio = guest / host).
/// </summary>
internal static class BlkBenchmark
{
    public const int DefaultMiB = 64, DefaultOps = 20000;
    private const int Chunk = 256 * 1024, Page = 4096;
    private static readonly Regex Phase = new(@"^blkbench: (\w+) bytes=(\d+) ops=(\d+) ns=(\d+)$", RegexOptions.Multiline);

    private readonly record struct Result(long Bytes, long Ops, long Ns)
    {
        public double MBps => Ns == 0 ? 0 : Bytes / 1e6 / (Ns / 1e9);
        public double Iops => Ns == 0 ? 0 : Ops / (Ns / 1e9);
    }

    public static int Run(TextWriter stdout, TextWriter stderr, int mib, int ops)
    {
        if (mib < 1 || mib > 4096) { stderr.WriteLine("bench blk: --mib must be 1..4096"); return 1; }
        if (ops < 1 || ops > 10_000_000) { stderr.WriteLine("bench blk: --ops must be 1..10000000"); return 1; }
        if (!Directory.Exists("/dev/shm")) { stderr.WriteLine("bench blk: /dev/shm is missing (the image must be RAM-backed)"); return 1; }
        string root = RepoRoot();
        string xl = Path.Combine(root, "xl");
        string cfg = Path.Combine(root, "xl-config", "examples", "blk.cfg");
        string id = Guid.NewGuid().ToString("N")[..12];
        string runDir = Path.Combine(Path.GetTempPath(), "paravirt-bench-blk-" + id);
        string image = Path.Combine("/dev/shm", "paravirt-bench-blk-" + id + ".img");
        long bytes = (long)mib << 20;
        Directory.CreateDirectory(runDir);
        try
        {
            using (var f = new FileStream(image, FileMode.CreateNew)) f.SetLength(bytes);
            const ulong seed = 1;
            var wall = Stopwatch.StartNew();
            var (ok, output) = Exec(xl, runDir, TimeSpan.FromHours(1), "create", "-c", cfg, "name=bench-blk",
                $"disk=[\"{image},raw,xvda,rw\"]", $"extra=\"bench mib={mib} ops={ops} seed={seed}\"");
            wall.Stop();
            var guest = new Dictionary<string, Result>();
            foreach (Match m in Phase.Matches(output))
                guest[m.Groups[1].Value] = new Result(long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture),
                    long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture), long.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture));
            string[] phases = ["seqwrite", "seqread", "randread", "randwrite"];
            if (!ok || phases.Any(p => !guest.ContainsKey(p)) || !output.Contains("blk: done (", StringComparison.Ordinal))
            {
                stderr.WriteLine("bench blk: the guest run failed:\n" + output);
                return 1;
            }
            var header = output.Split('\n').FirstOrDefault(l => l.StartsWith("blk: device/", StringComparison.Ordinal)) ?? "";
            stdout.WriteLine($"blk: guest (xl create, emulated CPU, blkfront/blkback, /dev/shm image of {mib} MiB, {ops:N0} random ops): "
                             + $"xl create took {wall.Elapsed.TotalSeconds:F1} s with boot");
            if (header.Length > 0) stdout.WriteLine("blk: " + header[5..]);

            var host = HostRun(image, bytes, ops, seed);
            stdout.WriteLine($"blk: {"phase",-10} {"guest MB/s",11} {"guest IOPS",11} {"host MB/s",11} {"host IOPS",11} {"ratio",8}");
            foreach (var p in phases)
            {
                var g = guest[p];
                var h = host[p];
                stdout.WriteLine($"blk: {p,-10} {g.MBps,11:F1} {g.Iops,11:F0} {h.MBps,11:F1} {h.Iops,11:F0} {Ratio(g.MBps, h.MBps),8}x");
            }
            var sr = guest["seqread"];
            stdout.WriteLine($"blk: {sr.MBps:F1} MB/s seq read, {Ratio(sr.MBps, host["seqread"].MBps)}x host; {guest["randread"].Iops:F0} IOPS");
            return 0;
        }
        finally
        {
            StopDaemon(runDir);
            try { Directory.Delete(runDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            try { File.Delete(image); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static string Ratio(double guest, double host) =>
        host <= 0 ? "n/a" : (guest / host).ToString(guest / host >= 0.1 ? "F2" : "G2", CultureInfo.InvariantCulture);

    /// <summary>The guest's workload on the file itself: same sizes, same call granularity, same operation counts.</summary>
    private static Dictionary<string, Result> HostRun(string image, long bytes, int ops, ulong seed)
    {
        var results = new Dictionary<string, Result>();
        var buf = new byte[Chunk];
        new Random((int)seed).NextBytes(buf);
        using SafeFileHandle h = File.OpenHandle(image, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        long calls = (bytes + Chunk - 1) / Chunk;

        var sw = Stopwatch.StartNew();
        for (long off = 0; off < bytes; off += Chunk)
            RandomAccess.Write(h, buf.AsSpan(0, (int)Math.Min(Chunk, bytes - off)), off);
        RandomAccess.FlushToDisk(h);
        results["seqwrite"] = new Result(bytes, calls, sw.Elapsed.Ticks * 100);

        sw.Restart();
        for (long off = 0; off < bytes; off += Chunk)
            RandomAccess.Read(h, buf.AsSpan(0, (int)Math.Min(Chunk, bytes - off)), off);
        results["seqread"] = new Result(bytes, calls, sw.Elapsed.Ticks * 100);

        long pages = bytes / Page;
        var rng = new Random(unchecked((int)seed * 7919));
        var offsets = new long[ops];
        for (int i = 0; i < ops; i++) offsets[i] = rng.NextInt64(pages) * Page;
        sw.Restart();
        foreach (long off in offsets) RandomAccess.Read(h, buf.AsSpan(0, Page), off);
        results["randread"] = new Result((long)ops * Page, ops, sw.Elapsed.Ticks * 100);
        sw.Restart();
        foreach (long off in offsets) RandomAccess.Write(h, buf.AsSpan(0, Page), off);
        results["randwrite"] = new Result((long)ops * Page, ops, sw.Elapsed.Ticks * 100);
        RandomAccess.FlushToDisk(h);
        return results;
    }

    private static (bool Ok, string Output) Exec(string xl, string runDir, TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo(xl)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["PARAVIRT_RUNDIR"] = runDir;
        using var p = Process.Start(psi)!;
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
