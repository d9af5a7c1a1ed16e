using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor;

/// <summary>
/// copy_from_guest / copy_to_guest: access a guest virtual address through the vCPU's current page tables
/// with the hypervisor's (supervisor, write-protect honoured) rights. Xen's own range is never a valid
/// guest handle. Returns false (the caller answers -EFAULT) on any failure; nothing is half-written
/// across an unmapped page for reads, and writes stop at the first bad page.
/// </summary>
public static class GuestMemory
{
    public static bool CopyFrom(Vcpu v, ulong va, Span<byte> destination)
    {
        var mem = v.Domain.Hypervisor.Memory;
        while (!destination.IsEmpty)
        {
            if (!Translate(v, va, write: false, out ulong ma)) return false;
            int n = (int)Math.Min((ulong)destination.Length, 4096 - (va & 0xFFF));
            mem.Read(ma, destination[..n]);
            destination = destination[n..];
            va += (ulong)n;
        }
        return true;
    }

    public static bool CopyTo(Vcpu v, ulong va, ReadOnlySpan<byte> source)
    {
        var mem = v.Domain.Hypervisor.Memory;
        while (!source.IsEmpty)
        {
            if (!Translate(v, va, write: true, out ulong ma)) return false;
            int n = (int)Math.Min((ulong)source.Length, 4096 - (va & 0xFFF));
            mem.Write(ma, source[..n]);
            source = source[n..];
            va += (ulong)n;
        }
        return true;
    }

    public static bool Read<T>(Vcpu v, ulong va, out T value) where T : unmanaged
    {
        value = default;
        return CopyFrom(v, va, System.Runtime.InteropServices.MemoryMarshal.AsBytes(new Span<T>(ref value)));
    }

    public static bool Write<T>(Vcpu v, ulong va, T value) where T : unmanaged =>
        CopyTo(v, va, System.Runtime.InteropServices.MemoryMarshal.AsBytes(new ReadOnlySpan<T>(ref value)));

    private static bool Translate(Vcpu v, ulong va, bool write, out ulong machineAddress)
    {
        machineAddress = 0;
        if (va >= X86_64.HypervisorVirtStart && va < X86_64.HypervisorVirtEnd) return false;
        var d = v.Domain;
        uint err = PageTableWalker.Translate(d.Hypervisor.Memory, v.Registers.Cr3, va, write, user: false, fetch: false, out machineAddress);
        if (err != 0) return false;
        // Direct paging is validated so that guest tables only reach the guest's own (or granted) frames;
        // check ownership anyway so that a validation bug can never turn into a cross-domain access.
        return d.Hypervisor.Frames.IsOwnedBy(machineAddress >> 12, d.Id);
    }
}
