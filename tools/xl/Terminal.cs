using System.Runtime.InteropServices;

namespace Paravirt.Xl;

/// <summary>
/// Raw mode for `xl console` on a terminal, as xenconsole does (cfmakeraw): keys reach the guest one by one,
/// unechoed, and Ctrl-C goes to the guest rather than killing xl. One difference from xenconsole: output processing
/// (c_oflag) is kept as it was, so a guest that ends lines with a bare '\n' does not draw a staircase. The termios
/// structure is otherwise opaque (a buffer larger than any libc's struct termios); restoring puts back the saved
/// bytes.
/// </summary>
public sealed class Terminal : IDisposable
{
    private const int StdinFd = 0;
    private const int TCSANOW = 0;
    private const int TermiosBufferBytes = 256;
    /// <summary>struct termios on Linux starts tcflag_t c_iflag, c_oflag (asm-generic/termbits.h): c_oflag is bytes 4..7.</summary>
    private const int OutputFlagsOffset = 4;

    private readonly byte[] _saved;
    private bool _restored;

    private Terminal(byte[] saved) => _saved = saved;

    /// <summary>Whether stdin is a terminal (then Ctrl-] detaches and raw mode applies).</summary>
    public static bool StdinIsTerminal => !OperatingSystem.IsWindows() && NativeMethods.isatty(StdinFd) == 1;

    /// <summary>Raw mode until disposed, or null when stdin is not a terminal or its mode cannot be changed.</summary>
    public static Terminal? EnterRawMode()
    {
        if (!StdinIsTerminal)
            return null;
        var saved = new byte[TermiosBufferBytes];
        if (NativeMethods.tcgetattr(StdinFd, saved) != 0)
            return null;
        var raw = (byte[])saved.Clone();
        NativeMethods.cfmakeraw(raw);
        if (OperatingSystem.IsLinux())
            Array.Copy(saved, OutputFlagsOffset, raw, OutputFlagsOffset, sizeof(uint));
        if (NativeMethods.tcsetattr(StdinFd, TCSANOW, raw) != 0)
            return null;
        return new Terminal(saved);
    }

    public void Dispose()
    {
        if (_restored)
            return;
        _restored = true;
        _ = NativeMethods.tcsetattr(StdinFd, TCSANOW, _saved);
    }

    private static class NativeMethods
    {
        [DllImport("libc")] internal static extern int isatty(int fd);
        [DllImport("libc")] internal static extern int tcgetattr(int fd, byte[] termios);
        [DllImport("libc")] internal static extern int tcsetattr(int fd, int optionalActions, byte[] termios);
        [DllImport("libc")] internal static extern void cfmakeraw(byte[] termios);
    }
}
