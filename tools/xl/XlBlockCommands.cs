using System.CommandLine;
using System.Globalization;
using Newtonsoft.Json.Linq;
using Paravirt.Control.Messages;
using Paravirt.XlConfig;

namespace Paravirt.Xl;

/// <summary>
/// xl block-attach, block-detach and block-list (tools/xl/xl_block.c): disks are parsed here with the
/// xl-disk-configuration(5) grammar, as xl does before calling libxl; the daemon attaches them.
/// </summary>
public static class XlBlockCommands
{
    public static Command BlockAttach(XlContext context)
    {
        var domain = new Argument<string>("Domain");
        var spec = new Argument<string[]>("disk-spec-component(s)") { Arity = ArgumentArity.OneOrMore };
        var command = new Command("block-attach", "Create a new virtual block device") { domain, spec };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            string target = result.GetValue(domain)!;
            // parse_disk_config_multistring: the components read as one comma-separated specification.
            DiskSpec disk;
            try { disk = DiskSpec.Parse(string.Join(",", result.GetValue(spec)!)); }
            catch (DiskSpecException e) { throw new XlFailure(e.Message); }
            if (context.DryRun)
            {
                // libxl_domain_qualifier_to_domid: a number is taken as it is; a name must exist.
                if (!uint.TryParse(target, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                    await ResolveAsync(context, target, cancellationToken).ConfigureAwait(false);
                await context.Out.WriteLineAsync("disk: " + LibxlJson.Render(DiskJson(disk))).ConfigureAwait(false);
                return XlExit.Success;
            }
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var reply = await client.RequestAsync(new ControlRequest { Op = ControlOps.BlockAttach, Domain = target, Disk = disk }, cancellationToken)
                .ConfigureAwait(false);
            if (!reply.Ok) throw new XlFailure(reply.Error ?? "libxl_device_disk_add failed.");
            return XlExit.Success;
        }));
        return command;
    }

    public static Command BlockDetach(XlContext context)
    {
        var force = new Option<bool>("--force", "-f") { Description = "Remove the device without waiting for the guest to release it." };
        var domain = new Argument<string>("Domain");
        var device = new Argument<string>("DevId");
        var command = new Command("block-detach", "Destroy a domain's virtual block device") { force, domain, device };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var reply = await client.RequestAsync(new ControlRequest
            {
                Op = ControlOps.BlockDetach, Domain = result.GetValue(domain), Device = result.GetValue(device), Force = result.GetValue(force),
            }, cancellationToken).ConfigureAwait(false);
            if (!reply.Ok) throw new XlFailure(reply.Error ?? $"libxl_device_disk_{(result.GetValue(force) ? "destroy" : "safe_remove")} failed.");
            return XlExit.Success;
        }));
        return command;
    }

    public static Command BlockList(XlContext context)
    {
        var domains = new Argument<string[]>("Domain(s)") { Arity = ArgumentArity.OneOrMore };
        var command = new Command("block-list", "List virtual block devices for a domain") { domains };
        command.SetAction((result, cancellationToken) => XlCommandLine.Guard(context, async () =>
        {
            using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
            await context.Out.WriteLineAsync(Row("Vdev", "BE", "handle", "state", "evt-ch", "ring-ref", "BE-path")).ConfigureAwait(false);
            foreach (var name in result.GetValue(domains)!)
            {
                var reply = await client.RequestAsync(new ControlRequest { Op = ControlOps.BlockList, Domain = name }, cancellationToken).ConfigureAwait(false);
                if (!reply.Ok)
                {
                    // xl reports the bad domain and goes on with the others.
                    await context.Error.WriteLineAsync(reply.Error ?? $"{name} is an invalid domain identifier").ConfigureAwait(false);
                    continue;
                }
                foreach (var d in reply.Disks ?? [])
                    await context.Out.WriteLineAsync(Row(I(d.DevId), I(d.BackendId), I(d.FrontendId), I(d.State), I(d.EventChannel), I(d.RingRef), d.BackendPath))
                        .ConfigureAwait(false);
            }
            return XlExit.Success;
        }));
        return command;
    }

    /// <summary>main_blocklist's "%-5s %-3s %-6s %-5s %-6s %-8s %-30s".</summary>
    internal static string Row(string vdev, string be, string handle, string state, string evtch, string rref, string path) =>
        $"{vdev,-5} {be,-3} {handle,-6} {state,-5} {evtch,-6} {rref,-8} {path,-30}";

    private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// libxl_device_disk_to_json: libxl's generator leaves out every field still at its default (null strings,
    /// zero numbers, false, defbool "default", LIBXL_DISK_BACKEND_UNKNOWN).
    /// </summary>
    internal static JObject DiskJson(DiskSpec disk)
    {
        var json = disk.ToLibxlJson();
        foreach (var p in json.Properties().ToList())
        {
            bool isDefault = p.Value is JValue { Value: null } || p.Value.Type switch
            {
                JTokenType.Null => true,
                JTokenType.Integer => p.Value.Value<long>() == 0,
                JTokenType.Boolean => !p.Value.Value<bool>(),
                JTokenType.String => p.Value.Value<string>() is "default" || (p.Name == "backend" && p.Value.Value<string>() == "unknown"),
                _ => false,
            };
            if (isDefault) p.Remove();
        }
        return json;
    }

    private static async Task ResolveAsync(XlContext context, string name, CancellationToken cancellationToken)
    {
        using var client = await context.Daemon.ConnectAsync(cancellationToken).ConfigureAwait(false);
        var reply = await client.RequestAsync(new ControlRequest { Op = ControlOps.List, Domain = name }, cancellationToken).ConfigureAwait(false);
        if (!reply.Ok) throw new XlFailure($"{name} is an invalid domain identifier");
    }
}
