using System.Runtime.Versioning;

// paravirtd and xl are Linux programs (Unix sockets, file modes, termios); so are their tests.
[assembly: SupportedOSPlatform("linux")]
