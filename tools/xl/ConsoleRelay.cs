using Paravirt.Control;
using Paravirt.Control.Messages;

namespace Paravirt.Xl;

/// <summary>How a console session ended on xl's side.</summary>
public enum ConsoleOutcome { DomainEnded, Detached }

/// <summary>
/// Copies a console stream: guest output to stdout as it arrives, stdin to the guest. Ctrl-] (0x1d, xenconsole's
/// escape character) detaches when stdin is a terminal; end of stdin only stops input, the output keeps flowing
/// until the domain dies, as with xl console.
/// </summary>
public static class ConsoleRelay
{
    /// <summary>Ctrl-]: xenconsole's escape character.</summary>
    public const byte EscapeCharacter = 0x1d;

    public static async Task<(ConsoleOutcome Outcome, DomainEndInfo? End)> RunAsync(
        ControlClient client, Stream stdin, bool escapeEnabled, Stream stdout, CancellationToken cancellationToken = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var detached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Reading stdin blocks a thread in read(2) that cannot be cancelled; the relay never waits for it to finish.
        _ = Task.Run(() => ForwardInputAsync(client, stdin, escapeEnabled, detached, stop.Token), CancellationToken.None);

        var output = CopyOutputAsync(client, stdout, stop.Token);
        var first = await Task.WhenAny(output, detached.Task).ConfigureAwait(false);
        stop.Cancel();
        if (first == detached.Task)
            return (ConsoleOutcome.Detached, null);
        return (ConsoleOutcome.DomainEnded, await output.ConfigureAwait(false));
    }

    private static async Task<DomainEndInfo> CopyOutputAsync(ControlClient client, Stream stdout, CancellationToken cancellationToken)
    {
        while (true)
        {
            var next = await client.ReadConsoleAsync(cancellationToken).ConfigureAwait(false);
            if (next.End is { } end)
            {
                await stdout.FlushAsync(cancellationToken).ConfigureAwait(false);
                return end;
            }
            await stdout.WriteAsync(next.Output, cancellationToken).ConfigureAwait(false);
            await stdout.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task ForwardInputAsync(ControlClient client, Stream stdin, bool escapeEnabled,
        TaskCompletionSource detached, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                int n = await stdin.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                    return;
                int escape = escapeEnabled ? Array.IndexOf(buffer, EscapeCharacter, 0, n) : -1;
                int forward = escape >= 0 ? escape : n;
                if (forward > 0)
                    await client.SendConsoleInputAsync(buffer.AsMemory(0, forward), cancellationToken).ConfigureAwait(false);
                if (escape >= 0)
                {
                    detached.TrySetResult();
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // stdin or the connection closed: nothing more to forward; the output side decides when we are done.
        }
    }
}
