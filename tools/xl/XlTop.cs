using System.CommandLine;
using System.Globalization;
using System.Text;
using Paravirt.Control;
using Paravirt.Control.Messages;

namespace Paravirt.Xl;

/// <summary>
/// `xl top`: Xen's xl execs xentop(1); this is xentop built in, with its options (-b batch, -i iterations, -d delay,
/// -v vcpus, -x vbds, -n networks, -r repeat header, -f full name, -z dom0 first) and its table
/// (tools/xentop/xentop.c): in batch mode one header and table per iteration and nothing else, so CI can read it;
/// otherwise the screen is cleared and the three summary lines come first.
/// </summary>
public static class XlTop
{
    public static Command Command(XlContext context)
    {
        var batch = new Option<bool>("--batch", "-b") { Description = "output in batch mode, no user input accepted" };
        var iterations = new Option<int>("--iterations", "-i") { Description = "number of iterations before exiting" };
        var delay = new Option<double>("--delay", "-d") { Description = "seconds between updates (default 3)", DefaultValueFactory = _ => 3 };
        var vcpus = new Option<bool>("--vcpus", "-v") { Description = "output vcpu data" };
        var vbds = new Option<bool>("--vbds", "-x") { Description = "output vbd block device data" };
        var networks = new Option<bool>("--networks", "-n") { Description = "output vif network data" };
        var repeat = new Option<bool>("--repeat-header", "-r") { Description = "repeat table header before each domain" };
        var fullName = new Option<bool>("--full-name", "-f") { Description = "output the full domain name (not truncated)" };
        var dom0First = new Option<bool>("--dom0-first", "-z") { Description = "display dom0 first (ignore sorting)" };
        var command = new Command("top", "Monitor a host and the domains in real time")
        {
            batch, iterations, delay, vcpus, vbds, networks, repeat, fullName, dom0First,
        };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            double seconds = result.GetValue(delay);
            int left = result.GetValue(iterations);
            if (!(seconds >= 0 && seconds <= 86400))
                throw new XlFailure($"xl top: invalid delay {seconds.ToString(CultureInfo.InvariantCulture)} (0 to 86400 seconds)", XlExit.Usage);
            var options = new TopOptions(result.GetValue(vcpus), result.GetValue(vbds), result.GetValue(networks),
                result.GetValue(repeat), result.GetValue(fullName), result.GetValue(dom0First));
            bool batchMode = result.GetValue(batch);

            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            TopSample? previous = null;
            while (true)
            {
                var sample = await SampleAsync(client, cancellationToken).ConfigureAwait(false);
                var text = new StringBuilder();
                if (!batchMode)
                {
                    text.Append("\u001b[H\u001b[2J");
                    text.Append(TopFormat.Summary(sample, DateTime.Now, (long)HostCpu.KiloHertz() / 1000));
                }
                text.Append(TopFormat.Table(sample, previous, options));
                await context.Out.WriteAsync(text.ToString()).ConfigureAwait(false);
                await context.Out.FlushAsync(cancellationToken).ConfigureAwait(false);
                previous = sample;
                // xentop: with -i N it stops after N screens; -i 0 (like no -i) runs until interrupted.
                if (left > 0 && --left == 0) return XlExit.Success;
                await Task.Delay(TimeSpan.FromSeconds(seconds), cancellationToken).ConfigureAwait(false);
            }
        }));
        return command;
    }

    private static async Task<TopSample> SampleAsync(ControlClient client, CancellationToken cancellationToken)
    {
        var host = Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.Info }, cancellationToken).ConfigureAwait(false)).Host
            ?? throw new XlFailure("xl: paravirtd sent no host information");
        var domains = Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.List }, cancellationToken).ConfigureAwait(false)).Domains ?? [];
        var disks = new Dictionary<uint, IReadOnlyList<DiskSummary>>();
        foreach (var d in domains)
        {
            // The VBDS column always; the per-device lines only with -x. A domain that died meanwhile has none.
            var reply = await client.RequestAsync(new ControlRequest
            {
                Op = ControlOps.BlockList, Domain = d.DomId.ToString(CultureInfo.InvariantCulture),
            }, cancellationToken).ConfigureAwait(false);
            disks[d.DomId] = reply.Ok ? reply.Disks ?? [] : [];
        }
        return new TopSample(host, domains, disks, DateTime.UtcNow);
    }

    private static ControlResponse Expect(ControlResponse response) =>
        response.Ok ? response : throw new XlFailure(response.Error ?? "paravirtd refused the request");
}

/// <summary>The host CPUs' clock, which both xentop's summary and xl info's cpu_mhz show (physinfo's cpu_khz).</summary>
public static class HostCpu
{
    /// <summary>From /proc/cpuinfo's first "cpu MHz" line; 0 when the host does not say.</summary>
    public static long KiloHertz()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                if (!line.StartsWith("cpu MHz", StringComparison.Ordinal)) continue;
                int colon = line.IndexOf(':');
                if (colon > 0 && double.TryParse(line.AsSpan(colon + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double mhz)
                    && mhz is > 0 and < 1e7)
                    return (long)(mhz * 1000);
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }
}

/// <summary>xentop's display switches.</summary>
public sealed record TopOptions(bool Vcpus = false, bool Vbds = false, bool Networks = false, bool RepeatHeader = false,
    bool FullName = false, bool Dom0First = false);

/// <summary>One reading of the host and its domains, and when it was taken.</summary>
public sealed record TopSample(HostSummary Host, IReadOnlyList<DomainSummary> Domains, IReadOnlyDictionary<uint, IReadOnlyList<DiskSummary>> Disks,
    DateTime TakenUtc);

/// <summary>xentop's text: the summary (do_summary), the header (do_header) and one row per domain (do_domain).</summary>
public static class TopFormat
{
    private static readonly (string Header, int Width)[] Fields =
    [
        ("NAME", 10), ("STATE", 6), ("CPU(sec)", 10), ("CPU(%)", 6), ("MEM(k)", 10), ("MEM(%)", 6), ("MAXMEM(k)", 10),
        ("MAXMEM(%)", 9), ("VCPUS", 5), ("NETS", 4), ("NETTX(k)", 8), ("NETRX(k)", 8), ("VBDS", 4), ("VBD_OO", 8),
        ("VBD_RD", 8), ("VBD_WR", 8), ("VBD_RSECT", 10), ("VBD_WSECT", 10), ("SSID", 4),
    ];

    /// <summary>The header with xentop's default widths (a name no wider than 10).</summary>
    public static string Header => HeaderLine(10);

    private static string HeaderLine(int nameWidth) =>
        string.Join(' ', Fields.Select((f, i) => f.Header.PadLeft(i == 0 ? nameWidth : f.Width)));

    /// <summary>
    /// xentop's summary: program, time and version; the domains per state (each counted once, in the order running,
    /// blocked, paused, shutdown, crashed, dying); memory in KiB; CPUs and their clock.
    /// </summary>
    public static string Summary(TopSample sample, DateTime localNow, long cpuMhz)
    {
        var h = sample.Host;
        int run = 0, block = 0, pause = 0, shutdown = 0, crash = 0, dying = 0;
        foreach (var d in sample.Domains)
        {
            string s = d.State;
            if (Flag(s, 0)) run++;
            else if (Flag(s, 1)) block++;
            else if (Flag(s, 2)) pause++;
            else if (Flag(s, 3)) shutdown++;
            else if (Crashed(s)) crash++;
            else if (Flag(s, 5)) dying++;
        }
        long total = h.TotalMemoryMiB * 1024, free = h.FreeMemoryMiB * 1024;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"xentop - {localNow:HH:mm:ss}   Xen {h.XenMajor}.{h.XenMinor}{h.XenExtra}\n");
        text.Append(CultureInfo.InvariantCulture,
            $"{sample.Domains.Count} domains: {run} running, {block} blocked, {pause} paused, {crash} crashed, {dying} dying, {shutdown} shutdown \n");
        text.Append(CultureInfo.InvariantCulture, $"Mem: {total}k total, {total - free}k used, {free}k free    CPUs: {h.NrCpus} @ {cpuMhz}MHz\n");
        return text.ToString();
    }

    /// <summary>
    /// The table: sorted by name without regard to case (xentop's default sort), Dom0 first with -z; CPU(%) is the CPU
    /// time used since <paramref name="previous"/> over the wall time between the samples, 0 without one.
    /// </summary>
    public static string Table(TopSample sample, TopSample? previous, TopOptions options)
    {
        var domains = sample.Domains.ToList();
        DomainSummary? dom0 = options.Dom0First ? domains.FirstOrDefault(d => d.Name == "Domain-0") : null;
        if (dom0 is not null) domains.Remove(dom0);
        domains.Sort((a, b) => string.Compare(a.Name, b.Name, StringComparison.OrdinalIgnoreCase));
        if (dom0 is not null) domains.Insert(0, dom0);

        int nameWidth = options.FullName ? Math.Max(10, domains.Select(d => d.Name.Length).DefaultIfEmpty(0).Max()) : 10;
        double elapsed = previous is null ? 0 : (sample.TakenUtc - previous.TakenUtc).TotalSeconds;
        long hostKiB = sample.Host.TotalMemoryMiB * 1024;
        var text = new StringBuilder();
        for (int i = 0; i < domains.Count; i++)
        {
            var d = domains[i];
            if (i == 0 || options.RepeatHeader) text.Append(HeaderLine(nameWidth)).Append('\n');
            double pct = 0;
            if (previous?.Domains.FirstOrDefault(p => p.DomId == d.DomId) is { } before && elapsed > 0)
                pct = Math.Max(0, (d.CpuTimeSeconds - before.CpuTimeSeconds) * 100 / elapsed);
            var disks = sample.Disks.GetValueOrDefault(d.DomId) ?? [];
            text.Append(Row(d, pct, hostKiB, disks.Count, nameWidth, options.FullName, disks)).Append('\n');
            if (options.Vcpus) text.Append(VcpuLine(d));
            if (options.Vbds)
                foreach (var disk in disks) text.Append(VbdLine(disk));
            // -n: one line per network interface; Paravirt domains have none yet, so there is nothing to print.
        }
        return text.ToString();
    }

    /// <summary>One do_domain row.</summary>
    /// <param name="disks">The domain's devices, whose blkback counters are summed as xentop sums them; a device
    /// without counters makes the totals unavailable ('-').</param>
    public static string Row(DomainSummary d, double cpuPercent, long hostKiB, int vbds, int nameWidth = 10, bool fullName = false,
        IReadOnlyList<DiskSummary>? disks = null)
    {
        string name = fullName ? d.Name.PadLeft(nameWidth) : (d.Name.Length > 10 ? d.Name[..10] : d.Name).PadLeft(10);
        long memKiB = d.MemoryMiB * 1024;
        var row = new StringBuilder();
        row.Append(name).Append(' ').Append(State(d.State)).Append(' ');
        row.Append(CultureInfo.InvariantCulture, $"{(ulong)Math.Max(0, d.CpuTimeSeconds),10} {F1(cpuPercent),6} {memKiB,10} {F1(Percent(memKiB, hostKiB)),6} ");
        if (d.MaxKiB > 0)
            row.Append(CultureInfo.InvariantCulture, $"{d.MaxKiB,10} {F1(Percent(d.MaxKiB, hostKiB)),9} ");
        else
            row.Append(CultureInfo.InvariantCulture, $"{"no limit",10} {"n/a",9} ");
        row.Append(CultureInfo.InvariantCulture, $"{d.Vcpus,5} {0,4} {0,8} {0,8} {vbds,4} ");
        // A domain with no device totals 0; one whose devices' statistics cannot all be read shows '-'.
        if (vbds == 0)
            row.Append(CultureInfo.InvariantCulture, $"{0,8} {0,8} {0,8} {0,10} {0,10} ");
        else if (disks is { Count: > 0 } && disks.All(HasStatistics))
            row.Append(CultureInfo.InvariantCulture,
                $"{disks.Sum(x => x.OoReq),8} {disks.Sum(x => x.RdReq),8} {disks.Sum(x => x.WrReq),8} {disks.Sum(x => x.RdSect),10} {disks.Sum(x => x.WrSect),10} ");
        else
            row.Append(CultureInfo.InvariantCulture, $"{'-',8} {'-',8} {'-',8} {'-',10} {'-',10} ");
        row.Append(CultureInfo.InvariantCulture, $"{0,4}");
        return row.ToString();
    }

    /// <summary>xentop's state letters, in its order d s b c p r (xl list's are r b p s, the shutdown reason, d).</summary>
    public static string State(string listState)
    {
        Span<char> letters = stackalloc char[6];
        ReadOnlySpan<(int Index, char Letter)> order = [(5, 'd'), (3, 's'), (1, 'b'), (4, 'c'), (2, 'p'), (0, 'r')];
        for (int i = 0; i < 6; i++)
            letters[i] = (order[i].Index == 4 ? Crashed(listState) : Flag(listState, order[i].Index)) ? order[i].Letter : '-';
        return new string(letters);
    }

    /// <summary>do_vcpu: "VCPUs(sec): " then " %2u: %10llus" per online vCPU, five to a line.</summary>
    public static string VcpuLine(DomainSummary d)
    {
        var text = new StringBuilder("VCPUs(sec): ");
        foreach (var v in d.VcpuStates ?? [])
        {
            if (!v.Online) continue;
            if (v.Id != 0 && v.Id % 5 == 0) text.Append("\n        ");
            text.Append(CultureInfo.InvariantCulture, $" {v.Id,2}: {(ulong)Math.Max(0, v.CpuTimeSeconds),10}s");
        }
        return text.Append('\n').ToString();
    }

    /// <summary>do_vbd: type, device number, [major:minor], then the counters ('-' where the back-end has none).</summary>
    public static string VbdLine(DiskSummary disk)
    {
        uint major = disk.DevId >> 8, minor = disk.DevId & 0xff;
        string details = string.Create(CultureInfo.InvariantCulture, $"[{major,2:x}:{minor,2:x}] ");
        if (HasStatistics(disk))
            return string.Create(CultureInfo.InvariantCulture,
                $"VBD BlkBack {disk.DevId,4} {details} OO: {disk.OoReq,8}   RD: {disk.RdReq,8}   WR: {disk.WrReq,8}   RSECT: {disk.RdSect,10}   WSECT: {disk.WrSect,10}\n");
        return string.Create(CultureInfo.InvariantCulture,
            $"VBD BlkBack {disk.DevId,4} {details} OO: {'-',8}   RD: {'-',8}   WR: {'-',8}   RSECT: {'-',10}   WSECT: {'-',10}\n");
    }

    private static bool HasStatistics(DiskSummary disk) =>
        disk.OoReq >= 0 && disk.RdReq >= 0 && disk.WrReq >= 0 && disk.RdSect >= 0 && disk.WrSect >= 0;

    /// <summary>printf's %.1f (glibc rounds the exact binary value, ties to even).</summary>
    private static string F1(double value) => DomainListFormat.OneDecimal(double.IsFinite(value) && value > 0 ? value : 0);

    private static double Percent(long part, long whole) => whole > 0 ? part * 100.0 / whole : 0;

    /// <summary>xl list's fifth letter is the shutdown reason ("-rscwS"); xentop's crashed flag is reason crash.</summary>
    private static bool Crashed(string state) => state.Length > 4 && state[4] == 'c';

    private static bool Flag(string state, int index) => index < state.Length && state[index] is not '-' and not ' ';
}
