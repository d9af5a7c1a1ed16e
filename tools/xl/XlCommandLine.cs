using System.CommandLine;
using System.CommandLine.Invocation;
using System.Net.Sockets;
using Paravirt.Control;
using Paravirt.Control.Protocol;

namespace Paravirt.Xl;

/// <summary>
/// xl's command line with Xen's command names, usage strings and options (tools/xl/xl_cmdtable.c). Errors are one
/// line on stderr; the exit status is xl's: 0 success, 1 failure, 2 usage error.
/// </summary>
public static class XlCommandLine
{
    public static RootCommand Build(XlContext context)
    {
        var root = new RootCommand("xl: manage Paravirt domains (Xen's xl, for the Paravirt hypervisor)")
        {
            XlCommands.Create(context),
            XlCommands.List(context),
            XlCommands.Destroy(context),
            XlCommands.Pause(context),
            XlCommands.Unpause(context),
            XlCommands.Console(context),
            XlCommands.Dmesg(context),
            XlDomainCommands.Shutdown(context),
            XlDomainCommands.Reboot(context),
            XlDomainCommands.Rename(context),
            XlDomainCommands.DomId(context),
            XlDomainCommands.DomName(context),
            XlDomainCommands.Uptime(context),
            XlDomainCommands.MemSet(context),
            XlDomainCommands.MemMax(context),
            XlDomainCommands.Info(context),
            XlDomainCommands.VcpuList(context),
            XlDomainCommands.VcpuSet(context),
            XlTop.Command(context),
            XlSchedCommands.VcpuPin(context),
            XlSchedCommands.SchedCredit(context),
            XlBlockCommands.BlockAttach(context),
            XlBlockCommands.BlockDetach(context),
            XlBlockCommands.BlockList(context),
        };
        root.SetAction(_ =>
        {
            // xl with no command prints the command list and fails (xl.c: help(NULL), EXIT_FAILURE).
            context.Out.WriteLine("Usage xl [-v] <subcommand> [args]\n\nxl full list of subcommands:\n");
            foreach (var command in root.Subcommands)
                context.Out.WriteLine($" {command.Name,-20}{command.Description}");
            return XlExit.Failure;
        });
        return root;
    }

    /// <summary>Commands that honour the global -N (xl_cmdtable.c's can_dryrun).</summary>
    private static readonly HashSet<string> DryRunCommands = new(StringComparer.Ordinal) { "create", "block-attach", "vcpu-pin" };

    public static async Task<int> RunAsync(string[] args, XlContext context, CancellationToken cancellationToken = default)
    {
        // xl's global options come before the command (xl.c: "+vftN"): -v verbose (repeatable), -N dry run,
        // -f force and -t timestamps accepted for compatibility.
        int globals = 0;
        while (globals < args.Length && args[globals].Length > 1 && args[globals][0] == '-' && args[globals][1..].All(c => c is 'v' or 'N' or 'f' or 't' or 'T'))
        {
            foreach (char c in args[globals][1..])
            {
                if (c == 'v') context = context with { Verbosity = context.Verbosity + 1 };
                if (c == 'N') context = context with { DryRun = true };
            }
            globals++;
        }
        args = args[globals..];
        if (context.DryRun && args.Length > 0 && !DryRunCommands.Contains(args[0]) && args[0] != "help")
        {
            await context.Error.WriteLineAsync("command does not implement -N (dryrun) option").ConfigureAwait(false);
            return XlExit.Failure;
        }
        var root = Build(context);

        // `xl help <command>` is `xl <command> --help`.
        if (args is ["help", ..])
            args = args.Length > 1 ? [args[1], "--help"] : ["--help"];
        if (args.Length > 0 && !args[0].StartsWith('-') && root.Subcommands.All(c => c.Name != args[0]))
        {
            await context.Error.WriteLineAsync("command not implemented").ConfigureAwait(false);
            return XlExit.Failure;
        }

        var parsed = root.Parse(args);
        if (parsed.Action is ParseErrorAction)
        {
            string command = parsed.CommandResult.Command == root ? "xl" : $"xl {parsed.CommandResult.Command.Name}";
            await context.Error.WriteLineAsync($"{command}: {parsed.Errors[0].Message}").ConfigureAwait(false);
            return XlExit.Usage;
        }
        var invocation = new InvocationConfiguration { Output = context.Out, Error = context.Error, EnableDefaultExceptionHandler = false };
        return await parsed.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Run a command body, turning every expected failure into one stderr line and xl's exit status.</summary>
    internal static async Task<int> Guard(XlContext context, Func<Task<int>> body)
    {
        string message;
        int code = XlExit.Failure;
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (XlFailure e)
        {
            message = e.Message;
            code = e.ExitCode;
        }
        catch (DaemonUnavailableException e)
        {
            message = $"xl: {e.Message}";
        }
        catch (ProtocolException e)
        {
            message = $"xl: bad reply from paravirtd: {e.Message}";
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            message = $"xl: lost the connection to paravirtd: {e.Message}";
        }
        catch (OperationCanceledException)
        {
            // SIGINT/SIGTERM while waiting (a console, xl create -F): stop quietly; the domain keeps running.
            return XlExit.Failure;
        }
        await context.Error.WriteLineAsync(message.ReplaceLineEndings(" ")).ConfigureAwait(false);
        return code;
    }
}
