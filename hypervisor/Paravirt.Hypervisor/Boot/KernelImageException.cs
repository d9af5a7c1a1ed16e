namespace Paravirt.Hypervisor.Boot;

/// <summary>A kernel image (or its placement) that the domain builder refuses; the message is one line for the admin.</summary>
public sealed class DomainBuildException(string message) : Exception(message);
