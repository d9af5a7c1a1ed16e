using Paravirt.Control.Messages;
using Paravirt.Control.Protocol;
using Paravirt.Domains.Toolstack;

namespace Paravirt.Daemon;

/// <summary>
/// One xl connection: requests answered in order until the client hangs up, or — after a console attachment — a
/// console stream until the domain dies or the client detaches. A protocol violation gets an error reply when the
/// framing is still intact (bad JSON, unknown op) and closes the connection when it is not (bad header, oversize).
/// </summary>
public sealed class ClientConnection(Stream stream, RequestDispatcher dispatcher, DaemonLog log, int clientId)
{
    private readonly FrameReader _reader = new(stream);
    private readonly FrameWriter _writer = new(stream);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                Frame? frame;
                try
                {
                    frame = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (ProtocolException e)
                {
                    log.Warning($"client {clientId}: {e.Message}; closing");
                    await TryReplyAsync(ControlResponse.Failure($"protocol error: {e.Message}"), cancellationToken).ConfigureAwait(false);
                    await DrainAsync(cancellationToken).ConfigureAwait(false);
                    return;
                }
                if (frame is null)
                    return;
                if (frame.Value.Kind != FrameKind.Request)
                {
                    log.Warning($"client {clientId}: unexpected {frame.Value.Kind} frame; closing");
                    await TryReplyAsync(ControlResponse.Failure($"protocol error: expected a Request frame, got {frame.Value.Kind}"), cancellationToken).ConfigureAwait(false);
                    await DrainAsync(cancellationToken).ConfigureAwait(false);
                    return;
                }

                ControlRequest request;
                try
                {
                    request = ControlJson.Deserialize<ControlRequest>(frame.Value.Payload);
                }
                catch (ProtocolException e)
                {
                    await ReplyAsync(ControlResponse.Failure($"protocol error: {e.Message}"), cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (request.Op == ControlOps.Console || (request.Op == ControlOps.Create && request.Console))
                {
                    await RunConsoleAsync(request, cancellationToken).ConfigureAwait(false);
                    return;
                }
                var response = await dispatcher.DispatchAsync(request, cancellationToken).ConfigureAwait(false);
                await ReplyAsync(response, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The client went away or the daemon is stopping; nothing to tell anyone.
        }
        catch (Exception e)
        {
            log.Error($"client {clientId}: {e}");
        }
        finally
        {
            _writer.Dispose();
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task RunConsoleAsync(ControlRequest request, CancellationToken cancellationToken)
    {
        if (RequestDispatcher.Validate(request) is { } invalid)
        {
            await ReplyAsync(ControlResponse.Failure(invalid), cancellationToken).ConfigureAwait(false);
            return;
        }

        ConsoleSession session;
        DomainInfo domain;
        try
        {
            (session, domain) = request.Op == ControlOps.Create ? CreateAttached(request) : Attach(request.Domain!);
        }
        catch (ToolstackException e)
        {
            await ReplyAsync(ControlResponse.Failure(e.Message), cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (Exception e)
        {
            log.Error($"client {clientId}: internal error in '{request.Op}': {e}");
            await ReplyAsync(ControlResponse.Failure($"paravirtd internal error in '{request.Op}': {e.GetType().Name}: {e.Message}"), cancellationToken).ConfigureAwait(false);
            return;
        }

        using (session)
        using (var detach = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            await ReplyAsync(new ControlResponse { Ok = true, Domain = domain.ToWire() }, cancellationToken).ConfigureAwait(false);
            log.Info($"client {clientId}: console attached to domain {domain.DomId} ({domain.Name})");

            var input = RelayInputAsync(session, detach);
            try
            {
                await foreach (var chunk in session.Output.ReadAllAsync(detach.Token).ConfigureAwait(false))
                    await _writer.WriteChunkedAsync(FrameKind.ConsoleOutput, chunk, detach.Token).ConfigureAwait(false);
                var end = await session.End.WaitAsync(detach.Token).ConfigureAwait(false);
                await _writer.WriteAsync(FrameKind.ConsoleEnd, ControlJson.Serialize(end.ToWire()), detach.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (detach.IsCancellationRequested)
            {
                // The client detached (or the daemon stops): leave the domain running.
            }
            finally
            {
                detach.Cancel();
                await input.ConfigureAwait(false);
                log.Info($"client {clientId}: console detached from domain {domain.DomId}");
            }
        }
    }

    private (ConsoleSession, DomainInfo) Attach(string nameOrId)
    {
        var domain = dispatcher.Toolstack.Find(nameOrId);
        return (dispatcher.Toolstack.AttachConsole(domain.DomId), domain);
    }

    /// <summary>
    /// xl create -c: build the domain paused, attach, and only then let it run, so no output can be lost between
    /// creation and attachment. If attaching fails the new domain is destroyed: a failed create leaves nothing.
    /// </summary>
    private (ConsoleSession, DomainInfo) CreateAttached(ControlRequest request)
    {
        var toolstack = dispatcher.Toolstack;
        var domain = toolstack.Create(request.Config!, paused: true);
        log.Info($"client {clientId}: created domain {domain.DomId} ({domain.Name}) with console");
        ConsoleSession? session = null;
        try
        {
            session = toolstack.AttachConsole(domain.DomId);
            if (!request.Paused)
                toolstack.Unpause(domain.DomId);
            return (session, domain);
        }
        catch
        {
            session?.Dispose();
            try { toolstack.Destroy(domain.DomId); }
            catch (ToolstackException e) { log.Warning($"cleanup of domain {domain.DomId} failed: {e.Message}"); }
            throw;
        }
    }

    private async Task RelayInputAsync(ConsoleSession session, CancellationTokenSource detach)
    {
        try
        {
            while (true)
            {
                var frame = await _reader.ReadAsync(detach.Token).ConfigureAwait(false);
                if (frame is null)
                    break;
                if (frame.Value.Kind != FrameKind.ConsoleInput)
                {
                    log.Warning($"client {clientId}: unexpected {frame.Value.Kind} frame on a console stream; detaching");
                    break;
                }
                if (frame.Value.Payload.Length > 0)
                    session.SendInput(frame.Value.Payload);
            }
        }
        catch (ProtocolException e)
        {
            log.Warning($"client {clientId}: {e.Message}; detaching console");
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
        catch (Exception e)
        {
            log.Error($"client {clientId}: console input: {e}");
        }
        // The client hung up or broke the protocol: stop relaying output too.
        detach.Cancel();
    }

    /// <summary>
    /// Before closing on a broken stream, read (and drop) what the client already sent, briefly and boundedly:
    /// closing a socket with unread input makes the kernel reset the connection, and the client would lose the
    /// error reply explaining why.
    /// </summary>
    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        const int maxBytes = 1024 * 1024;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(200));
        var scratch = new byte[4096];
        try
        {
            for (int total = 0; total < maxBytes;)
            {
                int n = await stream.ReadAsync(scratch, timeout.Token).ConfigureAwait(false);
                if (n == 0)
                    return;
                total += n;
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    private Task ReplyAsync(ControlResponse response, CancellationToken cancellationToken) =>
        _writer.WriteAsync(FrameKind.Response, ControlJson.Serialize(response), cancellationToken);

    private async Task TryReplyAsync(ControlResponse response, CancellationToken cancellationToken)
    {
        try { await ReplyAsync(response, cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException) { }
    }
}
