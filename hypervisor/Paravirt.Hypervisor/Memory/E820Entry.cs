using System.Runtime.InteropServices;

namespace Paravirt.Hypervisor.Memory;

/// <summary>One e820 entry as XENMEM_memory_map returns them: { u64 addr; u64 size; u32 type; } packed, 20 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public readonly record struct E820Entry(ulong Address, ulong Size, uint Type)
{
    public const int SizeInBytes = 20;
    public const uint Ram = 1, Reserved = 2, Acpi = 3, Nvs = 4, Unusable = 5;
}
