using System.Threading.Channels;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Toolstack;

/// <summary>Why a domain stopped: SHUTDOWN_* of sched.h (poweroff 0, reboot 1, suspend 2, crash 3, watchdog 4, soft_reset 5).</summary>
public enum ShutdownReason
{
    Poweroff = 0, Reboot = 1, Suspend = 2, Crash = 3, Watchdog = 4, SoftReset = 5,
}

/// <summary>A domain as `xl list` shows it.</summary>
public sealed record DomainInfo(
    uint DomId,
    string Name,
    Guid Uuid,
    long MemoryMiB,
    int Vcpus,
    /// <summary>The six state letters of `xl list`: r b p s c d, '-' where clear.</summary>
    string State,
    double CpuTimeSeconds);

/// <summary>How a domain ended (for `xl create -c` exit status and `xl list` state).</summary>
public sealed record DomainEnd(ShutdownReason Reason, bool Destroyed, string? CrashMessage);

/// <summary>
/// A console attachment: first the bounded history kept since the domain was created, then live output.
/// The reader completes when the domain dies; <see cref="End"/> then says how.
/// </summary>
public sealed class ConsoleSession : IDisposable
{
    private readonly Action _detach;

    public ConsoleSession(ChannelReader<byte[]> output, Task<DomainEnd> end, Action<ReadOnlyMemory<byte>> input, Action detach)
    {
        Output = output;
        End = end;
        SendInput = input;
        _detach = detach;
    }

    public ChannelReader<byte[]> Output { get; }
    public Task<DomainEnd> End { get; }
    /// <summary>Keyboard input to the guest console.</summary>
    public Action<ReadOnlyMemory<byte>> SendInput { get; }
    public void Dispose() => _detach();
}

/// <summary>The toolstack as `paravirtd` exposes it to `xl`. Every failure is a <see cref="ToolstackException"/>
/// with one line for the administrator; a failed call leaves nothing behind.</summary>
public interface IToolstack
{
    /// <summary>Build and (unless <paramref name="paused"/>) start a domain.</summary>
    DomainInfo Create(DomainConfig config, bool paused);
    IReadOnlyList<DomainInfo> List();
    /// <summary>Resolve a domain by name or numeric id, as xl does; throws when there is none.</summary>
    DomainInfo Find(string nameOrId);
    void Destroy(uint domId);
    void Pause(uint domId);
    void Unpause(uint domId);
    ConsoleSession AttachConsole(uint domId);
    /// <summary>Completes when the domain has died (or at once if it is gone).</summary>
    Task<DomainEnd> WaitForEnd(uint domId);
    /// <summary>The hypervisor console ring (`xl dmesg`); <paramref name="clear"/> empties it after reading.</summary>
    string Dmesg(bool clear);
}

public sealed class ToolstackException(string message) : Exception(message);
