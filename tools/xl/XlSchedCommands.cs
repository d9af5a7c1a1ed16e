using System.CommandLine;
using System.Globalization;
using Paravirt.Control;
using Paravirt.Control.Messages;
using Paravirt.XlConfig;

namespace Paravirt.Xl;

/// <summary>
/// xl sched-credit (tools/xl/xl_sched.c main_sched_credit) and xl vcpu-pin (xl_vcpu.c main_vcpupin): Xen's options,
/// checks, messages, output formats and exit statuses.
/// </summary>
public static class XlSchedCommands
{
    /// <summary>libxl's only cpupool: Pool-0, id 0.</summary>
    private const string Pool = "Pool-0";

    public static Command SchedCredit(XlContext context)
    {
        var domain = new Option<string?>("--domain", "-d") { Description = "Domain to modify", HelpName = "DOMAIN" };
        var weight = new Option<string?>("--weight", "-w") { Description = "Weight (int)", HelpName = "WEIGHT" };
        var cap = new Option<string?>("--cap", "-c") { Description = "Cap (int)", HelpName = "CAP" };
        var schedparam = new Option<bool>("--schedparam", "-s") { Description = "Query / modify scheduler parameters" };
        var tslice = new Option<string?>("--tslice_ms", "-t") { Description = "Set the timeslice, in milliseconds", HelpName = "TSLICE" };
        var ratelimit = new Option<string?>("--ratelimit_us", "-r") { Description = "Set the scheduling rate limit, in microseconds", HelpName = "RLIMIT" };
        var migration = new Option<string?>("--migration_delay_us", "-m") { Description = "Set the migration delay, in microseconds", HelpName = "DLY" };
        var cpupool = new Option<string?>("--cpupool", "-p") { Description = "Restrict output to CPUPOOL", HelpName = "CPUPOOL" };
        var command = new Command("sched-credit", "Get/set credit scheduler parameters")
        {
            domain, weight, cap, schedparam, tslice, ratelimit, migration, cpupool,
        };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            string? dom = result.GetValue(domain), pool = result.GetValue(cpupool);
            string? w = result.GetValue(weight), c = result.GetValue(cap);
            string? t = result.GetValue(tslice), r = result.GetValue(ratelimit), m = result.GetValue(migration);
            bool s = result.GetValue(schedparam);
            if ((pool is not null || s) && (dom is not null || w is not null || c is not null))
                throw new XlFailure("Specifying a cpupool or schedparam is not allowed with domain options.");
            if (dom is null && (w is not null || c is not null))
                throw new XlFailure("Must specify a domain.");
            if (!s && (t is not null || r is not null || m is not null))
                throw new XlFailure("Must specify schedparam to set schedule parameter values.");
            if (pool is not null && !IsPool0(pool))
                throw new XlFailure($"unknown cpupool '{pool}'");

            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            if (s)
            {
                var request = new ControlRequest
                {
                    Op = ControlOps.SchedCreditPool,
                    TimesliceMs = t is null ? null : StrToL(t), RatelimitUs = r is null ? null : StrToL(r), MigrationDelayUs = m is null ? null : StrToL(m),
                };
                var reply = await client.RequestAsync(request, cancellationToken).ConfigureAwait(false);
                if (!reply.Ok) await LibxlFailure(context, reply, "libxl_sched_credit_params_set failed.").ConfigureAwait(false);
                if (t is null && r is null && m is null)
                    await context.Out.WriteLineAsync(PoolLine(reply.SchedPool!)).ConfigureAwait(false);
                return XlExit.Success;
            }
            if (dom is null)
            {
                var all = Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.SchedCredit }, cancellationToken).ConfigureAwait(false));
                await context.Out.WriteAsync(Table(all.SchedPool!, all.SchedDomains ?? [], withPool: true)).ConfigureAwait(false);
                return XlExit.Success;
            }
            // find_domain first: an unknown domain is xl's own error, not libxl's.
            uint domId = await FindDomainAsync(client, dom, cancellationToken).ConfigureAwait(false);
            var set = new ControlRequest
            {
                Op = ControlOps.SchedCredit, Domain = domId.ToString(CultureInfo.InvariantCulture),
                Weight = w is null ? null : StrToL(w), Cap = c is null ? null : StrToL(c),
            };
            var answer = await client.RequestAsync(set, cancellationToken).ConfigureAwait(false);
            if (!answer.Ok) await LibxlFailure(context, answer, "libxl_domain_sched_params_set failed.").ConfigureAwait(false);
            if (w is null && c is null)
                await context.Out.WriteAsync(Table(answer.SchedPool!, answer.SchedDomains ?? [], withPool: false)).ConfigureAwait(false);
            return XlExit.Success;
        }));
        return command;
    }

    public static Command VcpuPin(XlContext context)
    {
        var force = new Option<bool>("--force", "-f") { Description = "force the affinity (as for a domain with global masks; the same here)" };
        var domain = new Argument<string>("Domain");
        var vcpu = new Argument<string>("VCPU|all");
        var hard = new Argument<string>("Hard affinity|-|all");
        var soft = new Argument<string?>("Soft affinity|-|all") { Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("vcpu-pin", "Set which CPUs a VCPU can use") { force, domain, vcpu, hard, soft };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            uint domId = await FindDomainAsync(client, result.GetValue(domain)!, cancellationToken).ConfigureAwait(false);
            string vcpuText = result.GetValue(vcpu)!;
            int? vcpuId = null;
            if (!TryStrToL(vcpuText, out long id) || id < 0)
            {
                if (vcpuText != "all") throw new XlFailure($"Error: Invalid argument {vcpuText} as VCPU.");
                if (result.GetValue(force)) throw new XlFailure("Error: --force and 'all' as VCPU not allowed.");
            }
            else vcpuId = (int)Math.Min(id, int.MaxValue);

            // '-' leaves an affinity alone; a missing soft affinity too.
            string? hardText = result.GetValue(hard) is "-" ? null : result.GetValue(hard);
            string? softText = result.GetValue(soft) is null or "-" ? null : result.GetValue(soft);
            var hardRange = Parse(hardText);
            var softRange = Parse(softText);

            if (context.DryRun)
            {
                var host = Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.Info }, cancellationToken).ConfigureAwait(false)).Host!;
                int n = Math.Max(1, host.NrCpus);
                string line = "cpumap: " + (hardRange is null ? "-" : Bitmap(hardRange, n));
                if (softRange is not null) line += " " + Bitmap(softRange, n);
                await context.Out.WriteLineAsync(line).ConfigureAwait(false);
                return XlExit.Success;
            }

            var reply = await client.RequestAsync(new ControlRequest
            {
                Op = ControlOps.VcpuPin, Domain = domId.ToString(CultureInfo.InvariantCulture), VcpuId = vcpuId,
                HardAffinity = hardText, SoftAffinity = softText,
            }, cancellationToken).ConfigureAwait(false);
            if (!reply.Ok)
            {
                await LibxlFailure(context, reply, vcpuId is { } v
                    ? $"Could not set affinity for vcpu `{v}'."
                    : "Could not set affinity.").ConfigureAwait(false);
            }
            return XlExit.Success;
        }));
        return command;
    }

    /// <summary>parse_cpurange: xl checks the syntax before asking libxl.</summary>
    private static CpuRange? Parse(string? text)
    {
        if (text is null) return null;
        try { return CpuRange.Parse(text); }
        catch (CpuRangeException e) { throw new XlFailure(e.Message); }
    }

    /// <summary>print_bitmap over the host's cpus.</summary>
    private static string Bitmap(CpuRange range, int nrCpus)
    {
        var set = range.Resolve(nrCpus, node => node == 0 ? Enumerable.Range(0, nrCpus) : []);
        return CpuMapText(set, nrCpus);
    }

    /// <summary>print_bitmap (xl_utils.c): "all" when cpus 0..n-1 are all set, "none" when none is, else ranges "0-1,3".</summary>
    public static string CpuMapText(IReadOnlyCollection<int> cpus, int nrCpus)
    {
        if (cpus.Count == 0) return "none";
        var set = new HashSet<int>(cpus);
        if (Enumerable.Range(0, nrCpus).All(set.Contains)) return "all";
        var parts = new List<string>();
        for (int i = 0; i < nrCpus; i++)
        {
            if (!set.Contains(i)) continue;
            int start = i;
            while (i + 1 < nrCpus && set.Contains(i + 1)) i++;
            parts.Add(i > start ? $"{start}-{i}" : start.ToString(CultureInfo.InvariantCulture));
        }
        return string.Join(",", parts);
    }

    /// <summary>sched_credit_pool_output's line.</summary>
    public static string PoolLine(SchedPoolSummary pool) =>
        $"Cpupool {pool.Name}: tslice={pool.TimesliceMs}ms ratelimit={pool.RatelimitUs}us migration-delay={pool.MigrationDelayUs}us";

    /// <summary>sched_credit_domain_output: "%-33s %4s %6s %4s" header, "%-33s %4d %6d %4d" rows.</summary>
    public static string Table(SchedPoolSummary pool, IEnumerable<SchedDomainSummary> rows, bool withPool)
    {
        var text = new System.Text.StringBuilder();
        if (withPool) text.Append(PoolLine(pool)).Append('\n');
        text.Append(CultureInfo.InvariantCulture, $"{"Name",-33} {"ID",4} {"Weight",6} {"Cap",4}\n");
        foreach (var r in rows)
            text.Append(CultureInfo.InvariantCulture, $"{r.Name,-33} {r.DomId,4} {r.Weight,6} {r.Cap,4}\n");
        return text.ToString();
    }

    /// <summary>libxl_cpupool_qualifier_to_cpupoolid: the pool by name or by number.</summary>
    private static bool IsPool0(string qualifier) => qualifier == Pool || (TryStrToL(qualifier, out long id) && id == 0 && qualifier.Trim().All(char.IsAsciiDigit));

    /// <summary>strtol(s, NULL, 10) as xl uses it for -w/-c/-t/-r/-m: leading digits, 0 when there are none.</summary>
    internal static int StrToL(string s) => TryStrToL(s, out long v) ? (int)Math.Clamp(v, int.MinValue, int.MaxValue) : 0;

    /// <summary>strtol's parse: optional space and sign, then digits; false when no digit was read.</summary>
    internal static bool TryStrToL(string s, out long value)
    {
        value = 0;
        int i = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        bool negative = false;
        if (i < s.Length && s[i] is '+' or '-') negative = s[i++] == '-';
        int digits = 0;
        for (; i < s.Length && char.IsAsciiDigit(s[i]); i++, digits++)
            value = Math.Min(value * 10 + (s[i] - '0'), long.MaxValue / 10);
        if (negative) value = -value;
        return digits > 0;
    }

    /// <summary>find_domain: the domain's id, or xl's "invalid domain identifier" failure.</summary>
    private static async Task<uint> FindDomainAsync(ControlClient client, string name, CancellationToken cancellationToken)
    {
        var reply = await client.RequestAsync(new ControlRequest { Op = ControlOps.List, Domain = name }, cancellationToken).ConfigureAwait(false);
        if (!reply.Ok || reply.Domains is not [var d, ..]) throw new XlFailure(reply.Error ?? $"{name} is an invalid domain identifier");
        return d.DomId;
    }

    /// <summary>libxl reports what it refused on stderr; xl then says which call failed and exits 1.</summary>
    private static async Task LibxlFailure(XlContext context, ControlResponse reply, string xlLine)
    {
        await context.Error.WriteLineAsync($"libxl: error: {reply.Error}").ConfigureAwait(false);
        throw new XlFailure(xlLine);
    }

    private static ControlResponse Expect(ControlResponse response) =>
        response.Ok ? response : throw new XlFailure(response.Error ?? "paravirtd refused the request");
}
