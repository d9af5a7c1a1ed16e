using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Paravirt.Cpu;

/// <summary>
/// Host memory that backs every machine frame: one anonymous mapping, reserved up front and committed
/// lazily by the host kernel as frames are touched (MAP_NORESERVE). Machine address 0 is offset 0.
/// Knows nothing of owners or page types: that is the hypervisor's frame table.
/// </summary>
/// <remarks>
/// Writers other than the CPU itself (hypervisor copies, back-ends) must go through
/// <see cref="FrameForWrite"/> or <see cref="Write"/> so that decoded-instruction caches keyed by frame
/// see the change (<see cref="WriteGeneration"/>).
/// </remarks>
public sealed unsafe class MachineMemory : IDisposable
{
    public const int PageShift = 12;
    public const int PageSize = 1 << PageShift;

    private byte* _base;
    private readonly uint[] _generation;
    /// <summary>Nonzero for frames some vCPU has decoded instructions from; see <see cref="NoteCpuWrite"/>.</summary>
    private readonly byte[] _holdsCode;

    public MachineMemory(ulong frameCount)
    {
        if (frameCount == 0 || frameCount > (1UL << 28))
            throw new ArgumentOutOfRangeException(nameof(frameCount), frameCount, "frame count must be 1..2^28 (1 TiB)");
        FrameCount = frameCount;
        _generation = new uint[frameCount];
        _holdsCode = new byte[frameCount];
        var size = (nuint)(frameCount << PageShift);
        var p = Native.mmap(null, size, Native.PROT_READ | Native.PROT_WRITE,
            Native.MAP_PRIVATE | Native.MAP_ANONYMOUS | Native.MAP_NORESERVE, -1, 0);
        if (p == Native.MAP_FAILED)
            throw new OutOfMemoryException($"cannot reserve {size} bytes of machine memory (errno {Marshal.GetLastPInvokeError()})");
        _base = (byte*)p;
    }

    public ulong FrameCount { get; }
    public ulong Size => FrameCount << PageShift;

    /// <summary>Host pointer to machine address 0. Valid until <see cref="Dispose"/>.</summary>
    public byte* Base => _base;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsValidFrame(ulong mfn) => mfn < FrameCount;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsValidRange(ulong maddr, ulong length) => maddr < Size && length <= Size - maddr;

    /// <summary>Read-only view of one frame.</summary>
    public ReadOnlySpan<byte> FrameForRead(ulong mfn)
    {
        if (mfn >= FrameCount) throw new ArgumentOutOfRangeException(nameof(mfn), mfn, "no such machine frame");
        return new ReadOnlySpan<byte>(_base + (mfn << PageShift), PageSize);
    }

    /// <summary>Writable view of one frame; counts as a write for code caches.</summary>
    public Span<byte> FrameForWrite(ulong mfn)
    {
        if (mfn >= FrameCount) throw new ArgumentOutOfRangeException(nameof(mfn), mfn, "no such machine frame");
        NoteWrite(mfn);
        return new Span<byte>(_base + (mfn << PageShift), PageSize);
    }

    public void Read(ulong maddr, Span<byte> destination)
    {
        if (!IsValidRange(maddr, (ulong)destination.Length)) throw new ArgumentOutOfRangeException(nameof(maddr), maddr, "range outside machine memory");
        new ReadOnlySpan<byte>(_base + maddr, destination.Length).CopyTo(destination);
    }

    public void Write(ulong maddr, ReadOnlySpan<byte> source)
    {
        if (!IsValidRange(maddr, (ulong)source.Length)) throw new ArgumentOutOfRangeException(nameof(maddr), maddr, "range outside machine memory");
        if (source.Length == 0) return;
        for (var f = maddr >> PageShift; f <= (maddr + (ulong)source.Length - 1) >> PageShift; f++) NoteWrite(f);
        source.CopyTo(new Span<byte>(_base + maddr, source.Length));
    }

    public ulong ReadUInt64(ulong maddr)
    {
        if (!IsValidRange(maddr, 8)) throw new ArgumentOutOfRangeException(nameof(maddr), maddr, "range outside machine memory");
        return Unsafe.ReadUnaligned<ulong>(_base + maddr);
    }

    public void WriteUInt64(ulong maddr, ulong value)
    {
        if (!IsValidRange(maddr, 8)) throw new ArgumentOutOfRangeException(nameof(maddr), maddr, "range outside machine memory");
        NoteWrite(maddr >> PageShift);
        Unsafe.WriteUnaligned(_base + maddr, value);
    }

    /// <summary>Zero a frame (scrubbing on free, as Xen does).</summary>
    public void Clear(ulong mfn) => FrameForWrite(mfn).Clear();

    /// <summary>
    /// Bumped whenever something writes the frame through this class (or the CPU calls <see cref="NoteWrite"/>).
    /// A decoded-code cache records the generation when it decodes and re-decodes when it changed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint WriteGeneration(ulong mfn) => Volatile.Read(ref _generation[mfn]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void NoteWrite(ulong mfn) => Interlocked.Increment(ref _generation[mfn]);

    /// <summary>
    /// Record that a decode cache holds instructions from this frame. From then on CPU stores into the frame
    /// bump its <see cref="WriteGeneration"/> (see <see cref="NoteCpuWrite"/>). Never cleared: a frame that once
    /// held code only costs an extra counter increment per CPU store afterwards.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MarkHoldsCode(ulong mfn) => Volatile.Write(ref _holdsCode[mfn], 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool HoldsCode(ulong mfn) => _holdsCode[mfn] != 0;

    /// <summary>
    /// The cheap write note for a CPU's own stores: bumps the generation only for frames that hold decoded
    /// code, so ordinary data stores cost one byte load. Returns true when it bumped (the store may have
    /// modified code the storing vCPU is about to run).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool NoteCpuWrite(ulong mfn)
    {
        if (_holdsCode[mfn] == 0) return false;
        NoteWrite(mfn);
        return true;
    }

    public void Dispose()
    {
        if (_base != null)
        {
            Native.munmap(_base, (nuint)(FrameCount << PageShift));
            _base = null;
        }
    }

    private static class Native
    {
        public const int PROT_READ = 1, PROT_WRITE = 2;
        public const int MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;
        public static readonly void* MAP_FAILED = (void*)-1;

        [DllImport("libc", SetLastError = true)]
        public static extern void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

        [DllImport("libc", SetLastError = true)]
        public static extern int munmap(void* addr, nuint length);
    }
}
