using Paravirt.Cpu;
using Paravirt.Domains.Console;
using Paravirt.Domains.XenStore;

namespace Paravirt.Domains.Tests.Toolstack;

/// <summary>Test double: vCPUs that hold registers but never run guest code.</summary>
internal sealed class ParkedPlatform : IPlatform
{
    public string Name => "parked";
    public IVcpu CreateVcpu(MachineMemory memory) => new Cpu();

    private sealed class Cpu : IVcpu
    {
        private readonly ManualResetEventSlim _kick = new();
        public VcpuRegisters Registers { get; } = new();
        public VcpuExit Run() { _kick.Wait(); _kick.Reset(); return VcpuExit.Kicked; }
        public void Kick() => _kick.Set();
        public void FlushTlb() { }
        public void InvalidatePage(ulong linearAddress) { }
        public Func<uint, uint, (uint Eax, uint Ebx, uint Ecx, uint Edx)>? Cpuid { get; set; }
        public void Dispose() => _kick.Dispose();
    }
}

/// <summary>The real toolstack, xenstored and xenconsoled over a small hypervisor whose vCPUs never run.</summary>
internal sealed class ToolstackFixture : IDisposable
{
    public ToolstackFixture(ulong frames = 32768)
    {
        Memory = new MachineMemory(frames);
        Hv = new Hypervisor.Hypervisor(Memory, new ParkedPlatform());
        XenStore = new XenStoreDaemon();
        Consoled = new XenConsoled(Hv, logDirectory: null);
        // Restarts without xl's 2 s pause, so on_*=restart tests need not wait it out (ToolstackRestartTests set it).
        Toolstack = new Domains.Toolstack.Toolstack(Hv, XenStore, Consoled) { RestartDelay = TimeSpan.Zero };
        Dir = Path.Combine(Path.GetTempPath(), "paravirt-ts-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Dir);
    }

    public MachineMemory Memory { get; }
    public Hypervisor.Hypervisor Hv { get; }
    public XenStoreDaemon XenStore { get; }
    public XenConsoled Consoled { get; }
    public Domains.Toolstack.Toolstack Toolstack { get; }
    public string Dir { get; }

    public static string HelloKernel
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !System.IO.File.Exists(Path.Combine(dir.FullName, "Paravirt.sln"))) dir = dir.Parent;
            return Path.Combine(dir!.FullName, "guest-sdk", "build", "examples", "hello");
        }
    }

    public XlConfig.DomainConfig Config(string name = "guest", long memory = 32, string? kernel = null) => new()
    {
        Name = name, MemoryMiB = memory, MaxMemMiB = memory, Kernel = kernel ?? HelloKernel,
    };

    public string File(string name, byte[] bytes)
    {
        var p = Path.Combine(Dir, name);
        System.IO.File.WriteAllBytes(p, bytes);
        return p;
    }

    public void Dispose()
    {
        Toolstack.Dispose();
        Consoled.Dispose();
        Hv.Dispose();
        Memory.Dispose();
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}
