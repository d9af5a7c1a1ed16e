using Paravirt.XlConfig;

namespace Paravirt.Control.Messages;

/// <summary>One request from xl. Which fields matter depends on <see cref="Op"/> (see <see cref="ControlOps"/>).</summary>
public sealed class ControlRequest
{
    public string Op { get; set; } = "";
    /// <summary>A domain name or numeric id, resolved by the toolstack as xl does.</summary>
    public string? Domain { get; set; }
    public DomainConfig? Config { get; set; }
    /// <summary>create: leave the domain paused (xl create -p).</summary>
    public bool Paused { get; set; }
    /// <summary>create: attach the console before the domain first runs (xl create -c).</summary>
    public bool Console { get; set; }
    /// <summary>dmesg: clear the ring after reading (xl dmesg -c).</summary>
    public bool Clear { get; set; }
}
