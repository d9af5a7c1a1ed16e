using System.Text;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_console_io (xen.h CONSOLEIO_*). Writes from a guest go to the hypervisor console ring as
/// "(dN) text", line by line, as a debug Xen build with guest_loglvl=all does; reading the ring is privileged.
/// </summary>
public static class ConsoleIoOp
{
    public const int Write = 0, Read = 1;
    private const int Chunk = 256;
    /// <summary>Longest partial line kept per domain before it is flushed (Xen's DOMAIN_PBUF_SIZE is 200).</summary>
    private const int LineBuffer = 200;

    public static long Do(Vcpu v, ulong cmd, ulong count, ulong buffer)
    {
        switch (cmd)
        {
            case Write:
            {
                Span<byte> chunk = stackalloc byte[Chunk];
                var d = v.Domain;
                ulong done = 0;
                while (done < count)
                {
                    if (d.IsDying || d.IsShutdown) break;
                    int n = (int)Math.Min((ulong)Chunk, count - done);
                    if (!GuestMemory.CopyFrom(v, buffer + done, chunk[..n])) return -XenErrno.EFAULT;
                    Append(d, chunk[..n]);
                    done += (ulong)n;
                }
                return 0;
            }
            case Read:
                return v.Domain.IsPrivileged ? -XenErrno.ENOSYS : -XenErrno.EPERM;
            default:
                return -XenErrno.ENOSYS;
        }
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Domain, StringBuilder> Lines = new();

    private static void Append(Domain d, ReadOnlySpan<byte> bytes)
    {
        var line = Lines.GetOrCreateValue(d);
        lock (line)
        {
            foreach (byte b in bytes)
            {
                if (b == (byte)'\n' || line.Length >= LineBuffer)
                {
                    d.Hypervisor.Console.Append($"(d{d.Id}) {line}");
                    line.Clear();
                    if (b == (byte)'\n') continue;
                }
                if (b == (byte)'\r') continue;
                line.Append(b >= 0x20 && b < 0x7f || b == (byte)'\t' ? (char)b : '?');
            }
        }
    }
}
