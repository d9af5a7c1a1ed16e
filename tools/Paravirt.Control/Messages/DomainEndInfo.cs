namespace Paravirt.Control.Messages;

/// <summary>SHUTDOWN_* codes of xen/include/public/sched.h.</summary>
public enum DomainShutdownReason
{
    Poweroff = 0, Reboot = 1, Suspend = 2, Crash = 3, Watchdog = 4, SoftReset = 5,
}

/// <summary>How a domain ended; the wire form of the toolstack's DomainEnd.</summary>
public sealed class DomainEndInfo
{
    public DomainShutdownReason Reason { get; set; }
    /// <summary>The domain was destroyed (xl destroy, or its on_* action) rather than having only shut down.</summary>
    public bool Destroyed { get; set; }
    public string? CrashMessage { get; set; }

    /// <summary>
    /// The exit status `xl create -c` gives when the domain ends: 0 when the guest shut down in order
    /// (poweroff, reboot, suspend, soft reset, or destroyed by the administrator), 1 (xl's EXIT_FAILURE) when it
    /// crashed or its watchdog fired.
    /// </summary>
    public int ExitCode => Reason is DomainShutdownReason.Crash or DomainShutdownReason.Watchdog ? 1 : 0;
}
