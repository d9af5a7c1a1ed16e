using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>
/// Which segment a memory operand uses in 64-bit mode, seen through the fault a non-canonical address raises:
/// #SS(0) through SS, #GP(0) through any other. ES, CS, SS and DS overrides are ignored (SDM vol. 1, 3.7.4.1), so
/// the default segment stands: SS for an RSP or RBP base, DS otherwise; FS and GS overrides count. Found by XTF's
/// memop-seg test.
/// </summary>
public class SegmentOverrideTests
{
    private const ulong NonCanonical = 0x8000_0000_4000_0000;

    private static VcpuExit StoreThrough(AssemblerMemoryOperand operand, AssemblerRegister64 baseRegister, bool useBase = true)
    {
        using var m = new GuestMachine();
        m.Load(a => { a.mov(operand, 0); a.int3(); });
        if (useBase)
        {
            if (baseRegister == rsp) m.Regs.Rsp = NonCanonical;
            else if (baseRegister == rbp) m.Regs.Rbp = NonCanonical;
            else m.Regs.Rax = NonCanonical;
        }
        return m.Run();
    }

    private static void AssertFault(VcpuExit exit, byte vector)
    {
        Assert.That((exit.Reason, exit.Vector, exit.ErrorCode, exit.HasErrorCode),
            Is.EqualTo((VcpuExitReason.Exception, vector, 0u, true)));
    }

    [Test]
    public void AnRspOrRbpBaseFaultsThroughSsWhateverTheIgnoredOverride()
    {
        AssertFault(StoreThrough(__byte_ptr[rsp], rsp), ExceptionVector.StackFault);
        AssertFault(StoreThrough(__byte_ptr[rbp], rbp), ExceptionVector.StackFault);
        AssertFault(StoreThrough(__byte_ptr.ds[rsp], rsp), ExceptionVector.StackFault);
        AssertFault(StoreThrough(__byte_ptr.es[rbp], rbp), ExceptionVector.StackFault);
        AssertFault(StoreThrough(__byte_ptr.cs[rsp], rsp), ExceptionVector.StackFault);
    }

    [Test]
    public void AnSsOverrideOnAnotherBaseIsIgnoredAndFaultsThroughDs()
    {
        AssertFault(StoreThrough(__byte_ptr.ss[rax], rax), ExceptionVector.GeneralProtection);
        AssertFault(StoreThrough(__byte_ptr[rax], rax), ExceptionVector.GeneralProtection);
    }

    [Test]
    public void FsAndGsOverridesCountEvenWithAnRspBase()
    {
        AssertFault(StoreThrough(__byte_ptr.fs[rsp], rsp), ExceptionVector.GeneralProtection);
        AssertFault(StoreThrough(__byte_ptr.gs[rbp], rbp), ExceptionVector.GeneralProtection);
    }
}
