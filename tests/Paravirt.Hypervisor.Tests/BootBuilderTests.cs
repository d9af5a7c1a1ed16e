using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Boot;

namespace Paravirt.Hypervisor.Tests;

/// <summary>The builder's start_info for ramdisks (plain, gzip, MOD_START_PFN), INIT_P2M and the command line.</summary>
public class BootBuilderTests
{
    private const ulong LinuxP2mBase = 0x8000000000;

    private static byte[] Pattern(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 31 + 7)).ToArray();

    private static byte[] Gzip(byte[] data)
    {
        var packed = new MemoryStream();
        using (var gz = new GZipStream(packed, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return packed.ToArray();
    }

    private static (Domain, PvBuildResult, StartInfo) Build(HypervisorFixture f, TestElf elf, byte[]? ramdisk = null, string cmdline = "")
    {
        var d = f.Hv.CreateDomain("guest", Guid.NewGuid(), 8192, 1);
        var k = KernelImage.Parse(elf.Build(), "k");
        var r = DomainBuilder.Build(f.Memory, d, new PvBuildRequest(k, ramdisk, cmdline, 1, 2));
        return (d, r, MemoryMarshal.Read<StartInfo>(f.Memory.FrameForRead(r.StartInfoMfn)));
    }

    private static byte[] ReadPseudoPhys(HypervisorFixture f, Domain d, ulong pfn, int length)
    {
        var bytes = new byte[length];
        for (int off = 0; off < length; off += 4096)
            f.Memory.FrameForRead(d.P2m[pfn + (ulong)(off / 4096)])[..Math.Min(4096, length - off)].CopyTo(bytes.AsSpan(off));
        return bytes;
    }

    [Test]
    public void AMappedRamdiskIsGivenByVirtualAddressAndPageRoundedLength()
    {
        using var f = new HypervisorFixture();
        var data = Pattern(10000);
        var (d, r, si) = Build(f, new TestElf(), data);
        Assert.Multiple(() =>
        {
            Assert.That(si.ModStart, Is.EqualTo(r.Layout.VirtOf(r.Layout.RamdiskPfn)));
            Assert.That(si.ModLen, Is.EqualTo(3UL * 4096));
            Assert.That(si.Flags & (uint)StartInfoFlags.ModStartPfn, Is.Zero);
            Assert.That(ReadPseudoPhys(f, d, r.Layout.RamdiskPfn, 10000), Is.EqualTo(data));
            Assert.That(ReadPseudoPhys(f, d, r.Layout.RamdiskPfn, 12288).Skip(10000).All(b => b == 0), Is.True);
        });
        uint err = PageTableWalker.Translate(f.Memory, d.Vcpus[0].Registers.Cr3, si.ModStart + 9999, false, true, false, out var ma);
        Assert.That(err, Is.Zero);
        Assert.That(f.Memory.FrameForRead(ma >> 12)[(int)(ma & 0xfff)], Is.EqualTo(data[9999]));
    }

    [Test]
    public void AGzipRamdiskIsInflatedIntoASegmentSizedFromItsTrailer()
    {
        using var f = new HypervisorFixture();
        var data = Pattern(9000);
        var (d, r, si) = Build(f, new TestElf(), Gzip(data));
        Assert.That(ReadPseudoPhys(f, d, r.Layout.RamdiskPfn, data.Length), Is.EqualTo(data));
        Assert.That(si.ModLen, Is.EqualTo(3UL * 4096), "9000 + 16 bytes, page rounded");
    }

    [Test]
    public void ARamdiskThatOnlyLooksGzippedIsHandedOverAsItIs()
    {
        using var f = new HypervisorFixture();
        var fake = Pattern(5000);
        fake[0] = 0x1f; fake[1] = 0x8b; fake[^4] = 0x10; fake[^3] = 0; fake[^2] = 0; fake[^1] = 0; // ISIZE 16
        var (d, r, _) = Build(f, new TestElf(), fake);
        Assert.That(ReadPseudoPhys(f, d, r.Layout.RamdiskPfn, fake.Length), Is.EqualTo(fake));
    }

    [Test]
    public void ModStartPfnGivesTheUnmappedRamdiskByFrameNumberAndSetsTheFlag()
    {
        using var f = new HypervisorFixture();
        var data = Pattern(6000);
        var elf = new TestElf().Also(e => e.ExtraNotes.Add(((uint)XenElfNote.ModStartPfn, TestElf.U64(1))));
        var (d, r, si) = Build(f, elf, data);
        Assert.Multiple(() =>
        {
            Assert.That(si.ModStart, Is.EqualTo(r.Layout.RamdiskPfn));
            Assert.That(si.ModStart, Is.EqualTo((r.Layout.VirtMapEnd - r.Layout.VirtBase) >> 12));
            Assert.That(si.ModLen, Is.EqualTo(2UL * 4096));
            Assert.That(si.Flags, Is.EqualTo((uint)(StartInfoFlags.VirtP2m4Tools | StartInfoFlags.ModStartPfn)));
            Assert.That(ReadPseudoPhys(f, d, si.ModStart, data.Length), Is.EqualTo(data));
        });
    }

    [Test]
    public void WithoutARamdiskModStartAndLenAreZero()
    {
        using var f = new HypervisorFixture();
        var (_, _, si) = Build(f, new TestElf());
        Assert.That((si.ModStart, si.ModLen), Is.EqualTo((0UL, 0UL)));
    }

    [Test]
    public void InitP2mMapsTheListAtTheKernelsAddressAndDescribesItsFrames()
    {
        using var f = new HypervisorFixture();
        var elf = new TestElf().Also(e => e.ExtraNotes.Add(((uint)XenElfNote.InitP2m, TestElf.U64(LinuxP2mBase))));
        var (d, r, si) = Build(f, elf);
        Assert.Multiple(() =>
        {
            Assert.That(si.MfnList, Is.EqualTo(LinuxP2mBase));
            Assert.That(si.FirstP2mPfn, Is.EqualTo(r.Layout.P2mPfn));
            Assert.That(si.NrP2mFrames, Is.EqualTo(19));
            Assert.That(si.NrPtFrames, Is.EqualTo(5), "only the initial mapping's tables");
        });
        var cr3 = d.Vcpus[0].Registers.Cr3;
        for (ulong pfn = 0; pfn < 8192; pfn += 397)
        {
            uint err = PageTableWalker.Translate(f.Memory, cr3, LinuxP2mBase + pfn * 8, write: true, user: true, fetch: false, out var ma);
            Assert.That(err, Is.Zero, $"p2m entry {pfn} mapped writable");
            Assert.That(f.Memory.ReadUInt64(ma), Is.EqualTo(d.P2m[pfn]));
        }
        Assert.That(PageTableWalker.Translate(f.Memory, cr3, LinuxP2mBase + 16 * 4096, false, true, false, out _), Is.Not.Zero,
            "nothing is mapped past the list");
    }

    [Test]
    public void TheCommandLineIsCutAt1023BytesAndNulTerminated()
    {
        using var f = new HypervisorFixture();
        string cmdline = new string('a', 1500);
        var (_, r, _) = Build(f, new TestElf(), cmdline: cmdline);
        var page = f.Memory.FrameForRead(r.StartInfoMfn);
        Assert.That(Encoding.ASCII.GetString(page.Slice(128, 1023)), Is.EqualTo(new string('a', 1023)));
        Assert.That(page[128 + 1023], Is.Zero);
    }

    [Test]
    public void AnOversizedRamdiskOrKernelFileIsRefusedBeforeItIsRead()
    {
        string path = Path.Combine(Path.GetTempPath(), "pv-big-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            using (var fs = new FileStream(path, FileMode.CreateNew)) fs.SetLength((long)KernelImage.MaxImageBytes + 1); // sparse
            Assert.That(Assert.Throws<DomainBuildException>(() => RamdiskImage.ReadFile(path))!.Message, Does.Contain("larger than 256 MiB"));
            Assert.That(Assert.Throws<DomainBuildException>(() => KernelImage.Load(path))!.Message, Does.Contain("larger than 256 MiB"));
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void AMissingRamdiskFileIsOneLineNamingIt()
    {
        var e = Assert.Throws<DomainBuildException>(() => RamdiskImage.ReadFile("/nonexistent/initrd.img"))!;
        Assert.That(e.Message, Does.StartWith("cannot read ramdisk /nonexistent/initrd.img"));
    }
}
