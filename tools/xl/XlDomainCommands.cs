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
            // main_shutdown_or_reboot: -a takes every domain but Dom0 (a domain operand is then ignored); without -a
            // a domain is needed, and its absence is EXIT_FAILURE with this message, not a usage error.
            bool everyone = result.GetValue(all);
            string? target = result.GetValue(domain);
            if (!everyone && target is null)
                throw new XlFailure("You must specify -a or a domain id.");
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
                    var reply = await client.RequestAsync(Request(victim, result.GetValue(force), wait: false), cancellationToken).ConfigureAwait(false);
                    if (!reply.Ok) throw new XlFailure($"{name} failed: {reply.Error}");
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
                // Reported as each one goes, in the order they go (xl logs each death event as it arrives).
                var pending = waits.Select(w => w.Reply).ToList();
                while (pending.Count > 0)
                {
                    var done = await Task.WhenAny(pending).ConfigureAwait(false);
                    pending.Remove(done);
                    var victim = waits.First(w => w.Reply == done).Domain;
                    var ended = await done.ConfigureAwait(false);
                    if (!ended.Ok) throw new XlFailure($"{name} failed: {ended.Error}");
                    await context.Error.WriteLineAsync(ended.End is { Destroyed: true }
                        ? $"Domain {victim.DomId} has been destroyed"
                        : $"Domain {victim.DomId} has been shut down, reason code {(int)(ended.End?.Reason ?? 0)}").ConfigureAwait(false);
                }
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
            {
                // libxl says why, then xl_misc.c main_rename: "Can't rename domain '%s'."
                await context.Error.WriteLineAsync(reply.Error ?? "").ConfigureAwait(false);
                throw new XlFailure($"Can't rename domain '{result.GetValue(domain)}'.");
            }
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

    public static Command MemSet(XlContext context) => MemoryCommand(context, "mem-set", "Set the current memory usage for a domain", ControlOps.MemSet);
    public static Command MemMax(XlContext context) => MemoryCommand(context, "mem-max", "Set the maximum amount reservation for a domain", ControlOps.MemMax);

    private static Command MemoryCommand(XlContext context, string name, string description, string op)
    {
        var domain = new Argument<string>("Domain");
        var size = new Argument<string>("MemKB") { Description = "A size with an optional unit suffix b, k, m (default), g or t." };
        var command = new Command(name, description) { domain, size };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            // xl_mem.c: find_domain first, then parse_mem_size_kb, then libxl; each failure is EXIT_FAILURE.
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var found = Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.List, Domain = result.GetValue(domain) }, cancellationToken)
                .ConfigureAwait(false)).Domains?.FirstOrDefault() ?? throw new XlFailure($"{result.GetValue(domain)} is an invalid domain identifier");
            string text = result.GetValue(size)!;
            long kib = ParseMemorySizeKiB(text) ?? throw new XlFailure($"invalid memory size: {text}");
            var reply = await client.RequestAsync(new ControlRequest { Op = op, Domain = Id(found), MemoryKiB = kib }, cancellationToken)
                .ConfigureAwait(false);
            if (!reply.Ok)
            {
                // libxl logs why; xl then says what it could not do.
                await context.Error.WriteLineAsync(reply.Error ?? "").ConfigureAwait(false);
                throw new XlFailure($"cannot set domid {found.DomId} {(op == ControlOps.MemSet ? "dynamic" : "static")} max memory to : {text}");
            }
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
        var name = new Argument<string?>("name") { Arity = ArgumentArity.ZeroOrOne, Description = "Print only the values of the fields whose names start with this." };
        var command = new Command("info", "Get information about Xen host") { numa, name };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var host = Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.Info }, cancellationToken).ConfigureAwait(false)).Host
                ?? throw new XlFailure("xl: paravirtd sent no host information");
            // main_info: the filter applies only without -n.
            bool withNuma = result.GetValue(numa);
            await context.Out.WriteAsync(InfoFormat.Render(host, Environment.MachineName, Environment.OSVersion.Version.ToString(),
                System.Runtime.InteropServices.RuntimeInformation.OSDescription, HostCpu.KiloHertz(), withNuma,
                withNuma ? null : result.GetValue(name))).ConfigureAwait(false);
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
    /// <summary>
    /// physinfo.hw_cap as xl prints it ("%08x:" × 8): the host CPU's feature words in Xen's featureset order
    /// (xen/include/public/arch-x86/cpufeatureset.h): 1.edx, 1.ecx, 0x80000001.edx, 0x80000001.ecx, 0xd:1.eax,
    /// 7:0.ebx, 7:0.ecx, 0x80000007.edx. A leaf the CPU does not have reads as zero.
    /// </summary>
    public static string HwCaps()
    {
        if (!System.Runtime.Intrinsics.X86.X86Base.IsSupported) return "00000000:00000000:00000000:00000000:00000000:00000000:00000000:00000000";
        static (int Eax, int Ebx, int Ecx, int Edx) Leaf(int leaf, int sub)
        {
            int maxLeaf = System.Runtime.Intrinsics.X86.X86Base.CpuId(leaf < 0 ? unchecked((int)0x80000000) : 0, 0).Eax;
            return (uint)leaf <= (uint)maxLeaf ? System.Runtime.Intrinsics.X86.X86Base.CpuId(leaf, sub) : default;
        }
        var l1 = Leaf(1, 0);
        var e1 = Leaf(unchecked((int)0x80000001), 0);
        var d1 = Leaf(0xd, 1);
        var l7 = Leaf(7, 0);
        var e7 = Leaf(unchecked((int)0x80000007), 0);
        uint[] words = [(uint)l1.Edx, (uint)l1.Ecx, (uint)e1.Edx, (uint)e1.Ecx, (uint)d1.Eax, (uint)l7.Ebx, (uint)l7.Ecx, (uint)e7.Edx];
        return string.Join(':', words.Select(w => w.ToString("x8", CultureInfo.InvariantCulture)));
    }

    /// <param name="cpuKhz">physinfo's cpu_khz, printed as cpu_mhz "%d.%03d".</param>
    /// <param name="numa">-n: the cpu and device topology and the NUMA table, between physinfo and xeninfo.</param>
    /// <param name="only">
    /// xl info NAME (maybe_printf): print only the value (what follows ": ") of each line that starts with NAME.
    /// </param>
    public static string Render(HostSummary host, string hostName, string release, string version, long cpuKhz = 0, bool numa = false,
        string? only = null)
    {
        var physical = new List<(string Key, string Value)>
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
            ("cpu_mhz", string.Create(CultureInfo.InvariantCulture, $"{cpuKhz / 1000}.{cpuKhz % 1000:000}")),
            ("hw_caps", HwCaps()),
            ("virt_caps", host.VirtCaps),
            ("total_memory", Num(host.TotalMemoryMiB)),
            ("free_memory", Num(host.FreeMemoryMiB)),
            ("sharing_freed_memory", "0"),
            ("sharing_used_memory", "0"),
            ("outstanding_claims", "0"),
            ("free_cpus", "0"),
        };
        var xen = new List<(string Key, string Value)>
        {
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
        void Lines(IEnumerable<(string Key, string Value)> lines)
        {
            foreach (var (key, value) in lines)
            {
                string line = string.Create(CultureInfo.InvariantCulture, $"{key,-23}: {value}\n");
                if (only is null) text.Append(line);
                else if (line.StartsWith(only, StringComparison.Ordinal)) text.Append(line[25..]);
            }
        }
        Lines(physical);
        if (numa)
        {
            // One node holding every CPU and all memory; no PCI devices.
            text.Append("cpu_topology           :\ncpu:    core    socket     node\n");
            for (int cpu = 0; cpu < host.NrCpus; cpu++)
                text.Append(CultureInfo.InvariantCulture, $"{cpu,3}:    {cpu,4}     {0,4}     {0,4}\n");
            text.Append("device topology        :\ndevice           node\nNo device topology data available\n");
            text.Append("numa_info              :\nnode:    memsize    memfree    distances\n");
            text.Append(CultureInfo.InvariantCulture, $"{0,4}:    {host.TotalMemoryMiB,6}     {host.FreeMemoryMiB,6}      10\n");
        }
        Lines(xen);
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
