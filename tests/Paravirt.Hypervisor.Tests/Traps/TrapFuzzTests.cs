using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Traps;

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

    /// <summary>Instructions the #GP(0) emulation decodes, to be put behind random prefixes: port and string port
    /// I/O, cli/sti, moves to and from control and debug registers, MSRs.</summary>
    private static readonly byte[][] PrivilegedForms =
    [
        [0x6C], [0x6D], [0x6E], [0x6F], [0xE4, 0x80], [0xE5, 0x61], [0xE6, 0x80], [0xE7, 0x70], [0xEC], [0xED], [0xEE], [0xEF],
        [0xFA], [0xFB], [0x0F, 0x22, 0xE0], [0x0F, 0x20, 0xE0], [0x0F, 0x23, 0xF8], [0x0F, 0x21, 0xF0], [0x0F, 0x23, 0xC0],
        [0x0F, 0x30], [0x0F, 0x32], [0x0F, 0x06], [0x0F, 0x09],
    ];
    private static readonly byte[] Prefixes = [0xF3, 0xF2, 0x66, 0x67, 0x64, 0x65, 0x2E, 0x48, 0xF0];

    private static void PrivilegedInstruction(Random rng, byte[] code)
    {
        int n = 0;
        for (int p = rng.Next(4); p > 0; p--) code[n++] = Prefixes[rng.Next(Prefixes.Length)];
        foreach (byte b in PrivilegedForms[rng.Next(PrivilegedForms.Length)]) code[n++] = b;
    }

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
                else if (rng.Next(2) == 0) PrivilegedInstruction(rng, code);
                GuestMemory.CopyTo(V, Page1, code);
            }
            for (int k = 0; k < 2; k++) Put(Page1 + 0x1000 + (ulong)k * 8, (ulong)rng.NextInt64());
            R.Rip = rng.Next(3) == 0 ? RandomAddress(rng) : Page1;
            R.Rsp = RandomAddress(rng);
            R.Rax = (ulong)rng.NextInt64();
            R.Rcx = (ulong)rng.NextInt64();
            R.Rdx = rng.Next(2) == 0 ? (ulong)rng.Next(0x100) : (ulong)rng.NextInt64();
            R.Rsi = RandomAddress(rng);
            R.Rdi = RandomAddress(rng);
            if (rng.Next(4) == 0) R.Rcx = (ulong)rng.Next(3000); // rep counts that run, and some that get let go
            R.Rflags = VcpuRegisters.RflagsFixed | VcpuRegisters.RflagsIf | (rng.Next(4) == 0 ? Rflags.DF : 0) | (rng.Next(16) == 0 ? Rflags.TF : 0);
            if (rng.Next(16) == 0) V.VirtualIopl = rng.Next(4);
            if (rng.Next(16) == 0) V.GuestCr4Bits = (ulong)rng.Next(2) << 3;
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
                    0 when rng.Next(2) == 0 => new VcpuExit(VcpuExitReason.Exception, ExceptionVector.GeneralProtection, 0, true),
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

/// <summary>
/// Hostile port and string-port I/O: random privileged instructions behind random prefixes, random counts, indices,
/// segment bases, IOPL, I/O bitmap, CR4.DE and DR7, against a trap table that handles every exception so that the
/// domain lives through all of them. Nothing may throw, the domain must not be crashed, and every outcome is one of
/// the instruction completing, RIP staying at it (a rep let go part-way) or a bounce to a handler.
/// </summary>
public class PortIoFuzzTests : TrapTestBase
{
    private const ulong Handlers = 0xFFFF_FFFF_8000_0000;

    [TestCase(11)]
    [TestCase(12)]
    public void RandomPortIoEmulationKeepsTheDomainAliveAndConsistent(int seed)
    {
        var rng = new Random(seed);
        for (int v = 0; v < 32; v++) SetTrap((byte)v, Handlers + (ulong)v * 0x10);
        var code = new byte[16];
        int completed = 0, restarted = 0, bounced = 0;
        for (int i = 0; i < 20_000; i++)
        {
            rng.NextBytes(code);
            int n = 0;
            for (int p = rng.Next(4); p > 0; p--) code[n++] = (new byte[] { 0xF3, 0xF2, 0x66, 0x67, 0x64, 0x65, 0x2E, 0x48 })[rng.Next(8)];
            code[n++] = (new byte[] { 0x6C, 0x6D, 0x6E, 0x6F, 0xE4, 0xE5, 0xE6, 0xE7, 0xEC, 0xED, 0xEE, 0xEF, 0xFA, 0xFB })[rng.Next(14)];
            GuestMemory.CopyTo(V, Page1, code);
            KernelContext(Page1, Stack + 0x800);
            if (rng.Next(4) == 0) R.Rflags |= Rflags.DF;
            R.Rcx = rng.Next(3) switch { 0 => (ulong)rng.Next(5), 1 => (ulong)rng.Next(3000), _ => (ulong)rng.NextInt64() };
            R.Rdx = (ulong)rng.Next(0x10000);
            R.Rsi = Pick(rng);
            R.Rdi = Pick(rng);
            R.FsBase = rng.Next(2) == 0 ? 0 : Pick(rng);
            V.VirtualIopl = rng.Next(4);
            V.GuestCr4Bits = (ulong)rng.Next(2) << 3;
            if (rng.Next(8) == 0) Call(Hypercall.SetDebugreg, (ulong)rng.Next(4), (ulong)rng.Next(0x100));
            if (rng.Next(8) == 0) Call(Hypercall.SetDebugreg, 7, (ulong)rng.NextInt64() & 0xFFFF_00FF);
            V.HandleGuestExit(new VcpuExit(VcpuExitReason.Exception, ExceptionVector.GeneralProtection, 0, true));
            Assert.That(CrashMessage, Is.Null, $"op {i}");
            if (R.Rip == Page1) restarted++;
            else if (R.Rip > Page1 && R.Rip <= Page1 + 15) completed++;
            else
            {
                Assert.That(R.Rip, Is.InRange(Handlers, Handlers + 31 * 0x10), $"op {i}: RIP {R.Rip:x}");
                bounced++;
            }
        }
        Assert.That(completed, Is.GreaterThan(1000), "the emulation ran");
        Assert.That(bounced, Is.GreaterThan(1000), "and refused");
        Assert.Pass($"20000 instructions: {completed} completed, {restarted} let go part-way, {bounced} bounced to a handler");
    }

    private ulong Pick(Random rng) => rng.Next(6) switch
    {
        0 => Stack + (ulong)rng.Next(0, 4096),
        1 => Page2 + (ulong)rng.Next(0, 4096),
        2 => X86_64.HypervisorVirtStart + (ulong)rng.Next(),
        3 => (ulong)rng.NextInt64(),
        4 => 0xFFFF_FFFF_FFFF_FFF0UL + (ulong)rng.Next(16),
        _ => (ulong)rng.Next(0, 1 << 20),
    };
}
