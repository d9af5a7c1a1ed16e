using NUnit.Framework;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Memory;

namespace Paravirt.Hypervisor.Tests.Mmu;

/// <summary>
/// A hostile guest, seeded: 10^5 random mmu_update / mmuext_op / update_va_mapping(_otherdomain) / memory_op calls
/// with frames of its own (page tables included), of a victim domain, of the hypervisor and outside memory, random
/// flag bits and random pointers. Nothing may throw, the victim's memory and page types must not change, and the
/// recomputed reference counts must match page_info at every checkpoint and after the attacker is destroyed.
/// </summary>
internal class MmuFuzzTests : MmuTestBase
{
    private const int Operations = 100_000;
    private Random _rng = null!;
    private ulong[] _frames = [];
    private ulong _scratchFrame;
    /// <summary>The entries (machine address, value) at each level on the way to the scratch page, L4 first.</summary>
    private (ulong Address, ulong Value)[] _path = [];

    [TestCase(20251125)]
    public void AHostileGuestNeitherCrashesTheHypervisorNorTouchesAnotherDomain(int seed)
    {
        _rng = new Random(seed);
        _scratchFrame = Dom.P2m[Layout.BootStackPfn];
        _path = [.. Enumerable.Range(1, 4).Reverse().Select(level => PteAddress(Scratch, level)).Select(a => (a, F.Memory.ReadUInt64(a)))];
        var pool = new List<ulong>();
        pool.AddRange(Dom.P2m.Take(64));
        for (ulong pfn = Layout.PageTablePfn; pfn < Layout.PageTablePfn + Layout.PageTableCount; pfn++) pool.Add(Dom.P2m[pfn]);
        for (int k = 0; k < 48; k++) pool.Add(Spare(Dom, k));
        pool.AddRange(Peer.P2m.Take(16));
        pool.Add(Peer.Vcpus[0].GuestTableMfn);
        pool.Add(Peer.SharedInfoMfn);
        pool.Add(Dom.SharedInfoMfn);
        pool.Add(Mmu.M2p.DataFrames[0]);
        pool.Add(Mmu.M2p.L3Mfn);
        pool.Add(F.Memory.FrameCount);
        pool.Add(0);
        _frames = [.. pool];

        ulong victim = Fingerprint(Peer);
        var victimPages = Peer.P2m.Select(m => (Pages.RefCountOf(m), Pages.TypeCountOf(m), Pages.TypeOf(m))).ToArray();
        int succeeded = 0;
        for (int n = 1; n <= Operations; n++)
        {
            if (OneOperation() == 0) succeeded++;
            Repair();
            if (n % 20_000 == 0) PageTypeInvariants.Check(F.Hv, [Dom, Peer]);
        }
        Assert.That(Fingerprint(Peer), Is.EqualTo(victim), "the victim's memory changed");
        Assert.That(Peer.P2m.Select(m => (Pages.RefCountOf(m), Pages.TypeCountOf(m), Pages.TypeOf(m))).ToArray(), Is.EqualTo(victimPages));
        Assert.That(succeeded, Is.GreaterThan(Operations / 20), "the fuzz mostly ran into argument errors; it tests too little");
        TestContext.Out.WriteLine($"{succeeded} of {Operations} operations succeeded");

        ulong free = F.Hv.Frames.FreeFrames;
        ulong owned = Dom.TotalPages + 1;
        F.Hv.DestroyDomain(Dom);
        Assert.That(F.Hv.Frames.FreeFrames, Is.EqualTo(free + owned), "every frame of the attacker came back");
        PageTypeInvariants.Check(F.Hv, [Peer]);
    }

    private ulong Frame() => _frames[_rng.Next(_frames.Length)];

    private ulong RandomFlags()
    {
        ulong[] bits = [P, P, P, Rw, Rw, U, A, D, PvMmu.Pse, PvMmu.Pcd, PvMmu.Pwt, PvMmu.Global, PvMmu.Nx, 1UL << 52, 1UL << 9];
        ulong f = 0;
        int k = _rng.Next(6);
        for (int i = 0; i < k; i++) f |= bits[_rng.Next(bits.Length)];
        return f;
    }

    private ulong RandomVa() => _rng.Next(6) switch
    {
        0 => Scratch + 0x1000 * (ulong)_rng.Next(-8, 8),
        1 => Layout.VirtOf((ulong)_rng.Next((int)((Layout.VirtMapEnd - Layout.VirtBase) >> 12))),
        2 => X86_64.HypervisorVirtStart + (ulong)_rng.Next(1 << 20) * 8,
        3 => (ulong)_rng.NextInt64(),
        4 => 0x1000,
        _ => Layout.VirtBase,
    };

    private void Put(ulong offset, ulong value) => F.Memory.WriteUInt64((_scratchFrame << 12) + offset, value);

    private long OneOperation()
    {
        // Requests are written straight into the scratch frame: the fuzz may have unmapped it, which then is EFAULT.
        switch (_rng.Next(5))
        {
            case 0:
            case 1:
            {
                int count = _rng.Next(1, 5);
                for (int i = 0; i < count; i++)
                {
                    ulong ptr = (Frame() << 12) + (ulong)_rng.Next(512) * 8 + (ulong)(_rng.Next(8) < 6 ? _rng.Next(3) : _rng.Next(8));
                    Put((ulong)i * 16, ptr);
                    Put((ulong)i * 16 + 8, (Frame() << 12) | RandomFlags());
                }
                ulong fd = _rng.Next(10) == 0 ? (uint)_rng.Next(0x7FF5) | ((ulong)(uint)_rng.Next(3) << 16) : DomId.Self;
                return CallL(Hypercall.MmuUpdate, Scratch, (ulong)count, _rng.Next(2) == 0 ? 0 : Scratch + 0x800, fd);
            }
            case 2:
            {
                uint cmd = (uint)_rng.Next(22);
                Put(0x100, cmd);
                Put(0x108, _rng.Next(3) == 0 ? RandomVa() : Frame());
                Put(0x110, _rng.Next(3) switch { 0 => Frame(), 1 => Scratch + 0x900, _ => (ulong)_rng.Next(9000) });
                Put(0x900, (ulong)_rng.NextInt64());
                ulong fd = _rng.Next(20) == 0 ? (ulong)_rng.Next(0x7FF5) : DomId.Self;
                return CallL(Hypercall.MmuextOp, Scratch + 0x100, 1, 0, fd);
            }
            case 3:
            {
                ulong flags = (uint)_rng.Next(8) | (_rng.Next(4) == 0 ? Scratch + 0x900 : 0);
                if (_rng.Next(8) == 0)
                    return CallL(Hypercall.UpdateVaMappingOtherdomain, RandomVa(), (Frame() << 12) | RandomFlags(), flags,
                        _rng.Next(2) == 0 ? DomId.Self : (ulong)_rng.Next(0x7FF5));
                return CallL(Hypercall.UpdateVaMapping, RandomVa(), (Frame() << 12) | RandomFlags(), flags);
            }
            default:
            {
                int op = _rng.Next(16);
                Put(0x400, _rng.Next(4) == 0 ? 0 : Scratch + 0x500);
                Put(0x408, (ulong)_rng.Next(4));
                Put(0x410, (uint)(_rng.Next(8) == 0 ? _rng.Next(12) : 0) | ((ulong)(uint)_rng.Next(4) << 40));
                Put(0x418, _rng.Next(6) == 0 ? (ulong)_rng.Next(0x7FF5) : DomId.Self);
                for (int i = 0; i < 4; i++) Put(0x500 + (ulong)i * 8, _rng.Next(3) == 0 ? (ulong)_rng.Next(1 << 16) : Frame());
                // A memory_op must not free the frames this harness marshals through.
                ulong cmd = (uint)op | (_rng.Next(10) == 0 ? (ulong)(uint)_rng.Next(4) << 6 : 0);
                if (op == MemoryOp.DecreaseReservation)
                    for (int i = 0; i < 4; i++)
                    {
                        ulong f = F.Memory.ReadUInt64((_scratchFrame << 12) + 0x500 + (ulong)i * 8);
                        if (f == _scratchFrame || f == L4 || _path.Any(p => p.Address >> 12 == f)) Put(0x500 + (ulong)i * 8, 0);
                    }
                return CallL(Hypercall.MemoryOp, cmd, Scratch + 0x400);
            }
        }
    }

    /// <summary>
    /// Keep the harness able to marshal: if the guest moved off its boot L4 or unmapped its scratch page, put them
    /// back through the same typed MMU operations (which may refuse; then the next calls see EFAULT, also fine).
    /// </summary>
    private void Repair()
    {
        if (V.GuestTableMfn != L4) Mmu.NewBaseptr(V, L4);
        if (PageTableWalker.Translate(F.Memory, V.Registers.Cr3, Scratch, true, false, false, out ulong ma) == 0 && ma >> 12 == _scratchFrame) return;
        foreach (var (address, value) in _path)
            if (F.Memory.ReadUInt64(address) != value) Mmu.UpdatePte(Dom, Dom, address, value, false);
    }
}
