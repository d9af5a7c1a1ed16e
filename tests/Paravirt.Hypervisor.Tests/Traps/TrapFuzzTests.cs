using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Tests.Traps;

/// <summary>
/// Hostile-guest fuzz of the trap paths: seeded random trap tables, callbacks, registers, instruction bytes, guest
/// exits and trap hypercalls. Nothing may throw out of the hypervisor; a crashed domain is an allowed outcome.
/// </summary>
public class TrapFuzzTests : TrapTestBase
{
    private static readonly int[] Hypercalls =
    [
        Hypercall.SetTrapTable, Hypercall.CallbackOp, Hypercall.SetCallbacks, Hypercall.NmiOp, Hypercall.StackSwitch,
        Hypercall.SetSegmentBase, Hypercall.SetGdt, Hypercall.UpdateDescriptor, Hypercall.FpuTaskswitch,
        Hypercall.SetDebugreg, Hypercall.GetDebugreg, Hypercall.Iret, Hypercall.Multicall, Hypercall.VmAssist,
        Hypercall.PhysdevOp, Hypercall.PhysdevOpCompat,
    ];

    private ulong RandomAddress(Random rng) => rng.Next(6) switch
    {
        0 => Stack + (ulong)rng.Next(0, 4096),
        1 => Page1 + (ulong)rng.Next(0, 8192),
        2 => X86_64.HypervisorVirtStart + (ulong)rng.Next(),
        3 => (ulong)rng.NextInt64(),
        4 => 0,
        _ => (ulong)rng.Next(0, 1 << 20),
    };

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void RandomExitsAndTrapHypercallsNeverThrow(int seed)
    {
        var rng = new Random(seed);
        AllowUserMode();
        var code = new byte[16];
        for (int i = 0; i < 20_000; i++)
        {
            if (rng.Next(4) == 0)
            {
                rng.NextBytes(code);
                if (rng.Next(3) == 0) code[0] = 0x0F; // favour two-byte system opcodes
                GuestMemory.CopyTo(V, Page1, code);
            }
            for (int k = 0; k < 2; k++) Put(Page1 + 0x1000 + (ulong)k * 8, (ulong)rng.NextInt64());
            R.Rip = rng.Next(3) == 0 ? RandomAddress(rng) : Page1;
            R.Rsp = RandomAddress(rng);
            R.Rax = (ulong)rng.NextInt64();
            R.Rcx = (ulong)rng.NextInt64();
            R.Rdx = (ulong)rng.NextInt64();
            V.KernelStackPointer = RandomAddress(rng);
            V.InKernelMode = rng.Next(4) != 0;
            if (rng.Next(8) == 0) V.TrapTable[rng.Next(256)] = new Paravirt.Hypervisor.Traps.TrapInfo
            {
                Vector = (byte)rng.Next(256), Flags = (byte)rng.Next(8), Cs = (ushort)rng.Next(), Address = RandomAddress(rng),
            };
            if (rng.Next(2) == 0)
            {
                int nr = Hypercalls[rng.Next(Hypercalls.Length)];
                if (nr == Hypercall.Iret)
                {
                    R.Rax = Hypercall.Iret;
                    Hv.Hypercalls.Dispatch(V);
                }
                else Call(nr, rng.Next(3) == 0 ? (ulong)rng.Next(8) : RandomAddress(rng), RandomAddress(rng), RandomAddress(rng));
            }
            else
            {
                var exit = rng.Next(3) switch
                {
                    0 => new VcpuExit(VcpuExitReason.Exception, (byte)rng.Next(32), (uint)rng.Next(), rng.Next(2) == 0, RandomAddress(rng)),
                    1 => new VcpuExit(VcpuExitReason.SoftwareInterrupt, (byte)rng.Next(256)),
                    _ => VcpuExit.Syscall,
                };
                V.HandleGuestExit(exit);
            }
            V.DeliverPendingEvents();
        }
        Assert.Pass($"20000 operations, domain {(CrashMessage == null ? "alive" : "crashed: " + CrashMessage)}");
    }
}
