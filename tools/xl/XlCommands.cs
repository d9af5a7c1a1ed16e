using System.CommandLine;
using Newtonsoft.Json;
using Paravirt.Control;
using Paravirt.Control.Messages;

namespace Paravirt.Xl;

/// <summary>The xl subcommands. Descriptions and option letters follow tools/xl/xl_cmdtable.c.</summary>
public static class XlCommands
{
    public static Command Create(XlContext context)
    {
        var paused = new Option<bool>("-p") { Description = "Leave the domain paused after it is created." };
        var console = new Option<bool>("-c") { Description = "Connect to the console after the domain is created." };
        var defconfig = new Option<string?>("--defconfig", "-f") { Description = "Use the given configuration file.", HelpName = "FILE" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Quiet." };
        var dryrun = new Option<bool>("--dryrun", "-n") { Description = "Dry run - prints the resulting configuration." };
        var foreground = new Option<bool>("-F") { Description = "Run in foreground until death of the domain." };
        var noWait = new Option<bool>("-e") { Description = "Do not wait in the background for the death of the domain (paravirtd always does)." };
        var debug = new Option<bool>("-d") { Description = "Enable debug messages (accepted for compatibility)." };
        var arguments = Operands(new Argument<string[]>("ConfigFile [vars]")
        {
            Arity = ArgumentArity.ZeroOrMore,
            Description = "The xl.cfg file, then key=value settings that override it.",
        });
        var command = new Command("create", "Create a domain from config file <filename>")
        {
            paused, console, defconfig, quiet, dryrun, foreground, noWait, debug, arguments,
        };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            var (file, vars) = SplitCreateArguments(result.GetValue(defconfig), result.GetValue(arguments) ?? []);
            if (!result.GetValue(quiet))
                await context.Error.WriteLineAsync($"Parsing config from {file}").ConfigureAwait(false);
            var config = ConfigLoader.Load(file, vars);
            // xl_parse.c prints its warnings (cmdline overriding root/extra, ignored keys) on stderr as it parses.
            foreach (string warning in config.Warnings)
                await context.Error.WriteLineAsync(warning).ConfigureAwait(false);
            if (result.GetValue(dryrun) || context.DryRun)
            {
                await context.Out.WriteAsync(LibxlJson.Render(LibxlJson.DryRun(config))).ConfigureAwait(false);
                return XlExit.Success;
            }

            bool attach = result.GetValue(console);
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var reply = Expect(await client.RequestAsync(new ControlRequest
            {
                Op = ControlOps.Create, Config = config, Paused = result.GetValue(paused), Console = attach,
            }, cancellationToken).ConfigureAwait(false));
            var domain = reply.Domain ?? throw new XlFailure("xl: paravirtd did not say which domain it created");

            if (attach)
                return await RelayConsoleAsync(context, client, domain, cancellationToken).ConfigureAwait(false);
            if (result.GetValue(foreground))
                return await XlForeground.FollowAsync(context, client, config, domain, cancellationToken).ConfigureAwait(false);
            return XlExit.Success;
        }));
        return command;
    }

    /// <summary>
    /// xl create's operands (xl_vmcontrol.c): each one containing '=' is a config override; the first other one is
    /// the config file unless -f named it; any further one is a usage error.
    /// </summary>
    public static (string File, IReadOnlyList<string> Vars) SplitCreateArguments(string? defconfig, IReadOnlyList<string> operands)
    {
        string? file = string.IsNullOrEmpty(defconfig) ? null : defconfig;
        var vars = new List<string>();
        foreach (string operand in operands)
        {
            if (operand.Contains('='))
                vars.Add(operand);
            else if (file is null)
                file = operand;
            else
                throw new XlFailure($"xl create: unexpected argument '{operand}' (the config file is {file})", XlExit.Usage);
        }
        return (file ?? throw new XlFailure("'xl create' requires a config file", XlExit.Usage), vars);
    }

    public static Command List(XlContext context)
    {
        var domains = Operands(new Argument<string[]>("Domain") { Arity = ArgumentArity.ZeroOrMore, Description = "Domains to show (default: all)." });
        var longForm = new Option<bool>("--long", "-l") { Description = "Output all VM details" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Prints out UUIDs and security context" };
        var command = new Command("list", "List information about all/some domains") { longForm, verbose, domains };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            var names = result.GetValue(domains) ?? [];
            // main_list: no domain (all) or exactly one; more is help("list") and EXIT_FAILURE.
            if (names.Length > 1)
                throw new XlFailure("Usage: xl [-v] list [options] [Domain] (at most one domain)");
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var shown = new List<DomainSummary>();
            if (names.Length == 0)
            {
                shown.AddRange(Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.List, Long = result.GetValue(longForm) }, cancellationToken)
                    .ConfigureAwait(false)).Domains ?? []);
            }
            foreach (string name in names)
            {
                shown.AddRange(Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.List, Domain = name, Long = result.GetValue(longForm) }, cancellationToken)
                    .ConfigureAwait(false)).Domains ?? []);
            }
            await context.Out.WriteAsync(result.GetValue(longForm) ? LibxlJson.List(shown) : DomainListFormat.Table(shown, result.GetValue(verbose)))
                .ConfigureAwait(false);
            return XlExit.Success;
        }));
        return command;
    }

    public static Command Destroy(XlContext context)
    {
        var force = new Option<bool>("-f") { Description = "Permit destroying domain 0, which will only succeed when run from disaggregated toolstack domain with a hardware domain distinct from domain 0." };
        var domain = Operands(new Argument<string>("Domain"));
        var command = new Command("destroy", "Terminate a domain immediately") { force, domain };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            string target = result.GetValue(domain)!;
            // xl_vmcontrol.c destroy_domain: domain 0 only with -f (and then the toolstack still refuses: Dom0 here is
            // the host's own managed domain, not a disaggregated one).
            if (target is "0" or "Domain-0" && !result.GetValue(force))
                throw new XlFailure("Not destroying domain 0; use -f to force. This can only be done when using a disaggregated hardware domain and toolstack.");
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.Destroy, Domain = target }, cancellationToken).ConfigureAwait(false));
            return XlExit.Success;
        }));
        return command;
    }

    public static Command Pause(XlContext context) =>
        SimpleDomainCommand(context, "pause", "Pause execution of a domain", ControlOps.Pause);

    public static Command Unpause(XlContext context) =>
        SimpleDomainCommand(context, "unpause", "Unpause a paused domain", ControlOps.Unpause);

    public static Command Console(XlContext context)
    {
        var type = new Option<string?>("-t") { Description = "console type, pv , serial or vuart", HelpName = "type" };
        var number = new Option<int>("-n") { Description = "console number", HelpName = "number" };
        var domain = Operands(new Argument<string>("Domain"));
        var command = new Command("console", "Attach to domain's console") { type, number, domain };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            // A PV guest has one console, the PV console 0 (xencons_interface); xl's serial/vuart types need HVM or Arm.
            string? kind = result.GetValue(type);
            if (kind is not null and not "pv")
                throw new XlFailure(kind is "serial" or "vuart"
                    ? $"xl console: a PV domain has no {kind} console; use -t pv"
                    : $"xl console: invalid console type '{kind}' (pv, serial or vuart)");
            if (result.GetValue(number) != 0)
                throw new XlFailure($"xl console: console {result.GetValue(number)} does not exist; a PV domain has console 0");

            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var reply = Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.Console, Domain = result.GetValue(domain) }, cancellationToken)
                .ConfigureAwait(false));
            var attached = reply.Domain ?? throw new XlFailure("xl: paravirtd did not say which console it attached");
            await RelayConsoleAsync(context, client, attached, cancellationToken).ConfigureAwait(false);
            // xl console succeeds however the domain ended; only xl create -c reports the guest's fate.
            return XlExit.Success;
        }));
        return command;
    }

    public static Command Dmesg(XlContext context)
    {
        var clear = new Option<bool>("--clear", "-c") { Description = "Clear dmesg buffer as well as printing it" };
        var command = new Command("dmesg", "Read and/or clear dmesg buffer") { clear };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var reply = Expect(await client.RequestAsync(new ControlRequest { Op = ControlOps.Dmesg, Clear = result.GetValue(clear) }, cancellationToken)
                .ConfigureAwait(false));
            await context.Out.WriteAsync(reply.Text ?? "").ConfigureAwait(false);
            return XlExit.Success;
        }));
        return command;
    }

    private static Command SimpleDomainCommand(XlContext context, string name, string description, string op)
    {
        var domain = Operands(new Argument<string>("Domain"));
        var command = new Command(name, description) { domain };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            Expect(await client.RequestAsync(new ControlRequest { Op = op, Domain = result.GetValue(domain) }, cancellationToken)
                .ConfigureAwait(false));
            return XlExit.Success;
        }));
        return command;
    }

    /// <summary>Relay the console until the domain dies (exit status from how it ended) or the user detaches (0).</summary>
    private static async Task<int> RelayConsoleAsync(XlContext context, ControlClient client, DomainSummary domain, CancellationToken cancellationToken)
    {
        ConsoleOutcome outcome;
        DomainEndInfo? end;
        using (context.ConsoleInIsTerminal ? context.EnterRawMode() : null)
        {
            (outcome, end) = await ConsoleRelay.RunAsync(client, context.ConsoleIn, context.ConsoleInIsTerminal, context.ConsoleOut, cancellationToken)
                .ConfigureAwait(false);
        }
        return outcome == ConsoleOutcome.Detached || end is null ? XlExit.Success : Report(context, domain, end);
    }

    /// <summary>The exit status for a domain's end, with one stderr line when it crashed.</summary>
    private static int Report(XlContext context, DomainSummary domain, DomainEndInfo end)
    {
        if (end.ExitCode != XlExit.Success)
        {
            string what = end.Reason == DomainShutdownReason.Watchdog ? "was stopped by its watchdog" : "crashed";
            context.Error.WriteLine($"Domain {domain.DomId} ({domain.Name}) {what}{(string.IsNullOrEmpty(end.CrashMessage) ? "" : $": {end.CrashMessage}")}");
        }
        return end.ExitCode;
    }

    /// <summary>
    /// Operands may not look like options: xl's getopt refuses an unknown option rather than taking it for a domain
    /// name ("option `x' not supported.", def_getopt in xl_utils.c).
    /// </summary>
    private static Argument<T> Operands<T>(Argument<T> argument)
    {
        argument.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
            {
                if (token.Value.Length > 1 && token.Value[0] == '-')
                {
                    result.AddError($"option `{token.Value.TrimStart('-')}' not supported.");
                    return;
                }
            }
        });
        return argument;
    }

    private static ControlResponse Expect(ControlResponse response) =>
        response.Ok ? response : throw new XlFailure(response.Error ?? "paravirtd refused the request");

    private static string Id(DomainSummary domain) => domain.DomId.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
