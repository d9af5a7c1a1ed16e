using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Boot;

/// <summary>What the toolstack asks the builder for (libxl's build_info for a PV guest).</summary>
public sealed record PvBuildRequest(
    KernelImage Kernel,
    /// <summary>The ramdisk file's bytes as read (gzip is inflated by the builder, as xc_dom_build_module does).</summary>
    byte[]? Ramdisk,
    /// <summary>start_info.cmd_line: at most <see cref="StartInfo.MaxGuestCmdline"/> - 1 bytes are kept, as strncpy does.</summary>
    string Cmdline,
    uint StoreEvtchn,
    uint ConsoleEvtchn,
    /// <summary>SIF_* flags; SIF_MOD_START_PFN is added by the builder when the ramdisk goes unmapped.</summary>
    StartInfoFlags Flags = StartInfoFlags.VirtP2m4Tools);

/// <summary>Where the builder put the things the toolstack and back-ends need.</summary>
public sealed record PvBuildResult(PvLayout Layout, ulong StoreMfn, ulong ConsoleMfn, ulong StartInfoMfn, ulong PageTableBaseMfn);

/// <summary>
/// Loads a PV kernel into a domain's memory the way Xen's builder does (xg_dom_core.c, xg_dom_x86.c):
/// segments, hypercall page, p2m list, start_info, xenstore and console pages, bootstrap page tables and
/// boot stack, then the initial vCPU context (vcpu_x86_64).
/// </summary>
public static class DomainBuilder
{
    private const ulong L1Prot = PageTableWalker.Present | PageTableWalker.Writable | PageTableWalker.Accessed;
    private const ulong UpperProt = PageTableWalker.Present | PageTableWalker.Writable | PageTableWalker.Accessed
                                    | PageTableWalker.Dirty | PageTableWalker.User;

    /// <summary>Build into <paramref name="domain"/>, whose memory (P2M) is already populated.</summary>
    public static PvBuildResult Build(MachineMemory memory, Domain domain, PvBuildRequest request)
    {
        var k = request.Kernel;
        var p2m = domain.P2m;
        var ramdisk = request.Ramdisk is { Length: > 0 } blob ? RamdiskImage.Prepare(blob, "ramdisk") : null;
        var layout = PvLayout.Compute(k.VirtBase, k.VirtKernelStart, k.VirtKernelEnd,
            ramdisk?.SegmentBytes ?? 0, (ulong)p2m.Length, k.P2mBase, k.UnmappedInitrd);

        // Kernel segments at their ELF physical address + virt_offset (elf_load_binary).
        foreach (var seg in k.Segments)
        {
            ulong va = seg.PhysAddr + k.VirtOffset;
            CopyToPseudoPhys(memory, p2m, va - layout.VirtBase, k.Image.AsSpan((int)seg.FileOffset, (int)seg.FileSize));
            // Bytes past FileSize (.bss) are already zero: every frame is scrubbed before it is handed out.
        }
        if (ramdisk != null)
            CopyToPseudoPhys(memory, p2m, layout.RamdiskPfn << PvLayout.PageShift, ramdisk.Contents);

        if (k.VirtHypercallPage != KernelImage.Unset)
            WriteHypercallPage(memory.FrameForWrite(p2m[(k.VirtHypercallPage - layout.VirtBase) >> PvLayout.PageShift]));

        // The p2m list the guest sees (mfn_list): pfn -> mfn, 8 bytes each.
        var p2mBytes = MemoryMarshal.AsBytes(p2m.AsSpan());
        CopyToPseudoPhys(memory, p2m, layout.P2mPfn << PvLayout.PageShift, p2mBytes);

        WritePageTables(memory, p2m, layout);
        WriteStartInfo(memory, domain, layout, request, ramdisk);

        var regs = domain.Vcpus[0].Registers;
        regs.Rip = k.VirtEntry;
        regs.Rsp = layout.VirtOf(layout.BootStackPfn + 1);
        regs.Rsi = layout.VirtOf(layout.StartInfoPfn);
        regs.Rflags = VcpuRegisters.RflagsFixed | VcpuRegisters.RflagsIf;
        regs.Cs = X86_64.FlatKernelCs64;
        regs.Ss = X86_64.FlatKernelSs64;
        regs.Ds = regs.Es = regs.Fs = regs.Gs = X86_64.FlatKernelDs64;
        ulong l4Mfn = p2m[layout.L4Pfn];
        regs.Cr3 = l4Mfn << PvLayout.PageShift;
        domain.Vcpus[0].KernelStackPointer = regs.Rsp;
        // As Xen's builder (pin_table) and setvcpucontext: the L4 is validated, pinned and becomes vCPU 0's base.
        domain.Hypervisor.Mmu.InstallBootTables(domain, l4Mfn);

        return new PvBuildResult(layout, p2m[layout.XenstorePfn], p2m[layout.ConsolePfn], p2m[layout.StartInfoPfn], l4Mfn);
    }

    /// <summary>
    /// The 64-bit PV hypercall page (pv_ring3_init_hypercall_page): entry i at i*32 is
    /// push %rcx; push %r11; mov $i,%eax; syscall; pop %r11; pop %rcx; ret — except __HYPERVISOR_iret, which
    /// does not return: push %rcx; push %r11; push %rax; mov $23,%eax; syscall. The rest is int3 (0xcc).
    /// </summary>
    public static void WriteHypercallPage(Span<byte> page)
    {
        page.Fill(0xCC);
        for (int i = 0; i < Hypercall.PageEntries; i++)
        {
            var e = page.Slice(i * Hypercall.EntrySize, Hypercall.EntrySize);
            if (i == Hypercall.Iret)
            {
                e[0] = 0x51; e[1] = 0x41; e[2] = 0x53; e[3] = 0x50; e[4] = 0xB8;
                BinaryPrimitives.WriteUInt32LittleEndian(e[5..], (uint)i);
                e[9] = 0x0F; e[10] = 0x05;
                continue;
            }
            e[0] = 0x51; e[1] = 0x41; e[2] = 0x53; e[3] = 0xB8;
            BinaryPrimitives.WriteUInt32LittleEndian(e[4..], (uint)i);
            e[8] = 0x0F; e[9] = 0x05; e[10] = 0x41; e[11] = 0x5B; e[12] = 0x59; e[13] = 0xC3;
        }
    }

    /// <summary>
    /// setup_pgtables_pv: for every level, top down, and every mapping's tables at that level, point the entries that
    /// cover a lower level's tables (or, at L1, the mapped pages) at them. A second mapping's tables hook into the
    /// first mapping's shared upper tables this way.
    /// </summary>
    private static void WritePageTables(MachineMemory memory, ulong[] p2m, PvLayout l)
    {
        for (int lvl = 3; lvl >= 0; lvl--)
            foreach (var table in l.Mappings)
            {
                var t = table.Levels[lvl];
                ulong from = t.From, to = t.To;
                int shift = PvLayout.PageShift + lvl * 9;
                foreach (var lowerMapping in l.Mappings)
                {
                    var lower = lvl > 0 ? lowerMapping.Levels[lvl - 1] : lowerMapping.Area;
                    if (lvl > 0 && lower.Tables == 0) continue;
                    if (lower.From >= to || lower.To <= from) continue;
                    ulong ps = (Math.Max(from, lower.From) - from) >> shift;
                    ulong pe = (Math.Min(to, lower.To) - from) >> shift;
                    ulong pfn = ((Math.Max(from, lower.From) - lower.From) >> shift) + lower.Pfn;
                    for (ulong p = ps; p <= pe; p++, pfn++)
                    {
                        ulong prot = lvl > 0 ? UpperProt : L1Prot;
                        // Page-table pages are mapped read-only (get_pg_prot); a 64-bit PV kernel runs in ring 3, so
                        // Xen's validation (adjust_guest_l1e) adds _PAGE_USER to every present L1 entry.
                        if (lvl == 0)
                        {
                            prot |= PageTableWalker.User;
                            if (l.IsPageTable(pfn)) prot &= ~PageTableWalker.Writable;
                        }
                        ulong tableMfn = p2m[t.Pfn + p / 512];
                        memory.WriteUInt64((tableMfn << PvLayout.PageShift) + (p % 512) * 8, (p2m[pfn] << PvLayout.PageShift) | prot);
                    }
                }
            }
    }

    /// <summary>start_info_x86_64.</summary>
    private static unsafe void WriteStartInfo(MachineMemory memory, Domain domain, PvLayout l, PvBuildRequest r, RamdiskImage? ramdisk)
    {
        var page = memory.FrameForWrite(domain.P2m[l.StartInfoPfn]);
        page.Clear();
        ref var si = ref MemoryMarshal.AsRef<StartInfo>(page);
        fixed (byte* magic = si.Magic)
            Encoding.ASCII.GetBytes(StartInfo.Magic64, new Span<byte>(magic, StartInfo.MagicLength - 1));
        si.NrPages = (ulong)domain.P2m.Length;
        si.SharedInfo = domain.SharedInfoMfn << PvLayout.PageShift;
        var flags = r.Flags;
        si.StoreMfn = domain.P2m[l.XenstorePfn];
        si.StoreEvtchn = r.StoreEvtchn;
        si.ConsoleMfn = domain.P2m[l.ConsolePfn];
        si.ConsoleEvtchn = r.ConsoleEvtchn;
        si.PtBase = l.VirtOf(l.PageTablePfn);
        si.NrPtFrames = l.PageTableCount;
        si.MfnList = l.P2mVirt;
        if (l.P2mOutsideInitialMapping)
        {
            si.FirstP2mPfn = l.P2mPfn;
            si.NrP2mFrames = l.P2mPages;
        }
        if (ramdisk != null)
        {
            // xc_dom_build_image: the module's whole segment, page rounded; unmapped it is given by pfn.
            if (l.RamdiskUnmapped)
            {
                si.ModStart = l.RamdiskPfn;
                flags |= StartInfoFlags.ModStartPfn;
            }
            else si.ModStart = l.VirtOf(l.RamdiskPfn);
            si.ModLen = l.RamdiskPages << PvLayout.PageShift;
        }
        si.Flags = (uint)flags;
        fixed (byte* cmd = si.CmdLine)
        {
            var dst = new Span<byte>(cmd, StartInfo.MaxGuestCmdline - 1);
            var bytes = Encoding.UTF8.GetBytes(r.Cmdline);
            bytes.AsSpan(0, Math.Min(bytes.Length, dst.Length)).CopyTo(dst);
        }
    }

    private static void CopyToPseudoPhys(MachineMemory memory, ulong[] p2m, ulong offset, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            ulong pfn = offset >> PvLayout.PageShift;
            int inPage = (int)(offset & (PvLayout.PageSize - 1));
            int n = Math.Min(data.Length, (int)PvLayout.PageSize - inPage);
            memory.Write((p2m[pfn] << PvLayout.PageShift) + (ulong)inPage, data[..n]);
            data = data[n..];
            offset += (ulong)n;
        }
    }
}
