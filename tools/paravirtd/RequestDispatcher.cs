using Paravirt.Control.Messages;
using Paravirt.Domains.Toolstack;

namespace Paravirt.Daemon;

/// <summary>
/// Turns one request into toolstack calls and a reply. Every failure becomes an error reply: a
/// <see cref="ToolstackException"/> passes its line through, anything else is logged and reported as an internal
/// error, so no request can take the daemon down. Console attachment is not handled here (it changes the
/// connection's mode): see <see cref="ClientConnection"/>.
/// </summary>
public sealed class RequestDispatcher(IToolstack toolstack, DaemonLog log)
{
    public IToolstack Toolstack => toolstack;

    /// <summary>Null when the request is well formed, else the error line to send back.</summary>
    public static string? Validate(ControlRequest request)
    {
        if (MessageValidation.FindMissingValue(request) is { } missing)
            return $"malformed request: {missing} is missing";
        if (!ControlOps.All.Contains(request.Op))
            return $"unknown operation '{Printable(request.Op)}'";
        if (ControlOps.NeedsDomain(request.Op) && string.IsNullOrWhiteSpace(request.Domain))
            return $"'{request.Op}' needs a domain";
        if (request.Op == ControlOps.Create && request.Config is null)
            return "'create' needs a domain configuration";
        if (request.Op == ControlOps.Rename && string.IsNullOrEmpty(request.NewName))
            return "'rename' needs a new name";
        if (request.Op is ControlOps.MemSet or ControlOps.MemMax && request.MemoryKiB <= 0)
            return $"'{request.Op}' needs a positive amount of memory";
        if (request.Op == ControlOps.BlockAttach && request.Disk is null)
            return "'block-attach' needs a disk specification";
        if (request.Op == ControlOps.BlockDetach && string.IsNullOrEmpty(request.Device))
            return "'block-detach' needs a device";
        return null;
    }

    /// <summary>Run a request that does not change the connection's mode (everything but console attachment).</summary>
    public async Task<ControlResponse> DispatchAsync(ControlRequest request, CancellationToken cancellationToken)
    {
        if (Validate(request) is { } invalid)
            return ControlResponse.Failure(invalid);
        try
        {
            switch (request.Op)
            {
                case ControlOps.Ping:
                    return ControlResponse.Success();
                case ControlOps.Create:
                    var created = toolstack.Create(request.Config!, request.Paused);
                    log.Info($"created domain {created.DomId} ({created.Name}){(request.Paused ? " paused" : "")}");
                    return new ControlResponse { Ok = true, Domain = created.ToWire() };
                case ControlOps.List:
                    var domains = string.IsNullOrEmpty(request.Domain)
                        ? toolstack.List()
                        : [toolstack.Find(request.Domain)];
                    var summaries = domains.OrderBy(d => d.DomId).Select(d => d.ToWire()).ToList();
                    if (request.Long)
                        foreach (var summary in summaries) summary.Config = toolstack.ConfigOf(summary.DomId);
                    return new ControlResponse { Ok = true, Domains = summaries };
                case ControlOps.Destroy:
                    // A domain between an on_* restart's teardown and its re-creation has no domid: destroying it by
                    // name cancels the restart. Tried once more if the restart completed in between.
                    for (int attempt = 0; ; attempt++)
                    {
                        try
                        {
                            var victim = toolstack.Find(request.Domain!);
                            toolstack.Destroy(victim.DomId);
                            log.Info($"destroyed domain {victim.DomId} ({victim.Name})");
                            return ControlResponse.Success();
                        }
                        catch (ToolstackException) when (attempt == 0)
                        {
                            if (toolstack.CancelPendingRestart(request.Domain!))
                            {
                                log.Info($"cancelled the pending restart of {request.Domain}");
                                return ControlResponse.Success();
                            }
                        }
                    }
                case ControlOps.Pause:
                    toolstack.Pause(toolstack.Find(request.Domain!).DomId);
                    return ControlResponse.Success();
                case ControlOps.Unpause:
                    toolstack.Unpause(toolstack.Find(request.Domain!).DomId);
                    return ControlResponse.Success();
                case ControlOps.Wait:
                    // A numeric id is taken as it is: the toolstack still answers for a domain that has just gone.
                    var waitedFor = uint.TryParse(request.Domain, System.Globalization.NumberStyles.None,
                        System.Globalization.CultureInfo.InvariantCulture, out uint numeric)
                        ? numeric
                        : toolstack.Find(request.Domain!).DomId;
                    // Both taken while the domain exists: after its end it can no longer be looked up.
                    var endTask = toolstack.WaitForEnd(waitedFor);
                    var successorTask = request.FollowRestart ? toolstack.WaitForSuccessor(waitedFor) : null;
                    var end = await endTask.WaitAsync(cancellationToken).ConfigureAwait(false);
                    var successor = successorTask is null ? null : await successorTask.WaitAsync(cancellationToken).ConfigureAwait(false);
                    return new ControlResponse { Ok = true, End = end.ToWire(), Domain = successor?.ToWire() };
                case ControlOps.Shutdown:
                    var stopping = toolstack.Find(request.Domain!);
                    // Take the end before asking, so a guest that stops at once cannot be missed.
                    var ending = request.WaitForEnd ? toolstack.WaitForEnd(stopping.DomId) : null;
                    toolstack.Shutdown(stopping.DomId, request.Reboot ? ShutdownReason.Reboot : ShutdownReason.Poweroff, request.Force);
                    log.Info($"{(request.Reboot ? "reboot" : "shutdown")} of domain {stopping.DomId} ({stopping.Name}) requested");
                    if (ending is null)
                        return ControlResponse.Success();
                    var stopped = await ending.WaitAsync(cancellationToken).ConfigureAwait(false);
                    return new ControlResponse { Ok = true, End = stopped.ToWire() };
                case ControlOps.Rename:
                    var renamed = toolstack.Find(request.Domain!);
                    toolstack.Rename(renamed.DomId, request.NewName!);
                    log.Info($"renamed domain {renamed.DomId} ({renamed.Name}) to {request.NewName}");
                    return ControlResponse.Success();
                case ControlOps.MemSet:
                    toolstack.SetMemoryTarget(toolstack.Find(request.Domain!).DomId, request.MemoryKiB);
                    return ControlResponse.Success();
                case ControlOps.MemMax:
                    toolstack.SetMaxMemory(toolstack.Find(request.Domain!).DomId, request.MemoryKiB);
                    return ControlResponse.Success();
                case ControlOps.VcpuSet:
                    toolstack.SetOnlineVcpus(toolstack.Find(request.Domain!).DomId, request.VcpuCount);
                    return ControlResponse.Success();
                case ControlOps.Info:
                    return new ControlResponse { Ok = true, Host = toolstack.GetHostInfo().ToWire() };
                case ControlOps.BlockAttach:
                    var attachTo = toolstack.Find(request.Domain!);
                    toolstack.AttachDisk(attachTo.DomId, request.Disk!);
                    log.Info($"attached disk {request.Disk!.Vdev} to domain {attachTo.DomId} ({attachTo.Name})");
                    return ControlResponse.Success();
                case ControlOps.BlockDetach:
                    var detachFrom = toolstack.Find(request.Domain!);
                    toolstack.DetachDisk(detachFrom.DomId, request.Device!, request.Force);
                    log.Info($"detached disk {request.Device} from domain {detachFrom.DomId} ({detachFrom.Name})");
                    return ControlResponse.Success();
                case ControlOps.BlockList:
                    var disks = toolstack.ListDisks(toolstack.Find(request.Domain!).DomId);
                    return new ControlResponse { Ok = true, Disks = disks.Select(d => d.ToWire()).ToList() };
                case ControlOps.Dmesg:
                    return new ControlResponse { Ok = true, Text = TailThatFits(toolstack.Dmesg(request.Clear)) };
                case ControlOps.SchedCredit:
                    return SchedCredit(request);
                case ControlOps.SchedCreditPool:
                    if (request.TimesliceMs is not null || request.RatelimitUs is not null || request.MigrationDelayUs is not null)
                    {
                        toolstack.SetSchedCreditPool(request.TimesliceMs, request.RatelimitUs, request.MigrationDelayUs);
                        log.Info($"credit scheduler parameters set: tslice {request.TimesliceMs?.ToString() ?? "-"} ms, ratelimit {request.RatelimitUs?.ToString() ?? "-"} us, migration delay {request.MigrationDelayUs?.ToString() ?? "-"} us");
                    }
                    return new ControlResponse { Ok = true, SchedPool = toolstack.GetSchedCreditPool().ToWire() };
                case ControlOps.VcpuPin:
                    toolstack.PinVcpu(toolstack.Find(request.Domain!).DomId, request.VcpuId, request.HardAffinity, request.SoftAffinity);
                    return ControlResponse.Success();
                default:
                    return ControlResponse.Failure($"'{request.Op}' cannot be used here");
            }
        }
        catch (ToolstackException e)
        {
            return ControlResponse.Failure(e.Message);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ControlResponse.Failure("paravirtd is shutting down");
        }
        catch (Exception e)
        {
            log.Error($"internal error in '{request.Op}': {e}");
            return ControlResponse.Failure($"paravirtd internal error in '{request.Op}': {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>xl sched-credit: one domain (set first when Weight or Cap is given) or every domain, with the pool.</summary>
    private ControlResponse SchedCredit(ControlRequest request)
    {
        List<SchedDomainSummary> rows;
        if (string.IsNullOrEmpty(request.Domain))
        {
            if (request.Weight is not null || request.Cap is not null)
                return ControlResponse.Failure("Must specify a domain.");
            rows = [];
            foreach (var d in toolstack.List().OrderBy(d => d.DomId))
            {
                try { rows.Add(toolstack.GetSchedCredit(d.DomId).ToWire()); }
                catch (ToolstackException) { /* died since the list was taken */ }
            }
        }
        else
        {
            var target = toolstack.Find(request.Domain);
            if (request.Weight is not null || request.Cap is not null)
            {
                toolstack.SetSchedCredit(target.DomId, request.Weight, request.Cap);
                log.Info($"domain {target.DomId} ({target.Name}): weight {request.Weight?.ToString() ?? "-"}, cap {request.Cap?.ToString() ?? "-"}");
            }
            rows = [toolstack.GetSchedCredit(target.DomId).ToWire()];
        }
        return new ControlResponse { Ok = true, SchedPool = toolstack.GetSchedCreditPool().ToWire(), SchedDomains = rows };
    }

    /// <summary>The dmesg reply must fit one frame; when the ring is larger keep its newest part, as a ring would.</summary>
    internal static string TailThatFits(string text)
    {
        // Each char is at most 3 UTF-8 bytes in the BMP (4 for a surrogate pair, i.e. 2 per char); leave room for JSON escaping.
        const int maxChars = Control.Protocol.FrameLimits.MaxMessageBytes / 8;
        return text.Length <= maxChars ? text : text[^maxChars..];
    }

    private static string Printable(string text)
    {
        var shown = new string(text.Take(32).Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return text.Length > 32 ? shown + "..." : shown;
    }
}
