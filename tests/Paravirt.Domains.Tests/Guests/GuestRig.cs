using System.Diagnostics;
using System.Text;
using Paravirt.Cpu;
using Paravirt.Cpu.Emulated;
using Paravirt.Domains.Console;
using Paravirt.Domains.Tests.Toolstack;
using Paravirt.Domains.Toolstack;
using Paravirt.Domains.XenStore;
using Paravirt.XlConfig;

namespace Paravirt.Domains.Tests.Guests;

/// <summary>
/// What a guest-kernel test needs: machine memory, a hypervisor on the emulated CPU, xenstored, xenconsoled and the
/// toolstack, torn down in the right order (toolstack, then hypervisor, then memory).
/// </summary>
public sealed class GuestRig : IDisposable
{
    public MachineMemory Memory { get; }
    public Hypervisor.Hypervisor Hv { get; }
    public XenStoreDaemon Store { get; }
    public Domains.Toolstack.Toolstack Toolstack { get; }

    public GuestRig(ulong frames = 32768)
    {
        Memory = new MachineMemory(frames);
        Hv = new Hypervisor.Hypervisor(Memory, new EmulatedPlatform());
        Store = new XenStoreDaemon();
        Toolstack = new Domains.Toolstack.Toolstack(Hv, Store, new XenConsoled(Hv, null));
    }

    /// <summary>A kernel built by the guest SDK, e.g. "tests/mmu".</summary>
    public static string Guest(string relative) =>
        Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(ToolstackFixture.HelloKernel)))!, "build", relative);

    /// <summary>Create a domain from a guest-SDK kernel, paused.</summary>
    public DomainInfo Create(string name, string kernel, int memoryMiB = 32, string? cmdline = null) =>
        Toolstack.Create(new DomainConfig
        {
            Name = name, MemoryMiB = memoryMiB, MaxMemMiB = memoryMiB, Kernel = Guest(kernel), Cmdline = cmdline ?? "",
        }, paused: true);

    /// <summary>Attach to the domain's console and unpause it, so no output is missed.</summary>
    public GuestConsole Start(DomainInfo info)
    {
        var session = Toolstack.AttachConsole(info.DomId);
        Toolstack.Unpause(info.DomId);
        return new GuestConsole(session);
    }

    /// <summary>The hypervisor's log (crash reasons), for failure messages.</summary>
    public string Dmesg => Hv.Console.Read(false);

    public void Dispose()
    {
        Toolstack.Dispose();
        Hv.Dispose();
        Memory.Dispose();
    }
}

/// <summary>A guest's console output collected as text.</summary>
public sealed class GuestConsole(ConsoleSession session) : IDisposable
{
    private readonly StringBuilder _text = new();

    public bool Ended => session.End.IsCompleted;

    /// <summary>Collect output until it contains <paramref name="until"/>, the console ends, or the time is up; returns all of it.</summary>
    public string ReadUntil(string until, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (!_text.ToString().Contains(until, StringComparison.Ordinal) && clock.Elapsed < limit)
        {
            Drain();
            if (session.End.IsCompleted) break;
            Thread.Sleep(20);
        }
        Drain();
        return _text.ToString();
    }

    private void Drain()
    {
        while (session.Output.TryRead(out var chunk)) _text.Append(Encoding.UTF8.GetString(chunk));
    }

    public void Dispose() => session.Dispose();
}
