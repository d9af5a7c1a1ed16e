using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>
/// A built (paused) domain whose vCPU 0 is driven directly from the test thread: hypercalls through the table,
/// guest exits through <see cref="Vcpu.HandleGuestExit"/>. Three writable guest pages serve as scratch: the
/// boot stack page (<see cref="Stack"/>, used as the kernel stack) and the two pages after it.
/// </summary>
public abstract class TrapTestBase
{
    private HypervisorFixture _f = null!;
    protected Hypervisor Hv => _f.Hv;
    protected MachineMemory Memory => _f.Memory;
    protected Domain D = null!;
    protected Vcpu V = null!;
    protected ulong Stack, Page1, Page2;
    protected ulong StackPfn;

    [SetUp]
    public void SetUpDomain()
    {
        _f = new HypervisorFixture();
        var (d, r) = _f.Build();
        D = d;
        V = d.Vcpus[0];
        StackPfn = r.Layout.BootStackPfn;
        Stack = r.Layout.VirtOf(StackPfn);
        Page1 = r.Layout.VirtOf(StackPfn + 1);
        Page2 = r.Layout.VirtOf(StackPfn + 2);
    }

    [TearDown]
    public void TearDownDomain() => _f.Dispose();

    protected VcpuRegisters R => V.Registers;

    protected long Call(int nr, ulong a1 = 0, ulong a2 = 0, ulong a3 = 0) =>
        Hv.Hypercalls.Call(V, (ulong)nr, a1, a2, a3, 0, 0);

    protected ulong MachineAddressOf(ulong pfn) => D.P2m[pfn] << 12;

    protected void Put<T>(ulong va, T value) where T : unmanaged => Assert.That(GuestMemory.Write(V, va, value), Is.True);

    protected T Get<T>(ulong va) where T : unmanaged
    {
        Assert.That(GuestMemory.Read(V, va, out T value), Is.True);
        return value;
    }

    protected ulong SharedInfo => D.SharedInfoMfn << 12;
    protected byte UpcallMask
    {
        get => Memory.ReadUInt64(SharedInfo) is var w ? (byte)(w >> 8) : (byte)0;
        set => Memory.WriteUInt64(SharedInfo, (Memory.ReadUInt64(SharedInfo) & ~0xFF00UL) | ((ulong)value << 8));
    }
    protected byte UpcallPending
    {
        get => (byte)Memory.ReadUInt64(SharedInfo);
        set => Memory.WriteUInt64(SharedInfo, (Memory.ReadUInt64(SharedInfo) & ~0xFFUL) | value);
    }

    /// <summary>Install one trap-table entry through set_trap_table (entry then terminator at Page2).</summary>
    protected void SetTrap(byte vector, ulong address, byte flags = 0)
    {
        Put(Page2, (ulong)vector | ((ulong)flags << 8) | ((ulong)X86_64.FlatKernelCs64 << 16));
        Put(Page2 + 8, address);
        Put(Page2 + 16, 0UL);
        Put(Page2 + 24, 0UL);
        Assert.That(Call(Hypercall.SetTrapTable, Page2), Is.Zero);
    }

    /// <summary>Pretend the guest runs kernel code at <paramref name="rip"/> with stack <paramref name="rsp"/>.</summary>
    protected void KernelContext(ulong rip, ulong rsp)
    {
        R.Rip = rip;
        R.Rsp = rsp;
        R.Cs = X86_64.FlatKernelCs64;
        R.Ss = X86_64.FlatKernelSs64;
        R.Rflags = VcpuRegisters.RflagsFixed | VcpuRegisters.RflagsIf;
    }

    /// <summary>Give the vCPU a user page-table base (the kernel's own L4 will do for these tests).</summary>
    protected void AllowUserMode() => V.GuestTableUserMfn = R.Cr3 >> 12;

    protected string? CrashMessage => D.CrashMessage;
}
