using System.Globalization;
using System.Numerics;
using System.Text;

namespace Paravirt.Hypervisor.Scheduling;

/// <summary>
/// An immutable set of physical CPUs (Xen's cpumask_t): a vCPU's hard or soft affinity. Bits at or above the
/// scheduler's pCPU count are never set.
/// </summary>
public sealed class CpuMask : IEquatable<CpuMask>
{
    private readonly ulong[] _bits;

    private CpuMask(ulong[] bits, int size)
    {
        _bits = bits;
        Size = size;
    }

    /// <summary>How many pCPUs the mask ranges over (the host's pCPU count).</summary>
    public int Size { get; }

    public static CpuMask All(int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        var bits = new ulong[(size + 63) / 64];
        for (int i = 0; i < size; i++) bits[i >> 6] |= 1UL << (i & 63);
        return new CpuMask(bits, size);
    }

    /// <summary>The given cpus; numbers outside 0..size-1 are dropped (as libxl_bitmap_set past the end).</summary>
    public static CpuMask Of(int size, IEnumerable<int> cpus)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        ArgumentNullException.ThrowIfNull(cpus);
        var bits = new ulong[(size + 63) / 64];
        foreach (int c in cpus)
            if ((uint)c < (uint)size) bits[c >> 6] |= 1UL << (c & 63);
        return new CpuMask(bits, size);
    }

    public bool Contains(int cpu) => (uint)cpu < (uint)Size && (_bits[cpu >> 6] & (1UL << (cpu & 63))) != 0;

    public int Count
    {
        get
        {
            int n = 0;
            foreach (ulong w in _bits) n += BitOperations.PopCount(w);
            return n;
        }
    }

    public bool IsEmpty => Count == 0;
    public bool IsFull => Count == Size;

    /// <summary>The lowest cpu in the mask, or -1.</summary>
    public int First()
    {
        for (int i = 0; i < _bits.Length; i++)
            if (_bits[i] != 0) return i * 64 + BitOperations.TrailingZeroCount(_bits[i]);
        return -1;
    }

    public IEnumerable<int> Cpus()
    {
        for (int i = 0; i < Size; i++)
            if (Contains(i)) yield return i;
    }

    public bool Intersects(CpuMask other)
    {
        ArgumentNullException.ThrowIfNull(other);
        int n = Math.Min(_bits.Length, other._bits.Length);
        for (int i = 0; i < n; i++)
            if ((_bits[i] & other._bits[i]) != 0) return true;
        return false;
    }

    /// <summary>
    /// The mask as xl prints it (print_bitmap in xl_utils.c): "all" when every cpu from 0 to the end is set, "none"
    /// when none is, else comma-separated ranges such as "0-1,3".
    /// </summary>
    public override string ToString()
    {
        if (IsEmpty) return "none";
        if (IsFull) return "all";
        var text = new StringBuilder();
        int i = 0;
        while (i < Size)
        {
            if (!Contains(i)) { i++; continue; }
            int start = i;
            while (i + 1 < Size && Contains(i + 1)) i++;
            if (text.Length > 0) text.Append(',');
            text.Append(start.ToString(CultureInfo.InvariantCulture));
            if (i > start) text.Append('-').Append(i.ToString(CultureInfo.InvariantCulture));
            i++;
        }
        return text.ToString();
    }

    public bool Equals(CpuMask? other) => other is not null && other.Size == Size && _bits.AsSpan().SequenceEqual(other._bits);
    public override bool Equals(object? obj) => Equals(obj as CpuMask);
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Size);
        foreach (ulong w in _bits) h.Add(w);
        return h.ToHashCode();
    }
}
