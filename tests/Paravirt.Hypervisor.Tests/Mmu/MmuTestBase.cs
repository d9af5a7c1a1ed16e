using NUnit.Framework;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Boot;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor.Tests.Mmu;

/// <summary>
/// Two built domains (the guest under test and a peer) over the registers-only platform, with helpers that speak the
/// guest's language: machine addresses of PTEs, spare frames outside the initial mapping, hypercalls by number.
/// </summary>
internal abstract class MmuTestBase
{
    protected const ulong P = PvMmu.Present, Rw = PvMmu.Rw, U = PvMmu.User, A = PvMmu.Accessed, D = PvMmu.Dirty;
    protected HypervisorFixture F = null!;
    protected Domain Dom = null!, Peer = null!;
    protected Vcpu V = null!;
    protected PvBuildResult Built = null!;
    protected PvLayout Layout => Built.Layout;
    protected PvMmu Mmu => F.Hv.Mmu;
    protected PageInfoTable Pages => F.Hv.Frames.Pages;
    /// <summary>A writable page inside the initial mapping (the boot stack) to marshal arguments through.</summary>
    protected ulong Scratch;

    [SetUp]
    public void SetUpDomains()
    {
        F = new HypervisorFixture();
        (Dom, Built) = F.Build();
        V = Dom.Vcpus[0];
        Peer = F.Build().Domain;
        Scratch = Layout.VirtOf(Layout.BootStackPfn);
    }

    [TearDown]
    public void TearDownDomains() => F.Dispose();

    protected ulong L4 => Built.PageTableBaseMfn;

    /// <summary>A frame of <paramref name="d"/> that nothing maps (counted from the end of its memory).</summary>
    protected static ulong Spare(Domain d, int k) => d.P2m[^(k + 1)];

    protected ulong Call(int nr, ulong a1 = 0, ulong a2 = 0, ulong a3 = 0, ulong a4 = 0) =>
        (ulong)F.Hv.Hypercalls.Call(V, (ulong)nr, a1, a2, a3, a4, 0);

    protected long CallL(int nr, ulong a1 = 0, ulong a2 = 0, ulong a3 = 0, ulong a4 = 0) =>
        F.Hv.Hypercalls.Call(V, (ulong)nr, a1, a2, a3, a4, 0);

    protected void Put64(ulong offset, ulong value) => Assert.That(GuestMemory.Write(V, Scratch + offset, value), Is.True);
    protected ulong Get64(ulong offset)
    {
        Assert.That(GuestMemory.Read(V, Scratch + offset, out ulong value), Is.True);
        return value;
    }
    protected uint Get32(ulong offset)
    {
        Assert.That(GuestMemory.Read(V, Scratch + offset, out uint value), Is.True);
        return value;
    }

    /// <summary>One mmu_update request { ptr | cmd, val } at Scratch, then the hypercall (done count at Scratch+0x800).</summary>
    protected long MmuUpdate(ulong ptr, ulong val, int cmd = MmuUpdateOp.NormalPtUpdate, ulong foreigndom = DomId.Self)
    {
        Put64(0, ptr | (uint)cmd);
        Put64(8, val);
        return CallL(Hypercall.MmuUpdate, Scratch, 1, Scratch + 0x800, foreigndom);
    }

    /// <summary>One mmuext_op { cmd, arg1, arg2 } at Scratch+0x100.</summary>
    protected long Mmuext(uint cmd, ulong arg1 = 0, ulong arg2 = 0, ulong foreigndom = DomId.Self)
    {
        Assert.That(GuestMemory.Write(V, Scratch + 0x100, (ulong)cmd), Is.True);
        Put64(0x108, arg1);
        Put64(0x110, arg2);
        return CallL(Hypercall.MmuextOp, Scratch + 0x100, 1, 0, foreigndom);
    }

    protected ulong Read(ulong mfn, int index) => F.Memory.ReadUInt64((mfn << 12) + (ulong)index * 8);
    protected void Write(ulong mfn, int index, ulong value) => F.Memory.WriteUInt64((mfn << 12) + (ulong)index * 8, value);

    /// <summary>Machine address of the L1 entry that maps <paramref name="va"/> in the guest's current tables.</summary>
    protected ulong PteAddress(ulong va, int level = 1)
    {
        ulong table = V.Registers.Cr3 >> 12;
        for (int l = 4; l > level; l--)
        {
            ulong e = Read(table, (int)((va >> (12 + 9 * (l - 1))) & 511));
            Assert.That(e & P, Is.Not.Zero, $"level {l} entry for 0x{va:x} is not present");
            table = (e & PvMmu.AddressMask) >> 12;
        }
        return (table << 12) + ((va >> (12 + 9 * (level - 1))) & 511) * 8;
    }

    /// <summary>The boot L1 table and the slot that maps <paramref name="va"/>.</summary>
    protected (ulong Mfn, int Index) L1Slot(ulong va)
    {
        ulong a = PteAddress(va);
        return (a >> 12, (int)((a & 0xFFF) >> 3));
    }

    /// <summary>An L1 table built in a spare frame: entry i = <paramref name="entries"/>[i].</summary>
    protected ulong MakeTable(int spareIndex, params (int Index, ulong Entry)[] entries)
    {
        ulong mfn = Spare(Dom, spareIndex);
        F.Memory.Clear(mfn);
        foreach (var (i, e) in entries) Write(mfn, i, e);
        return mfn;
    }

    /// <summary>A fresh L4 that maps the kernel the way the boot L4 does (slot 511 shared).</summary>
    protected ulong CloneL4(int spareIndex)
    {
        ulong mfn = Spare(Dom, spareIndex);
        F.Memory.Clear(mfn);
        for (int i = 0; i < 512; i++)
            if (i < PvMmu.FirstXenSlot || i > PvMmu.LastXenSlot) Write(mfn, i, Read(L4, i));
        return mfn;
    }

    /// <summary>Hash of every byte of a domain's memory, to show that nothing touched it.</summary>
    protected ulong Fingerprint(Domain d)
    {
        ulong h = 14695981039346656037UL;
        foreach (var mfn in d.P2m)
        {
            var span = F.Memory.FrameForRead(mfn);
            for (int i = 0; i < span.Length; i += 8) h = (h ^ BitConverter.ToUInt64(span.Slice(i, 8))) * 1099511628211UL;
        }
        return h;
    }
}
