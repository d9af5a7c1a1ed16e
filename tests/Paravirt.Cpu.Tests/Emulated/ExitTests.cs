using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>The exit contract of <see cref="IVcpu.Run"/>: syscall, traps, faults, privilege and kicks.</summary>
public class ExitTests
{
    [Test]
    public void SyscallExitsWithRcxNextRipAndR11Flags()
    {
        using var m = new GuestMachine();
        var bytes = m.Load(a => { a.mov(eax, 23); a.stc(); a.syscall(); a.int3(); });
        var exit = m.Run();
        Assert.That(exit.Reason, Is.EqualTo(VcpuExitReason.Syscall));
        ulong after = GuestMachine.CodeBase + (ulong)bytes.Length - 1; // int3 is the last byte
        Assert.That(m.Regs.Rip, Is.EqualTo(after));
        Assert.That(m.Regs.Rcx, Is.EqualTo(after));
        Assert.That(m.Regs.R11, Is.EqualTo(m.Regs.Rflags));
        Assert.That(m.Regs.R11 & 1, Is.EqualTo(1UL));
        Assert.That(m.Regs.Rax, Is.EqualTo(23UL));
    }

    [Test]
    public void RunResumesAfterSyscall()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.syscall(); a.mov(ebx, 7); a.int3(); });
        Assert.That(m.Run().Reason, Is.EqualTo(VcpuExitReason.Syscall));
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rbx, Is.EqualTo(7UL));
    }

    [TestCase(3)]
    [TestCase(0x80)]
    public void SoftwareInterruptExitsWithVectorAndRipAfter(int vector)
    {
        using var m = new GuestMachine();
        var bytes = m.Load(a => { if (vector == 3) a.int3(); else a.@int((byte)vector); });
        var exit = m.Run();
        Assert.That(exit.Reason, Is.EqualTo(VcpuExitReason.SoftwareInterrupt));
        Assert.That(exit.Vector, Is.EqualTo((byte)vector));
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase + (ulong)bytes.Length));
    }

    [Test]
    public void Ud2RaisesInvalidOpcodeAtTheInstructionWithoutLogging()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.nop(); a.ud2(); });
        var exit = m.Run();
        Assert.That(exit.Reason, Is.EqualTo(VcpuExitReason.Exception));
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.InvalidOpcode));
        Assert.That(exit.HasErrorCode, Is.False);
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase + 1));
        Assert.That(m.Logged, Is.Empty);
    }

    [Test]
    public void UnimplementedInstructionRaisesInvalidOpcodeAndIsLoggedOnce()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.haddps(xmm0, xmm1); });
        for (int i = 0; i < 2; i++)
        {
            m.Regs.Rip = GuestMachine.CodeBase;
            var exit = m.Run();
            Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.InvalidOpcode));
            Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase));
        }
        Assert.That(m.Logged, Has.Count.EqualTo(1));
        Assert.That(m.Logged[0], Does.Contain("f20f7cc1").And.Contain("haddps"));
    }

    [Test]
    public void UndecodableBytesRaiseInvalidOpcode()
    {
        using var m = new GuestMachine();
        m.WriteBytes(GuestMachine.CodeBase, [0x06]); // push es: invalid in 64-bit mode
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.InvalidOpcode));
        Assert.That(m.Logged, Has.Count.EqualTo(1));
    }

    private static readonly Action<Assembler>[] PrivilegedInstructions =
    [
        a => a.hlt(),
        a => a.cli(),
        a => a.sti(),
        a => a.mov(cr3, rax),
        a => a.mov(rax, cr0),
        a => a.wrmsr(),
        a => a.rdmsr(),
        a => a.lgdt(__[rax]),
        a => a.lidt(__[rax]),
        a => a.ltr(ax),
        a => a.invlpg(__[rax]),
        a => a.wbinvd(),
        a => a.swapgs(),
        a => a.sysretq(),
        a => a.@in(al, dx),
        a => a.@out(dx, al),
        a => a.mov(dr7, rax),
        a => a.clts(),
    ];

    [TestCaseSource(nameof(PrivilegedCases))]
    public void PrivilegedInstructionAtCpl3RaisesGeneralProtectionZero(int index)
    {
        using var m = new GuestMachine();
        m.Load(a => { a.nop(); PrivilegedInstructions[index](a); });
        m.Regs.Rax = GuestMachine.DataBase;
        var exit = m.Run();
        Assert.That(exit.Reason, Is.EqualTo(VcpuExitReason.Exception));
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.GeneralProtection));
        Assert.That(exit.HasErrorCode, Is.True);
        Assert.That(exit.ErrorCode, Is.Zero);
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase + 1));
        Assert.That(m.Logged, Is.Empty);
    }

    private static IEnumerable<int> PrivilegedCases() => Enumerable.Range(0, PrivilegedInstructions.Length);

    [Test]
    public void CliIsAllowedWhenIoplPermits()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.cli(); a.int3(); });
        m.Regs.Rflags = 2 | (3 << 12) | (1 << 9);
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rflags & (1 << 9), Is.Zero);
    }

    [Test]
    public void PopfAtCpl3KeepsIfAndIopl()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.push(-1); a.popfq(); a.int3(); });
        m.Regs.Rflags = 2;
        m.RunToBreakpoint();
        var f = m.Regs.Rflags;
        Assert.That(f & (1 << 9), Is.Zero, "IF");
        Assert.That(f & (3 << 12), Is.Zero, "IOPL");
        Assert.That(f & 0x8D5, Is.EqualTo(0x8D5UL), "status flags");
        Assert.That(f & (1 << 21), Is.Not.Zero, "ID is writable (cpuid detection)");
        Assert.That(f & (1 << 16), Is.Zero, "RF");
    }

    [Test]
    public void DivideByZeroRaisesDivideErrorWithStateUnchanged()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.div(rbx); a.int3(); });
        m.Regs.Rax = 10;
        m.Regs.Rdx = 3;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.DivideError));
        Assert.That(exit.HasErrorCode, Is.False);
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase));
        Assert.That((m.Regs.Rax, m.Regs.Rdx), Is.EqualTo((10UL, 3UL)));
    }

    [Test]
    public void DivideQuotientOverflowRaisesDivideError()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.div(ebx); a.int3(); });
        m.Regs.Rdx = 2; // EDX:EAX = 2^33 / 2 does not fit in 32 bits
        m.Regs.Rbx = 2;
        Assert.That(m.Run().Vector, Is.EqualTo(ExceptionVector.DivideError));
    }

    [Test]
    public void SignedDivideOfMostNegativeByMinusOneRaisesDivideError()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.cqo(); a.idiv(rbx); a.int3(); });
        m.Regs.Rax = 0x8000_0000_0000_0000;
        m.Regs.Rbx = ulong.MaxValue;
        Assert.That(m.Run().Vector, Is.EqualTo(ExceptionVector.DivideError));
    }

    [Test]
    public void KickFromAnotherThreadStopsAnInfiniteLoop()
    {
        using var m = new GuestMachine();
        m.Load(a => { var top = a.CreateLabel(); a.Label(ref top); a.inc(rax); a.jmp(top); });
        var kicker = new Thread(() => { Thread.Sleep(50); m.Vcpu.Kick(); });
        kicker.Start();
        var exit = m.Run();
        kicker.Join();
        Assert.That(exit.Reason, Is.EqualTo(VcpuExitReason.Kicked));
        Assert.That(m.Regs.Rax, Is.GreaterThan(0UL));
        Assert.That(m.Regs.Rip, Is.AnyOf(GuestMachine.CodeBase, GuestMachine.CodeBase + 3));
    }

    [Test]
    public void KickBeforeRunMakesTheNextRunReturnAtOnce()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.mov(eax, 1); a.int3(); });
        m.Vcpu.Kick();
        Assert.That(m.Run().Reason, Is.EqualTo(VcpuExitReason.Kicked));
        Assert.That(m.Regs.Rax, Is.Zero);
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rax, Is.EqualTo(1UL));
    }

    [Test]
    public void KickInterruptsALongRepeatedStringInstructionRestartably()
    {
        using var m = new GuestMachine(frames: 8192);
        m.MapRange(0x1000_0000, 1024, GuestMachine.P | GuestMachine.RW | GuestMachine.US | GuestMachine.NX);
        m.Load(a => { var top = a.CreateLabel(); a.Label(ref top); a.mov(rdi, 0x1000_0000); a.mov(ecx, 1024 * 4096);
            a.rep.stosb(); a.jmp(top); });
        var kicker = new Thread(() => { Thread.Sleep(50); m.Vcpu.Kick(); });
        kicker.Start();
        var exit = m.Run();
        kicker.Join();
        Assert.That(exit.Reason, Is.EqualTo(VcpuExitReason.Kicked));
        Assert.That(m.Regs.Rdi - 0x1000_0000 + m.Regs.Rcx, Is.EqualTo(1024UL * 4096), "RDI and RCX agree");
    }

    [Test]
    public void CpuidAnswersThroughTheInstalledPolicy()
    {
        using var m = new GuestMachine();
        m.Vcpu.Cpuid = (leaf, sub) => (leaf + 1, sub + 2, 3, 4);
        m.Load(a => { a.mov(eax, 0x4000_0000); a.mov(ecx, 5); a.cpuid(); a.int3(); });
        m.Regs.Rbx = ulong.MaxValue;
        m.RunToBreakpoint();
        Assert.That((m.Regs.Rax, m.Regs.Rbx, m.Regs.Rcx, m.Regs.Rdx), Is.EqualTo((0x4000_0001UL, 7UL, 3UL, 4UL)));
    }

    [Test]
    public void DefaultCpuidReportsALongModeCpu()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.mov(eax, 0x8000_0001); a.cpuid(); a.int3(); });
        m.RunToBreakpoint();
        Assert.That(m.Regs.Rdx & (1UL << 29), Is.Not.Zero);
    }

    [Test]
    public void RdtscIsAllowedAtCpl3AndMonotonic()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.rdtsc(); a.mov(esi, eax); a.mov(edi, edx); a.rdtsc(); a.int3(); });
        m.RunToBreakpoint();
        ulong first = (m.Regs.Rdi << 32) | m.Regs.Rsi, second = (m.Regs.Rdx << 32) | m.Regs.Rax;
        Assert.That(second, Is.GreaterThanOrEqualTo(first));
        Assert.That(first, Is.Not.Zero);
    }

    [Test]
    public void JumpToNonCanonicalAddressFaultsOnTheJump()
    {
        using var m = new GuestMachine();
        m.Load(a => { a.jmp(rax); });
        m.Regs.Rax = 0x0000_8000_0000_0000;
        var exit = m.Run();
        Assert.That(exit.Vector, Is.EqualTo(ExceptionVector.GeneralProtection));
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase));
    }

    [Test]
    public void TrapFlagSingleStepsTheInstructionAfterPopf()
    {
        using var m = new GuestMachine();
        var bytes = m.Load(a => { a.push(0x102); a.popfq(); a.mov(eax, 1); a.mov(ebx, 2); a.int3(); });
        var exit = m.Run();
        Assert.That((exit.Reason, exit.Vector), Is.EqualTo((VcpuExitReason.Exception, ExceptionVector.Debug)));
        Assert.That((m.Regs.Rax, m.Regs.Rbx), Is.EqualTo((1UL, 0UL)), "one instruction after popf ran, then #DB");
        Assert.That(m.Regs.Rip, Is.EqualTo(GuestMachine.CodeBase + (ulong)bytes.Length - 6), "trap: RIP after mov eax,1");
    }

    [Test]
    public void PlatformIsNamedEmulatedAndCreatesVcpusOverTheGivenMemory()
    {
        using var memory = new MachineMemory(8);
        IPlatform platform = new Paravirt.Cpu.Emulated.EmulatedPlatform();
        using var vcpu = platform.CreateVcpu(memory);
        Assert.That(platform.Name, Is.EqualTo("emulated"));
        Assert.That(vcpu.Registers.Rflags & 2, Is.EqualTo(2UL));
    }

    [Test]
    public void RunAfterDisposeIsRejected()
    {
        var m = new GuestMachine();
        m.Vcpu.Dispose();
        Assert.Throws<ObjectDisposedException>(() => m.Vcpu.Run());
        m.Memory.Dispose();
    }
}
