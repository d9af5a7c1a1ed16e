using NUnit.Framework;
using Paravirt.Hypervisor.Boot;

namespace Paravirt.Hypervisor.Tests;

/// <summary>Each Xen ELF note the PV builder reads (elfnote.h), parsed and checked as libelf does.</summary>
public class BootNotesTests
{
    private const ulong Base = 0xffffffff80000000;

    private static KernelImage Parse(TestElf elf) => KernelImage.Parse(elf.Build(), "k");

    private static DomainBuildException Refused(TestElf elf) =>
        Assert.Throws<DomainBuildException>(() => Parse(elf))!;

    private static TestElf With(params (XenElfNote Type, byte[] Desc)[] notes)
    {
        var elf = new TestElf();
        foreach (var (type, desc) in notes) elf.ExtraNotes.Add(((uint)type, desc));
        return elf;
    }

    [Test]
    public void TheEntryNoteOverridesTheElfEntryPoint()
    {
        var k = Parse(With((XenElfNote.Entry, TestElf.U64(Base + 0x20))));
        Assert.That(k.VirtEntry, Is.EqualTo(Base + 0x20));
    }

    [Test]
    public void AnEntryOutsideTheKernelIsRefused()
    {
        var e = Refused(With((XenElfNote.Entry, TestElf.U64(Base + 0x100000))));
        Assert.That(e.Message, Does.Contain("ELF start or entries are out of bounds"));
    }

    [Test]
    public void VirtBaseAndPaddrOffsetPlaceTheKernelAtPaddrPlusTheirDifference()
    {
        // PT_LOAD paddr is Base; PADDR_OFFSET 2 MiB below VIRT_BASE moves the kernel 2 MiB up.
        var k = Parse(new TestElf { Entry = Base + 0x200000, HypercallPage = Base + 0x201000 }
            .Also(e => e.ExtraNotes.Add(((uint)XenElfNote.PaddrOffset, TestElf.U64(Base - 0x200000)))));
        Assert.Multiple(() =>
        {
            Assert.That(k.VirtBase, Is.EqualTo(Base));
            Assert.That(k.VirtOffset, Is.EqualTo(0x200000UL));
            Assert.That(k.VirtKernelStart, Is.EqualTo(Base + 0x200000));
            Assert.That(k.VirtKernelEnd, Is.EqualTo(Base + 0x204000));
        });
    }

    [Test]
    public void APaddrOffsetWithoutVirtBaseIsRefused()
    {
        var e = Refused(new TestElf { VirtBaseNote = false });
        Assert.That(e.Message, Does.Contain("ELF_PADDR_OFFSET set, VIRT_BASE unset"));
    }

    [Test]
    public void AVirtBaseAboveTheKernelIsRefused()
    {
        var e = Refused(With((XenElfNote.VirtBase, TestElf.U64(Base + 0x1000)), (XenElfNote.PaddrOffset, TestElf.U64(Base))));
        Assert.That(e.Message, Does.Contain("out of bounds"));
    }

    [Test]
    public void TheHypercallPageNoteNamesAPageInsideTheKernel()
    {
        Assert.That(Parse(new TestElf()).VirtHypercallPage, Is.EqualTo(Base + 0x1000));
        Assert.That(Parse(new TestElf { HypercallPage = null }).VirtHypercallPage, Is.EqualTo(KernelImage.Unset));
        Assert.That(Refused(new TestElf { HypercallPage = Base + 0x1010 }).Message, Does.Contain("not page aligned"));
    }

    [TestCase("generic")]
    [TestCase("generic-with-suffix")]
    public void TheGenericLoaderIsAccepted(string loader) =>
        Assert.DoesNotThrow(() => Parse(new TestElf { Loader = loader }));

    [Test]
    public void ALinuxGuestOsIsAcceptedWithoutTheGenericLoader() =>
        Assert.DoesNotThrow(() => Parse(new TestElf { Loader = "" }.Also(e => e.ExtraNotes.Add(((uint)XenElfNote.GuestOs, TestElf.Str("linux"))))));

    [Test]
    public void AnotherLoaderIsRefusedNamingIt() =>
        Assert.That(Refused(new TestElf { Loader = "bsd" }).Message, Does.Contain("Not 'bsd'").IgnoreCase);

    [TestCase("xen-3.0")]
    [TestCase("xen-3.0-x86_64")]
    public void XenVersion30IsAccepted(string version) =>
        Assert.DoesNotThrow(() => Parse(new TestElf { XenVersion = version }));

    [TestCase("xen-2.0")]
    [TestCase("")]
    public void AnotherXenVersionIsRefused(string version) =>
        Assert.That(Refused(new TestElf { XenVersion = version }).Message, Does.Contain("Xen v3.0"));

    [Test]
    public void PaeModeIsRecorded() =>
        Assert.That(Parse(With((XenElfNote.PaeMode, TestElf.Str("yes")))).PaeMode, Is.EqualTo("yes"));

    [Test]
    public void LinuxsFeaturesNoteIsAccepted()
    {
        // arch/x86/xen/xen-head.S: "!writable_page_tables|pae_pgdir_above_4gb"; Xen builds such a domU.
        var k = Parse(new TestElf { Features = "!writable_page_tables|pae_pgdir_above_4gb" });
        Assert.Multiple(() =>
        {
            Assert.That(k.RequiredFeatures, Is.EquivalentTo(new[] { XenFeature.WritablePageTables }));
            Assert.That(k.SupportedFeatures, Is.EqualTo((1u << XenFeature.WritablePageTables) | (1u << XenFeature.PaePgdirAbove4gb)));
        });
    }

    [TestCase("supervisor_mode_kernel")]
    [TestCase("auto_translated_physmap")]
    [TestCase("hvm_callback_vector")]
    [TestCase("dom0")]
    public void AKernelRequiringAFeatureWeLackIsRefusedNamingIt(string feature)
    {
        var e = Refused(new TestElf { Features = $"writable_descriptor_tables|!{feature}" });
        Assert.That(e.Message, Does.Contain($"requires feature '{feature}'"));
        Assert.That(e.Message, Does.Not.Contain("\n"));
    }

    [Test]
    public void AnUnknownRequiredFeatureIsRefusedNamingIt() =>
        Assert.That(Refused(new TestElf { Features = "!no_such_feature" }).Message, Does.Contain("unknown feature 'no_such_feature'"));

    [Test]
    public void AnUnknownOptionalFeatureIsIgnored() =>
        Assert.That(Parse(new TestElf { Features = "no_such_feature||writable_descriptor_tables" }).SupportedFeatures,
            Is.EqualTo(1u << XenFeature.WritableDescriptorTables));

    [Test]
    public void AFeatureNameLongerThanLibelfReadsNeverMatches() =>
        Assert.That(Refused(new TestElf { Features = "!" + new string('x', 70) }).Message, Does.Contain("unknown feature"));

    [Test]
    public void TheSupportedFeaturesBitmapAddsToTheSupportedSet()
    {
        var k = Parse(With((XenElfNote.SupportedFeatures, TestElf.U32((1u << XenFeature.Dom0) | 1u))));
        Assert.That(k.SupportedFeatures, Is.EqualTo((1u << XenFeature.Dom0) | 1u));
        Assert.That(k.RequiredFeatures, Is.Empty, "a supported feature is not a requirement");
    }

    [Test]
    public void InitP2mIsRecorded() =>
        Assert.That(Parse(With((XenElfNote.InitP2m, TestElf.U64(0x8000000000)))).P2mBase, Is.EqualTo(0x8000000000UL));

    [Test]
    public void InitP2mInsideTheKernelIsRefused() =>
        Assert.That(Refused(With((XenElfNote.InitP2m, TestElf.U64(Base + 0x1000)))).Message, Does.Contain("P->M table base"));

    [TestCase(1UL, true)]
    [TestCase(0UL, false)]
    public void ModStartPfnAsksForAnUnmappedRamdisk(ulong value, bool unmapped) =>
        Assert.That(Parse(With((XenElfNote.ModStartPfn, TestElf.U64(value)))).UnmappedInitrd, Is.EqualTo(unmapped));

    [Test]
    public void ANumericNoteOfAnOddSizeReadsAsZero() =>
        Assert.That(Parse(With((XenElfNote.ModStartPfn, new byte[] { 1, 1, 1 }))).UnmappedInitrd, Is.False);

    [Test]
    public void NotesInAnShtNoteSectionAreReadWhenNoSegmentHasThem()
    {
        var k = Parse(new TestElf { NotesInSectionOnly = true });
        Assert.That(k.VirtHypercallPage, Is.EqualTo(Base + 0x1000));
    }

    [Test]
    public void TheLastOfTwoNotesOfOneTypeWins() =>
        Assert.That(Parse(With((XenElfNote.HypercallPage, TestElf.U64(Base + 0x2000)))).VirtHypercallPage, Is.EqualTo(Base + 0x2000));
}

internal static class TestElfExtensions
{
    public static TestElf Also(this TestElf elf, Action<TestElf> change)
    {
        change(elf);
        return elf;
    }
}
