using System.IO.Compression;
using NUnit.Framework;
using Paravirt.Hypervisor.Boot;

namespace Paravirt.Hypervisor.Tests;

public class KernelImageTests
{
    [Test]
    public void AValidXenKernelYieldsItsNotes()
    {
        var k = KernelImage.Parse(new TestElf().Build(), "k");
        Assert.Multiple(() =>
        {
            Assert.That(k.VirtBase, Is.EqualTo(0xffffffff80000000));
            Assert.That(k.VirtEntry, Is.EqualTo(0xffffffff80000000));
            Assert.That(k.VirtHypercallPage, Is.EqualTo(0xffffffff80001000));
            Assert.That(k.VirtKernelStart, Is.EqualTo(0xffffffff80000000));
            Assert.That(k.VirtKernelEnd, Is.EqualTo(0xffffffff80004000));
            Assert.That(k.GuestOs, Is.EqualTo("Paravirt"));
        });
    }

    [Test]
    public void AGzipCompressedKernelIsInflated()
    {
        var raw = new TestElf().Build();
        var packed = new MemoryStream();
        using (var gz = new GZipStream(packed, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(raw);
        Assert.That(KernelImage.Parse(packed.ToArray(), "k.gz").VirtEntry, Is.EqualTo(0xffffffff80000000));
    }

    private static readonly object[] Refusals =
    [
        new object[] { "text file", (Func<byte[]>)(() => "hello world, not an ELF at all......................................."u8.ToArray()), "not an ELF image" },
        new object[] { "32-bit ELF", (Func<byte[]>)(() => new TestElf { Class = 1 }.Build()), "not a 64-bit" },
        new object[] { "ARM64 ELF", (Func<byte[]>)(() => new TestElf { Machine = 183 }.Build()), "not an x86-64 kernel" },
        new object[] { "no Xen notes", (Func<byte[]>)(() => new TestElf { XenNotes = false }.Build()), "no Xen ELF notes" },
        new object[] { "foreign loader", (Func<byte[]>)(() => new TestElf { Loader = "bsd" }.Build()), "generic loader" },
        new object[] { "wrong Xen version", (Func<byte[]>)(() => new TestElf { XenVersion = "xen-2.0" }.Build()), "Xen v3.0" },
        new object[] { "entry outside", (Func<byte[]>)(() => new TestElf { Entry = 0xffffffff90000000 }.Build()), "out of bounds" },
        new object[] { "hypercall page outside", (Func<byte[]>)(() => new TestElf { HypercallPage = 0xffffffff90000000 }.Build()), "hypercall page" },
        new object[] { "requires supervisor mode", (Func<byte[]>)(() => new TestElf { Features = "!supervisor_mode_kernel|pae_pgdir_above_4gb" }.Build()), "requires feature 'supervisor_mode_kernel'" },
        new object[] { "truncated", (Func<byte[]>)(() => new TestElf().Build()[..100]), "out of bounds" },
    ];

    [TestCaseSource(nameof(Refusals))]
    public void AnUnloadableKernelIsRefusedWithOneClearLine(string what, Func<byte[]> image, string expected)
    {
        var e = Assert.Throws<DomainBuildException>(() => KernelImage.Parse(image(), "k"))!;
        Assert.That(e.Message, Does.Contain(expected), what);
        Assert.That(e.Message, Does.Not.Contain("\n"));
    }

    [Test]
    public void RandomCorruptionNeverEscapesAsAnotherException()
    {
        var good = new TestElf().Build();
        var rng = new Random(1234);
        for (int i = 0; i < 5000; i++)
        {
            var bad = (byte[])good.Clone();
            for (int j = rng.Next(1, 8); j > 0; j--) bad[rng.Next(0, Math.Min(bad.Length, 400))] = (byte)rng.Next(256);
            try { KernelImage.Parse(bad, "k"); }
            catch (DomainBuildException) { }
        }
        Assert.Pass("5000 corrupted images: every one parsed or was refused with DomainBuildException");
    }

    [Test]
    public void ARequiredFeatureWeProvideIsAccepted() =>
        Assert.That(KernelImage.Parse(new TestElf { Features = "!pae_pgdir_above_4gb" }.Build(), "k").RequiredFeatures, Does.Contain(XenFeature.PaePgdirAbove4gb));
}
