using System.Runtime.InteropServices;
using System.Text;
using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Tests;

public class DomainBuilderTests
{
    private const ulong Base = 0xffffffff80000000;

    [Test]
    public void StartInfoIs1168BytesWithXensFieldOffsets()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Marshal.SizeOf<StartInfo>(), Is.EqualTo(1168));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.NrPages)), Is.EqualTo((nint)32));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.SharedInfo)), Is.EqualTo((nint)40));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.Flags)), Is.EqualTo((nint)48));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.StoreMfn)), Is.EqualTo((nint)56));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.StoreEvtchn)), Is.EqualTo((nint)64));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.ConsoleMfn)), Is.EqualTo((nint)72));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.ConsoleEvtchn)), Is.EqualTo((nint)80));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.PtBase)), Is.EqualTo((nint)88));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.NrPtFrames)), Is.EqualTo((nint)96));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.MfnList)), Is.EqualTo((nint)104));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.ModStart)), Is.EqualTo((nint)112));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.ModLen)), Is.EqualTo((nint)120));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.CmdLine)), Is.EqualTo((nint)128));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.FirstP2mPfn)), Is.EqualTo((nint)1152));
            Assert.That(Marshal.OffsetOf<StartInfo>(nameof(StartInfo.NrP2mFrames)), Is.EqualTo((nint)1160));
        });
    }

    [Test]
    public void TheInitialVcpuStartsAtTheEntryWithStartInfoInRsiAndStackAfterTheTables()
    {
        using var f = new HypervisorFixture();
        var (d, r) = f.Build();
        var regs = d.Vcpus[0].Registers;
        Assert.Multiple(() =>
        {
            Assert.That(regs.Rip, Is.EqualTo(Base));
            Assert.That(regs.Rsi, Is.EqualTo(r.Layout.VirtOf(r.Layout.StartInfoPfn)));
            Assert.That(regs.Rsp, Is.EqualTo(r.Layout.VirtOf(r.Layout.BootStackPfn + 1)));
            Assert.That(regs.Cs, Is.EqualTo(0xe033));
            Assert.That(regs.Ss, Is.EqualTo(0xe02b));
            Assert.That(regs.Rflags & VcpuRegisters.RflagsIf, Is.Not.Zero);
            Assert.That(regs.Cr3 >> 12, Is.EqualTo(d.P2m[r.Layout.PageTablePfn]));
        });
    }

    [Test]
    public void StartInfoDescribesTheDomain()
    {
        using var f = new HypervisorFixture();
        var (d, r) = f.Build(cmdline: "root=/dev/xvda1 quiet");
        var si = MemoryMarshal.Read<StartInfo>(f.Memory.FrameForRead(r.StartInfoMfn));
        var magic = Encoding.ASCII.GetString(f.Memory.FrameForRead(r.StartInfoMfn)[..14]);
        var cmd = Encoding.ASCII.GetString(f.Memory.FrameForRead(r.StartInfoMfn).Slice(128, 22));
        Assert.Multiple(() =>
        {
            Assert.That(magic, Is.EqualTo("xen-3.0-x86_64"));
            Assert.That(si.NrPages, Is.EqualTo(8192));
            Assert.That(si.SharedInfo, Is.EqualTo(d.SharedInfoMfn << 12));
            Assert.That(si.StoreMfn, Is.EqualTo(r.StoreMfn));
            Assert.That(si.StoreEvtchn, Is.EqualTo(1));
            Assert.That(si.ConsoleMfn, Is.EqualTo(r.ConsoleMfn));
            Assert.That(si.ConsoleEvtchn, Is.EqualTo(2));
            Assert.That(si.PtBase, Is.EqualTo(r.Layout.VirtOf(r.Layout.PageTablePfn)));
            Assert.That(si.NrPtFrames, Is.EqualTo(5));
            Assert.That(si.MfnList, Is.EqualTo(r.Layout.VirtOf(r.Layout.P2mPfn)));
            Assert.That(si.Flags, Is.EqualTo((uint)StartInfoFlags.VirtP2m4Tools));
            Assert.That(cmd, Is.EqualTo("root=/dev/xvda1 quiet\0"));
        });
    }

    [Test]
    public void TheBootstrapMappingIsOneToOneOverPseudoPhysicalMemory()
    {
        using var f = new HypervisorFixture();
        var (d, r) = f.Build();
        var cr3 = d.Vcpus[0].Registers.Cr3;
        for (ulong pfn = 0; pfn < (r.Layout.VirtMapEnd - Base) >> 12; pfn += 17)
        {
            uint err = PageTableWalker.Translate(f.Memory, cr3, Base + pfn * 4096 + 8, write: false, user: true, fetch: false, out var ma);
            Assert.That(err, Is.Zero, $"pfn {pfn}");
            Assert.That(ma, Is.EqualTo((d.P2m[pfn] << 12) + 8), $"pfn {pfn}");
        }
        Assert.That(PageTableWalker.Translate(f.Memory, cr3, r.Layout.VirtMapEnd, false, true, false, out _), Is.Not.Zero);
        Assert.That(PageTableWalker.Translate(f.Memory, cr3, 0x10, false, true, false, out _), Is.Not.Zero);
    }

    [Test]
    public void PageTablePagesAreMappedReadOnlyAndEverythingElseWritable()
    {
        using var f = new HypervisorFixture();
        var (d, r) = f.Build();
        var cr3 = d.Vcpus[0].Registers.Cr3;
        Assert.That(PageTableWalker.Translate(f.Memory, cr3, r.Layout.VirtOf(r.Layout.PageTablePfn), write: true, user: true, fetch: false, out _),
            Is.EqualTo((uint)(PageFaultError.Present | PageFaultError.Write | PageFaultError.User)));
        Assert.That(PageTableWalker.Translate(f.Memory, cr3, r.Layout.VirtOf(r.Layout.BootStackPfn), write: true, user: true, fetch: false, out _), Is.Zero);
    }

    [Test]
    public void ThePseudoPhysicalToMachineListIsInGuestMemory()
    {
        using var f = new HypervisorFixture();
        var (d, r) = f.Build();
        for (ulong pfn = 0; pfn < 8192; pfn += 511)
        {
            ulong va = r.Layout.VirtOf(r.Layout.P2mPfn) + pfn * 8;
            PageTableWalker.Translate(f.Memory, d.Vcpus[0].Registers.Cr3, va, false, true, false, out var ma);
            Assert.That(f.Memory.ReadUInt64(ma), Is.EqualTo(d.P2m[pfn]));
            Assert.That(f.Hv.Frames.MachineToPhys(d.P2m[pfn]), Is.EqualTo(pfn));
        }
    }

    [Test]
    public void TheHypercallPageHoldsXensSixtyFourBitStubs()
    {
        using var f = new HypervisorFixture();
        var (d, _) = f.Build();
        var page = f.Memory.FrameForRead(d.P2m[1]).ToArray();
        // entry 17 (xen_version): push %rcx; push %r11; mov $17,%eax; syscall; pop %r11; pop %rcx; ret
        Assert.That(page.AsSpan(17 * 32, 14).ToArray(), Is.EqualTo(new byte[] { 0x51, 0x41, 0x53, 0xb8, 17, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3 }));
        // entry 23 (iret): push %rcx; push %r11; push %rax; mov $23,%eax; syscall
        Assert.That(page.AsSpan(23 * 32, 11).ToArray(), Is.EqualTo(new byte[] { 0x51, 0x41, 0x53, 0x50, 0xb8, 23, 0, 0, 0, 0x0f, 0x05 }));
        Assert.That(page[17 * 32 + 14], Is.EqualTo(0xcc));
    }

    [Test]
    public void KernelBytesLandAtTheirVirtualAddressesAndBssIsZero()
    {
        using var f = new HypervisorFixture();
        var (d, _) = f.Build(new TestElf { HypercallPage = null });
        var first = f.Memory.FrameForRead(d.P2m[0]);
        Assert.That(first[5], Is.EqualTo((byte)(5 * 7 + 3)));
        Assert.That(f.Memory.FrameForRead(d.P2m[3]).ToArray().All(b => b == 0), Is.True);
    }

    [Test]
    public void EveryVcpuStartsWithEventDeliveryMasked()
    {
        using var f = new HypervisorFixture();
        var (d, _) = f.Build();
        var shared = f.Memory.FrameForRead(d.SharedInfoMfn);
        for (int i = 0; i < SharedInfoLayout.LegacyMaxVcpus; i++)
            Assert.That(shared[SharedInfoLayout.VcpuInfo(i) + SharedInfoLayout.VcpuUpcallMask], Is.EqualTo(1));
    }
}
