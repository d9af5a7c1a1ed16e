namespace Paravirt.Domains.Backends;

/// <summary>
/// enum xenbus_state of xen/include/public/io/xenbus.h: the value each end of a split device writes to its
/// <c>state</c> node. The numbers are the ABI.
/// </summary>
public enum XenbusState
{
    Unknown = 0,
    Initialising = 1,
    /// <summary>The back-end has published its features and waits for the front-end's ring details.</summary>
    InitWait = 2,
    /// <summary>The front-end has published its ring details.</summary>
    Initialised = 3,
    Connected = 4,
    Closing = 5,
    Closed = 6,
    Reconfiguring = 7,
    Reconfigured = 8,
}

internal static class XenbusStateText
{
    /// <summary>A state node's value as a state; anything that is not one of the nine numbers reads as Unknown.</summary>
    public static XenbusState Parse(string? text) =>
        text != null && int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int v)
        && v is >= 0 and <= 8 ? (XenbusState)v : XenbusState.Unknown;

    public static string Format(XenbusState s) => ((int)s).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
