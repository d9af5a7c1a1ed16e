using System.Globalization;
using Paravirt.Control;
using Paravirt.Control.Messages;
using Paravirt.XlConfig;

namespace Paravirt.Xl;

/// <summary>
/// `xl create -F`: stay with the domain until it is gone for good, following it through the restarts its on_*
/// actions make, and log each death as xl's create_domain loop does on stderr (tools/xl/xl_vmcontrol.c:
/// handle_domain_death and the DOMAIN_SHUTDOWN/DOMAIN_DEATH cases).
/// </summary>
public static class XlForeground
{
    public static async Task<int> FollowAsync(XlContext context, ControlClient client, DomainConfig config, DomainSummary domain,
        CancellationToken cancellationToken)
    {
        while (true)
        {
            var reply = await client.RequestAsync(new ControlRequest
            {
                Op = ControlOps.Wait, Domain = domain.DomId.ToString(CultureInfo.InvariantCulture), FollowRestart = true,
            }, cancellationToken).ConfigureAwait(false);
            if (!reply.Ok) throw new XlFailure(reply.Error ?? "paravirtd refused the request");
            if (reply.End is not { } end) return XlExit.Success;
            foreach (string line in DeathLog(config, domain, end, restarted: reply.Domain is not null))
                await context.Error.WriteLineAsync(line).ConfigureAwait(false);
            if (reply.Domain is not { } next) return XlExit.Success;
            domain = next;
        }
    }

    /// <summary>
    /// The lines xl logs for one end of <paramref name="domain"/>: a destroy is one line; a shutdown names its reason
    /// code and the configured action, and says whether xl carries on (a restart) or exits.
    /// </summary>
    public static IReadOnlyList<string> DeathLog(DomainConfig config, DomainSummary domain, DomainEndInfo end, bool restarted)
    {
        var lines = new List<string>();
        if (end.Destroyed)
        {
            lines.Add($"Domain {domain.DomId} has been destroyed.");
            return lines;
        }
        int code = (int)end.Reason;
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"Domain {domain.DomId} has shut down, reason code {code} 0x{code:x}"));
        var action = ActionFor(config, end.Reason);
        lines.Add($"Action for shutdown reason code {code} is {LibxlJson.Action(action)}");
        if (end.Reason is DomainShutdownReason.Crash or DomainShutdownReason.Watchdog && !string.IsNullOrEmpty(end.CrashMessage))
            lines.Add($"Domain {domain.DomId} ({domain.Name}) {(end.Reason == DomainShutdownReason.Watchdog ? "was stopped by its watchdog" : "crashed")}: {end.CrashMessage}");
        if (action is DomainAction.Restart or DomainAction.Destroy or DomainAction.CoredumpRestart or DomainAction.CoredumpDestroy)
            lines.Add($"Domain {domain.DomId} needs to be cleaned up: destroying the domain");
        lines.Add(restarted ? "Done. Rebooting now" : "Done. Exiting now");
        return lines;
    }

    /// <summary>The on_* action the toolstack applies for <paramref name="reason"/> (as Toolstack.HandleDeath: a soft reset is destroyed, anything else unknown is a crash).</summary>
    public static DomainAction ActionFor(DomainConfig config, DomainShutdownReason reason) => reason switch
    {
        DomainShutdownReason.Poweroff => config.OnPoweroff,
        DomainShutdownReason.Reboot => config.OnReboot,
        DomainShutdownReason.Watchdog => config.OnWatchdog,
        DomainShutdownReason.SoftReset => DomainAction.Destroy,
        _ => config.OnCrash,
    };
}
