using Paravirt.Cpu;
using Paravirt.Domains.Console;
using Paravirt.Domains.Toolstack;
using Paravirt.Domains.XenStore;
using Paravirt.Hypervisor;

namespace Paravirt.Domains;

/// <summary>How `paravirtd` asks for the hypervisor and Dom0 to be brought up.</summary>
public sealed class Dom0Options
{
    /// <summary>$PARAVIRT_RUNDIR: sockets, logs and per-domain console logs live here.</summary>
    public required string RunDirectory { get; init; }
    /// <summary>Size of the machine frame pool (host memory reserved for guests, committed lazily).</summary>
    public long HostMemoryMiB { get; init; } = 2048;
    /// <summary>CPU platform: "emulated" (Iced software CPU).</summary>
    public string Platform { get; init; } = "emulated";
    /// <summary>
    /// pCPUs the credit scheduler shares among vCPUs: $PARAVIRT_PCPUS when set, else 0 (one per host processor).
    /// </summary>
    public string? Pcpus { get; init; } = Environment.GetEnvironmentVariable(PcpusVariable);

    public const string PcpusVariable = "PARAVIRT_PCPUS";
}

/// <summary>
/// The hypervisor plus Dom0's services (xenstored with its tool socket, xenconsoled, the toolstack), brought up
/// and torn down together. This is what `paravirtd` hosts.
/// </summary>
public sealed class Dom0Host : IDisposable
{
    private readonly MachineMemory _memory;
    private readonly XenStoreSocketServer _xenstoreSocket;
    private readonly StreamWriter? _hypervisorLog;

    private Dom0Host(Dom0Options options)
    {
        if (options.HostMemoryMiB < 16 || options.HostMemoryMiB > (1L << 20))
            throw new ArgumentOutOfRangeException(nameof(options), options.HostMemoryMiB, "host memory must be 16 MiB .. 1 TiB");
        int pcpus = 0;
        if (!string.IsNullOrWhiteSpace(options.Pcpus)
            && (!int.TryParse(options.Pcpus.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out pcpus)
                || pcpus < 1 || pcpus > 4096))
            throw new ArgumentOutOfRangeException(nameof(options), options.Pcpus, $"{Dom0Options.PcpusVariable} must be a number of pCPUs, 1..4096");
        Directory.CreateDirectory(options.RunDirectory);
        var console = new HypervisorConsole();
        try
        {
            _hypervisorLog = new StreamWriter(Path.Combine(options.RunDirectory, "hypervisor.log"), append: true) { AutoFlush = true };
            var log = _hypervisorLog;
            console.LineAdded += line => { lock (log) log.WriteLine(line); };
        }
        catch (IOException) { }

        IPlatform platform = options.Platform switch
        {
            "emulated" => new Paravirt.Cpu.Emulated.EmulatedPlatform { Log = console.Log },
            _ => throw new ArgumentException($"unknown CPU platform \"{options.Platform}\" (known: emulated)"),
        };
        _memory = new MachineMemory((ulong)options.HostMemoryMiB * 256);
        Hypervisor = new Hypervisor.Hypervisor(_memory, platform, console, pcpus);
        XenStore = new XenStoreDaemon(log: msg => console.Log("xenstored: " + msg));
        var xsDir = Path.Combine(options.RunDirectory, "xenstored");
        Directory.CreateDirectory(xsDir);
        _xenstoreSocket = new XenStoreSocketServer(XenStore, Path.Combine(xsDir, "socket"));
        Consoled = new XenConsoled(Hypervisor, Path.Combine(options.RunDirectory, "console"));
        Toolstack = new Toolstack.Toolstack(Hypervisor, XenStore, Consoled);
    }

    public static Dom0Host Start(Dom0Options options) => new(options);

    public Hypervisor.Hypervisor Hypervisor { get; }
    public XenStoreDaemon XenStore { get; }
    public XenConsoled Consoled { get; }
    public IToolstack Toolstack { get; }

    public void Dispose()
    {
        ((Toolstack.Toolstack)Toolstack).Dispose();
        Consoled.Dispose();
        _xenstoreSocket.Dispose();
        Hypervisor.Dispose();
        _memory.Dispose();
        _hypervisorLog?.Dispose();
    }
}
