using Iced.Intel;
using NUnit.Framework;
using Paravirt.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Paravirt.Cpu.Tests.Emulated;

/// <summary>
/// Segment-register loads against the descriptor tables the hypervisor supplies (IVcpu.Descriptors): the
/// protected-mode checks of SDM vol. 2 MOV/POP and vol. 3 5.5-5.7, and FS/GS taking the descriptor's base.
/// </summary>
public class SegmentDescriptorTests
{
    private const ulong DataDpl3 = 0x00CF_F200_0000_FFFFUL, DataDpl0 = 0x00CF_9200_0000_FFFFUL,
        DataNotPresentDpl3 = 0x00CF_7200_0000_FFFFUL, ReadOnlyDataDpl3 = 0x00CF_F000_0000_FFFFUL,
        CodeReadableDpl3 = 0x00AF_FA00_0000_FFFFUL, CodeExecOnlyDpl3 = 0x00AF_F800_0000_FFFFUL,
        Tss = 0x0000_E900_0000_0067UL, DataBase = 0x12CF_F234_5678_FFFFUL;

    /// <summary>GDT index 1..: the descriptors below; index 0 and everything else missing.</summary>
    private static readonly ulong[] Table = [0, DataDpl3, DataDpl0, DataNotPresentDpl3, ReadOnlyDataDpl3, CodeReadableDpl3, CodeExecOnlyDpl3, Tss, DataBase];

    private static bool Lookup(ushort selector, out ulong descriptor)
    {
        int i = selector >> 3;
        descriptor = (selector & 4) == 0 && i < Table.Length ? Table[i] : 0;
        return descriptor != 0;
    }

    /// <summary>Load <paramref name="selector"/> into the segment register with mov from AX, then int3.</summary>
    private static (VcpuExit Exit, GuestMachine M) Load(AssemblerRegisterSegment seg, ushort selector)
    {
        var m = new GuestMachine();
        m.Vcpu.Descriptors = Lookup;
        m.Load(a => { a.mov(ax, selector); a.mov(seg, ax); a.int3(); });
        return (m.Run(), m);
    }

    [Test]
    public void ADpl3DataSegmentLoadsIntoEveryDataRegister()
    {
        foreach (var seg in new[] { ds, es, fs, gs })
        {
            var (exit, m) = Load(seg, 0x0B);
            using (m)
                Assert.That(exit.Reason, Is.EqualTo(VcpuExitReason.SoftwareInterrupt), $"{seg}: {exit}");
        }
    }

    [Test]
    public void FsAndGsTakeTheDescriptorsBase()
    {
        using var m = new GuestMachine();
        m.Vcpu.Descriptors = Lookup;
        m.Load(a => { a.mov(ax, 0x43); a.mov(fs, ax); a.mov(gs, ax); a.int3(); });
        Assert.That(m.Run().Reason, Is.EqualTo(VcpuExitReason.SoftwareInterrupt));
        Assert.That((m.Regs.Fs, m.Regs.FsBase, m.Regs.GsBase), Is.EqualTo(((ushort)0x43, 0x1234_5678UL, 0x1234_5678UL)));
    }

    [Test]
    public void AWritableDpl3DataSegmentLoadsIntoSs()
    {
        var (exit, m) = Load(ss, 0x0B);
        using (m)
        {
            Assert.That(exit.Reason, Is.EqualTo(VcpuExitReason.SoftwareInterrupt), exit.ToString());
            Assert.That(m.Regs.Ss, Is.EqualTo((ushort)0x0B));
        }
    }

    [TestCase((ushort)0x13, 0x10u, TestName = "DPL 0 data below CPL 3 is #GP")]
    [TestCase((ushort)0x3B, 0x38u, TestName = "A system descriptor is #GP")]
    [TestCase((ushort)0x33, 0x30u, TestName = "Execute-only code is #GP")]
    [TestCase((ushort)0x4B, 0x48u, TestName = "Beyond the table is #GP")]
    [TestCase((ushort)0x0F, 0x0Cu, TestName = "An LDT selector with no LDT is #GP")]
    public void DataRegisterLoadsThatFailAreGeneralProtectionWithTheSelector(ushort selector, uint error)
    {
        var (exit, m) = Load(ds, selector);
        using (m)
        {
            Assert.That((exit.Reason, exit.Vector, exit.ErrorCode), Is.EqualTo((VcpuExitReason.Exception, ExceptionVector.GeneralProtection, error)));
            Assert.That(m.Regs.Ds, Is.Zero, "nothing loaded");
        }
    }

    [Test]
    public void ReadableCodeLoadsIntoADataRegister()
    {
        var (exit, m) = Load(es, 0x2B);
        using (m) Assert.That(exit.Reason, Is.EqualTo(VcpuExitReason.SoftwareInterrupt), exit.ToString());
    }

    [Test]
    public void ANotPresentSegmentIsSegmentNotPresentForDataAndStackFaultForSs()
    {
        var (exit, m) = Load(ds, 0x1B);
        using (m) Assert.That((exit.Vector, exit.ErrorCode), Is.EqualTo((ExceptionVector.SegmentNotPresent, 0x18u)));
        (exit, m) = Load(ss, 0x1B);
        using (m) Assert.That((exit.Vector, exit.ErrorCode), Is.EqualTo((ExceptionVector.StackFault, 0x18u)));
    }

    [TestCase((ushort)0x23, 0x20u, TestName = "Read-only data into SS is #GP")]
    [TestCase((ushort)0x08, 0x08u, TestName = "RPL 0 into SS at CPL 3 is #GP")]
    [TestCase((ushort)0x2B, 0x28u, TestName = "Code into SS is #GP")]
    public void StackSegmentLoadsNeedWritableDataAtTheCurrentPrivilege(ushort selector, uint error)
    {
        var (exit, m) = Load(ss, selector);
        using (m) Assert.That((exit.Vector, exit.ErrorCode), Is.EqualTo((ExceptionVector.GeneralProtection, error)));
    }
}
