using System.CommandLine;
using System.Globalization;
using System.Text;
using Paravirt.Control;
using Paravirt.Control.Messages;

namespace Paravirt.Xl;

/// <summary>
/// The xl commands that act on running domains beyond create/console: shutdown, reboot, rename, domid, domname,
/// uptime, mem-set, mem-max and info. Messages and formats follow tools/xl/xl_vmcontrol.c, xl_misc.c, xl_info.c.
/// </summary>
public static class XlDomainCommands
{
    public static Command Shutdown(XlContext context) => StopCommand(context, reboot: false);
    public static Command Reboot(XlContext context) => StopCommand(context, reboot: true);

    private static Command StopCommand(XlContext context, bool reboot)
    {
        string name = reboot ? "reboot" : "shutdown";
        var all = new Option<bool>("--all", "-a") { Description = $"{(reboot ? "Reboot" : "Shutdown")} all guest domains." };
        var wait = new Option<bool>("--wait", "-w") { Description = $"Wait for guest(s) {(reboot ? "reboot" : "shutdown")} to complete." };
        var force = new Option<bool>("-F") { Description = "Stop a guest without PV control support at once (forced fallback)." };
        var domain = new Argument<string?>("Domain") { Arity = ArgumentArity.ZeroOrOne };
        var command = new Command(name, reboot ? "Issue a reboot signal to a domain" : "Issue a shutdown signal to a domain")
        {
            all, wait, force, domain,
        };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            bool everyone = result.GetValue(all);
            string? target = result.GetValue(domain);
            if (everyone == (target is not null))
                throw new XlFailure(everyone ? $"xl {name}: -a takes no domain" : $"'xl {name}' requires at least 1 argument.", XlExit.Usage);
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);

            List<DomainSummary> victims;
            if (everyone)
            {
                victims = (Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.List }, cancellationToken).ConfigureAwait(false))
                    .Domains ?? []).Where(d => d.DomId != 0).ToList();
            }
            else
            {
                victims = Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.List, Domain = target }, cancellationToken)
                    .ConfigureAwait(false)).Domains ?? [];
            }

            if (!result.GetValue(wait))
            {
                foreach (var victim in victims)
                {
                    await context.Error.WriteLineAsync($"{(reboot ? "Rebooting" : "Shutting down")} domain {victim.DomId}").ConfigureAwait(false);
                    Expect(await client.RequestAsync(Request(victim, result.GetValue(force), wait: false), cancellationToken).ConfigureAwait(false));
                }
                return XlExit.Success;
            }

            // Ask every domain first, then wait for them all (xl's shutdown_domain then wait_for_domain_deaths). Each
            // request waits on its own connection; the daemon takes the domain's end before asking, so none is missed.
            var waits = new List<(DomainSummary Domain, ControlClient Waiter, Task<ControlResponse> Reply)>();
            try
            {
                foreach (var victim in victims)
                {
                    await context.Error.WriteLineAsync($"{(reboot ? "Rebooting" : "Shutting down")} domain {victim.DomId}").ConfigureAwait(false);
                    var waiter = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
                    waits.Add((victim, waiter, waiter.RequestAsync(Request(victim, result.GetValue(force), wait: true), cancellationToken)));
                }
                await context.Error.WriteLineAsync($"Waiting for {waits.Count} domains").ConfigureAwait(false);
                foreach (var (victim, _, reply) in waits)
                {
                    var ended = Expect(await reply.ConfigureAwait(false));
                    int code = ended.End is { } end ? (int)end.Reason : 0;
                    await context.Error.WriteLineAsync($"Domain {victim.DomId} has been shut down, reason code {code}").ConfigureAwait(false);
                }
                await context.Error.WriteLineAsync($"All domains have been {(reboot ? "rebooted" : "shut down")}").ConfigureAwait(false);
                return XlExit.Success;
            }
            finally
            {
                foreach (var (_, waiter, _) in waits) waiter.Dispose();
            }
        }));
        return command;

        ControlRequest Request(DomainSummary victim, bool forced, bool wait) => new()
        {
            Op = ControlOps.Shutdown, Domain = Id(victim), Reboot = reboot, Force = forced, WaitForEnd = wait,
        };
    }

    public static Command Rename(XlContext context)
    {
        var domain = new Argument<string>("Domain");
        var newName = new Argument<string>("NewName");
        var command = new Command("rename", "Rename a domain") { domain, newName };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var reply = await client.RequestAsync(new ControlRequest
            {
                Op = ControlOps.Rename, Domain = result.GetValue(domain), NewName = result.GetValue(newName),
            }, cancellationToken).ConfigureAwait(false);
            if (!reply.Ok)
                throw new XlFailure($"Can't rename domain '{result.GetValue(domain)}': {reply.Error}");
            return XlExit.Success;
        }));
        return command;
    }

    public static Command DomId(XlContext context)
    {
        var domain = new Argument<string>("Domain-Name");
        var command = new Command("domid", "Convert a domain name to domain id") { domain };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            string name = result.GetValue(domain)!;
            var found = await FindAsync(context, name, cancellationToken).ConfigureAwait(false);
            // xl domid takes a name only (libxl_name_to_domid); a number is not a name.
            if (found is null || found.Name != name)
                throw new XlFailure($"Can't get domid of domain name '{name}', maybe this domain does not exist.");
            await context.Out.WriteLineAsync(found.DomId.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
            return XlExit.Success;
        }));
        return command;
    }

    public static Command DomName(XlContext context)
    {
        var domain = new Argument<string>("Domain-Id");
        var command = new Command("domname", "Convert a domain id to domain name") { domain };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            string text = result.GetValue(domain)!;
            if (!uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                throw new XlFailure($"Invalid domain id.");
            var found = await FindAsync(context, text, cancellationToken).ConfigureAwait(false)
                ?? throw new XlFailure($"Can't get domain name of domain id '{text}', maybe this domain does not exist.");
            await context.Out.WriteLineAsync(found.Name).ConfigureAwait(false);
            return XlExit.Success;
        }));
        return command;
    }

    public static Command Uptime(XlContext context)
    {
        var shortMode = new Option<bool>("-s") { Description = "Uptime in a shorter format" };
        var domains = new Argument<string[]>("Domain") { Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("uptime", "Print uptime for all/some domains") { shortMode, domains };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var names = result.GetValue(domains) ?? [];
            var shown = new List<DomainSummary>();
            if (names.Length == 0)
                shown.AddRange(Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.List }, cancellationToken).ConfigureAwait(false)).Domains ?? []);
            foreach (string name in names)
                shown.AddRange(Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.List, Domain = name }, cancellationToken).ConfigureAwait(false)).Domains ?? []);
            await context.Out.WriteAsync(UptimeFormat.Table(shown, DateTime.UtcNow, result.GetValue(shortMode))).ConfigureAwait(false);
            return XlExit.Success;
        }));
        return command;
    }

    public static Command VcpuList(XlContext context)
    {
        var domains = new Argument<string[]>("Domain") { Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("vcpu-list", "List the VCPUs for all/some domains") { domains };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var names = result.GetValue(domains) ?? [];
            var shown = new List<DomainSummary>();
            if (names.Length == 0)
                shown.AddRange(Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.List }, cancellationToken).ConfigureAwait(false)).Domains ?? []);
            foreach (string name in names)
                shown.AddRange(Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.List, Domain = name }, cancellationToken).ConfigureAwait(false)).Domains ?? []);
            await context.Out.WriteAsync(VcpuListFormat.Table(shown)).ConfigureAwait(false);
            return XlExit.Success;
        }));
        return command;
    }

    public static Command VcpuSet(XlContext context)
    {
        var ignoreHost = new Option<bool>("--ignore-host", "-i") { Description = "Don't limit the number of vCPUs to the host's CPUs" };
        var domain = new Argument<string>("Domain");
        var count = new Argument<string>("vCPUs");
        var command = new Command("vcpu-set", "Set the number of active VCPUs allowed for the domain") { ignoreHost, domain, count };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            string text = result.GetValue(count)!;
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int vcpus))
                throw new XlFailure("Error: Invalid argument.");
            if (!result.GetValue(ignoreHost) && vcpus > Environment.ProcessorCount)
                throw new XlFailure($"You are overcommmitting! You have {Environment.ProcessorCount} physical CPUs and want {vcpus} vCPUs! Aborting, use --ignore-host to continue");
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.VcpuSet, Domain = result.GetValue(domain), VcpuCount = vcpus }, cancellationToken)
                .ConfigureAwait(false));
            return XlExit.Success;
        }));
        return command;
    }

    public static Command Top(XlContext context)
    {
        var batch = new Option<bool>("--batch", "-b") { Description = "Output in batch mode (no screen clearing)" };
        var iterations = new Option<int>("--iterations", "-i") { Description = "Number of updates before exiting (default: until interrupted)" };
        var delay = new Option<double>("--delay", "-d") { Description = "Seconds between updates", DefaultValueFactory = _ => 3 };
        var command = new Command("top", "Monitor a host and the domains in real time") { batch, iterations, delay };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            double seconds = result.GetValue(delay);
            int left = result.GetValue(iterations);
            if (!(seconds > 0 && seconds <= 3600) || left < 0)
                throw new XlFailure("xl top: -d must be 0 < seconds <= 3600 and -i not negative", XlExit.Usage);
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var host = Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.Info }, cancellationToken).ConfigureAwait(false)).Host!;
            Dictionary<uint, double>? previous = null;
            var sampled = DateTime.UtcNow;
            while (true)
            {
                var domains = Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.List }, cancellationToken).ConfigureAwait(false)).Domains ?? [];
                var now = DateTime.UtcNow;
                if (!result.GetValue(batch)) await context.Out.WriteAsync("\u001b[H\u001b[2J").ConfigureAwait(false);
                await context.Out.WriteAsync(TopFormat.Table(domains, previous, (now - sampled).TotalSeconds, host.TotalMemoryMiB * 1024)).ConfigureAwait(false);
                await context.Out.FlushAsync(cancellationToken).ConfigureAwait(false);
                previous = domains.ToDictionary(d => d.DomId, d => d.CpuTimeSeconds);
                sampled = now;
                if (left > 0 && --left == 0) return XlExit.Success;
                await Task.Delay(TimeSpan.FromSeconds(seconds), cancellationToken).ConfigureAwait(false);
            }
        }));
        return command;
    }

    public static Command MemSet(XlContext context) => MemoryCommand(context, "mem-set", "Set the current memory usage for a domain", ControlOps.MemSet);
    public static Command MemMax(XlContext context) => MemoryCommand(context, "mem-max", "Set the maximum amount reservation for a domain", ControlOps.MemMax);

    private static Command MemoryCommand(XlContext context, string name, string description, string op)
    {
        var domain = new Argument<string>("Domain");
        var size = new Argument<string>("MemKB") { Description = "A size with an optional unit suffix b, k, m (default), g or t." };
        var command = new Command(name, description) { domain, size };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            string text = result.GetValue(size)!;
            long kib = ParseMemorySizeKiB(text) ?? throw new XlFailure($"invalid memory size: {text}");
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            Expect(await client.RequestAsync(new ControlRequest { Op = op, Domain = result.GetValue(domain), MemoryKiB = kib }, cancellationToken)
                .ConfigureAwait(false));
            return XlExit.Success;
        }));
        return command;
    }

    /// <summary>
    /// xl's parse_mem_size_kb: a decimal number and an optional unit, t/g/m/k/b in either case; no unit means MiB.
    /// Null when the text is not such a size or overflows.
    /// </summary>
    public static long? ParseMemorySizeKiB(string text)
    {
        int digits = 0;
        while (digits < text.Length && char.IsAsciiDigit(text[digits])) digits++;
        if (digits == 0 || text.Length - digits > 1) return null;
        if (!long.TryParse(text.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out long value)) return null;
        char unit = digits < text.Length ? char.ToLowerInvariant(text[digits]) : 'm';
        int shift = unit switch { 't' => 30, 'g' => 20, 'm' => 10, 'k' => 0, 'b' => -10, _ => int.MinValue };
        if (shift == int.MinValue) return null;
        if (shift < 0) return value >> -shift;
        return value > (long.MaxValue >> shift) ? null : value << shift;
    }

    public static Command Info(XlContext context)
    {
        var numa = new Option<bool>("--numa", "-n") { Description = "Numa topology info" };
        var command = new Command("info", "Get information about Xen host") { numa };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var host = Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.Info }, cancellationToken).ConfigureAwait(false)).Host
                ?? throw new XlFailure("xl: paravirtd sent no host information");
            await context.Out.WriteAsync(InfoFormat.Render(host, Environment.MachineName, Environment.OSVersion.Version.ToString(),
                System.Runtime.InteropServices.RuntimeInformation.OSDescription)).ConfigureAwait(false);
            return XlExit.Success;
        }));
        return command;
    }

    private static async Task<DomainSummary?> FindAsync(XlContext context, string nameOrId, CancellationToken cancellationToken)
    {
        using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
        var reply = await client.RequestAsync(new ControlRequest { Op = ControlOps.List, Domain = nameOrId }, cancellationToken).ConfigureAwait(false);
        return reply.Ok ? reply.Domains?.FirstOrDefault() : null;
    }

    private static ControlResponse Expect(ControlResponse response) =>
        response.Ok ? response : throw new XlFailure(response.Error ?? "paravirtd refused the request");

    private static string Id(DomainSummary domain) => domain.DomId.ToString(CultureInfo.InvariantCulture);
}

/// <summary>xl uptime's table (xl_misc.c print_uptime): "%-33s %4d %s" rows; -s gives " HH:MM:SS up ..., name (id)".</summary>
public static class UptimeFormat
{
    public static string Table(IEnumerable<DomainSummary> domains, DateTime nowUtc, bool shortMode)
    {
        var text = new StringBuilder();
        if (!shortMode)
            text.Append(CultureInfo.InvariantCulture, $"{"Name",-33} {"ID",4} Uptime\n");
        foreach (var d in domains)
        {
            long seconds = Math.Max(0, (long)(nowUtc - d.StartTimeUtc).TotalSeconds);
            if (shortMode)
                text.Append(CultureInfo.InvariantCulture, $" {nowUtc.ToLocalTime():HH:mm:ss} up {Duration(seconds, true)}, {d.Name} ({d.DomId})\n");
            else
                text.Append(CultureInfo.InvariantCulture, $"{d.Name,-33} {d.DomId,4} {Duration(seconds, false)}\n");
        }
        return text.ToString();
    }

    /// <summary>uptime_to_string: "[N day[s], ]%2d:%02d[:%02d]".</summary>
    public static string Duration(long seconds, bool shortMode)
    {
        long day = seconds / 86400, hour = seconds % 86400 / 3600, min = seconds % 3600 / 60, sec = seconds % 60;
        string days = day > 1 ? $"{day} days, " : day == 1 ? "1 day, " : "";
        string clock = shortMode
            ? string.Create(CultureInfo.InvariantCulture, $"{hour,2}:{min:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{hour,2}:{min:00}:{sec:00}");
        return days + clock;
    }
}

/// <summary>xl info's "key<padding>: value" lines (xl_info.c output_nodeinfo/output_physinfo/output_xeninfo).</summary>
public static class InfoFormat
{
    public static string Render(HostSummary host, string hostName, string release, string version)
    {
        var lines = new List<(string Key, string Value)>
        {
            ("host", hostName),
            ("release", release),
            ("version", version),
            ("machine", "x86_64"),
            ("nr_cpus", Num(host.NrCpus)),
            ("max_cpu_id", Num(Math.Max(0, host.NrCpus - 1))),
            ("nr_nodes", "1"),
            ("cores_per_socket", Num(host.NrCpus)),
            ("threads_per_core", "1"),
            ("virt_caps", host.VirtCaps),
            ("total_memory", Num(host.TotalMemoryMiB)),
            ("free_memory", Num(host.FreeMemoryMiB)),
            ("sharing_freed_memory", "0"),
            ("sharing_used_memory", "0"),
            ("outstanding_claims", "0"),
            ("free_cpus", "0"),
            ("xen_major", Num(host.XenMajor)),
            ("xen_minor", Num(host.XenMinor)),
            ("xen_extra", host.XenExtra),
            ("xen_version", $"{Num(host.XenMajor)}.{Num(host.XenMinor)}{host.XenExtra}"),
            ("xen_caps", host.XenCaps),
            ("xen_scheduler", host.Scheduler),
            ("xen_pagesize", Num(host.PageSize)),
            ("platform_params", "virt_start=0xffff800000000000"),
            ("xen_changeset", ""),
            ("xen_commandline", host.CommandLine),
            ("cc_compiler", ".NET " + Environment.Version),
            ("cc_compile_by", ""),
            ("cc_compile_domain", ""),
            ("cc_compile_date", ""),
            ("build_id", ""),
            ("xend_config_format", "4"),
        };
        var text = new StringBuilder();
        foreach (var (key, value) in lines)
            text.Append(CultureInfo.InvariantCulture, $"{key,-23}: {value}\n");
        return text.ToString();
    }

    private static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// xl vcpu-list (xl_vcpu.c print_vcpuinfo): name %-32s, domid and vcpu %5u, the CPU, three state letters
/// (r running, b blocked; p for an offline vCPU), time %9.1f, then hard / soft affinity as print_bitmap prints
/// them. The CPU is the pCPU the credit scheduler runs (or last ran) the vCPU on.
/// </summary>
public static class VcpuListFormat
{
    public static string Table(IEnumerable<DomainSummary> domains)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{"Name",-32} {"ID",5} {"VCPU",5} {"CPU",5} {"State",5} {"Time(s)",9} Affinity (Hard / Soft)\n");
        foreach (var d in domains)
        {
            foreach (var v in d.VcpuStates ?? [])
            {
                text.Append(CultureInfo.InvariantCulture, $"{d.Name,-32} {d.DomId,5} {v.Id,5}");
                text.Append(v.Online
                    ? string.Create(CultureInfo.InvariantCulture, $"{v.Cpu,5} {(v.Running ? 'r' : '-'),3}{(v.Blocked ? 'b' : '-')}- ")
                    : $"{'-',5} {'-',3}-p ");
                text.Append(DomainListFormat.OneDecimal(double.IsFinite(v.CpuTimeSeconds) && v.CpuTimeSeconds > 0 ? (float)v.CpuTimeSeconds : 0).PadLeft(9));
                text.Append("  ").Append(v.HardAffinity).Append(" / ").Append(v.SoftAffinity).Append('\n');
            }
        }
        return text.ToString();
    }
}

/// <summary>xentop's table (a subset of its columns: no network or block statistics yet).</summary>
public static class TopFormat
{
    public const string Header = "      NAME  STATE   CPU(sec) CPU(%)     MEM(k) MEM(%) VCPUS";

    /// <summary>CPU(%) is the CPU time used since <paramref name="previous"/> over the elapsed wall time; 0 on the first sample.</summary>
    public static string Table(IReadOnlyList<DomainSummary> domains, IReadOnlyDictionary<uint, double>? previous, double elapsedSeconds, long hostKiB)
    {
        var text = new StringBuilder();
        text.Append(Header).Append('\n');
        foreach (var d in domains)
        {
            double cpuPercent = previous is not null && previous.TryGetValue(d.DomId, out double before) && elapsedSeconds > 0
                ? Math.Max(0, (d.CpuTimeSeconds - before) / elapsedSeconds * 100)
                : 0;
            long memKiB = d.MemoryMiB * 1024;
            double memPercent = hostKiB > 0 ? memKiB * 100.0 / hostKiB : 0;
            text.Append(CultureInfo.InvariantCulture,
                $"{d.Name,10} {d.State,6} {(long)d.CpuTimeSeconds,10} {cpuPercent,6:F1} {memKiB,10} {memPercent,6:F1} {d.Vcpus,5}\n");
        }
        return text.ToString();
    }
}
