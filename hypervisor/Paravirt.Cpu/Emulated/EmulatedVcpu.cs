using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iced.Intel;

namespace Paravirt.Cpu.Emulated;

/// <summary>
/// An interpreted x86-64 vCPU. Runs guest code at the CPL in CS until an exit; see <see cref="IVcpu"/>.
/// </summary>
/// <remarks>
/// Decode once, execute many: instructions are decoded into <see cref="CodeBlock"/>s keyed by machine address
/// and revalidated against <see cref="MachineMemory.WriteGeneration"/>; a direct-mapped jump cache maps a RIP to
/// its block without a dictionary lookup, and each block caches its successors (chaining). Each instruction
/// carries a handler chosen at decode time (Handlers.cs) that the executor calls directly, with no allocation
/// per instruction. Guest faults are raised as an internal <see cref="GuestFault"/> that <see cref="Run"/> turns into
/// an exit; handlers perform every access that can fault before they commit any register, so a fault leaves
/// the architectural state as before the instruction.
/// </remarks>
public sealed unsafe partial class EmulatedVcpu : IVcpu
{
    /// <summary>Instructions per decoded block at most (bounds the time between kick checks).</summary>
    private const int MaxBlockInstructions = 64;
    private const int JumpCacheSize = 4096;
    /// <summary>Blocks kept before the decode cache is dropped wholesale (bounds memory under hostile code).</summary>
    private const int MaxCachedBlocks = 1 << 16;
    private const ulong NoFrame = ulong.MaxValue;

    private readonly EmulatedPlatform _platform;
    private readonly MachineMemory _memory;
    private readonly byte* _base;
    /// <summary>The register file while <see cref="Run"/> executes: RAX..R15, then <see cref="ZeroSlot"/> and
    /// <see cref="NextRipSlot"/>. Native memory, copied from and to <see cref="Registers"/> at the run's edges.</summary>
    private ulong* _r;
    private readonly GuestFault _fault = new();

    private ulong _rip;
    /// <summary>Address of the instruction after the executing one; a branch stores its target here.</summary>
    private ref ulong _next => ref _r[NextRipSlot];
    /// <summary>Bumped whenever cached translations may have changed (TLB flush or invalidation, a new run):
    /// block links made under an older epoch are not followed.</summary>
    private uint _tlbEpoch;
    private int _cpl;
    private VcpuExit _exit;
    /// <summary>Set when the current instruction stored into a frame holding decoded code, or asked to end the
    /// block (a rep instruction interrupted by a kick): the executor leaves the block after it.</summary>
    private bool _endBlock;
    /// <summary>Requests from other threads, checked at every block boundary: <see cref="AttentionKick"/>,
    /// <see cref="AttentionFlush"/>.</summary>
    private int _attention;
    private const int AttentionKick = 1, AttentionFlush = 2;
    /// <summary>Managed thread id of the thread inside <see cref="Run"/>, or 0.</summary>
    private int _runThread;
    private bool _disposed;

    private readonly Dictionary<ulong, CodeBlock> _blocks = new();
    private readonly JumpCacheEntry[] _jumpCache = new JumpCacheEntry[JumpCacheSize];
    private readonly DecodedInstruction[] _decodeScratch = new DecodedInstruction[MaxBlockInstructions];
    private readonly PageCodeReader _reader = new();
    private readonly Decoder _decoder;

    internal EmulatedVcpu(EmulatedPlatform platform, MachineMemory memory)
    {
        _platform = platform;
        _memory = memory;
        _base = memory.Base;
        Registers = new VcpuRegisters();
        _r = (ulong*)NativeMemory.AllocZeroed((nuint)(RegisterSlots * sizeof(ulong)));
        _tlb = (TlbEntry*)NativeMemory.AllocZeroed((nuint)(TlbSize * sizeof(TlbEntry)));
        _itlb = (ItlbEntry*)NativeMemory.AllocZeroed((nuint)(TlbSize * sizeof(ItlbEntry)));
        _decoder = Decoder.Create(64, _reader, 0, DecoderOptions.None);
        FlushTlbNow();
    }

    public VcpuRegisters Registers { get; }

    public Func<uint, uint, (uint Eax, uint Ebx, uint Ecx, uint Edx)>? Cpuid { get; set; }

    /// <summary>IA32_TSC_AUX as rdtscp reports it in ECX (conventionally the vCPU number).</summary>
    public uint TscAux { get; set; }

    /// <summary>Instructions retired by this vCPU (approximate across faults; for statistics and benchmarks).</summary>
    public ulong InstructionsRetired { get; private set; }

    public void Kick() => Interlocked.Or(ref _attention, AttentionKick);

    private bool KickPending => (Volatile.Read(ref _attention) & AttentionKick) != 0;

    // Fully optimised at once: Run loops for as long as the guest computes, and an on-stack-replacement
    // compilation of the loop is slower than a regular one.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public VcpuExit Run()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Volatile.Write(ref _runThread, Environment.CurrentManagedThreadId);
        LoadState();
        ulong retired = 0;
        CodeBlock? previous = null;
        try
        {
            while (true)
            {
                if (Volatile.Read(ref _attention) != 0)
                {
                    int attention = Interlocked.Exchange(ref _attention, 0);
                    if ((attention & AttentionFlush) != 0) FlushTlbNow();
                    if ((attention & AttentionKick) != 0) return VcpuExit.Kicked;
                }
                var block = previous == null ? FindBlock(_rip) : NextBlock(previous, _rip);
                previous = block;
                _currentFrame = block.Frame;
                _currentFrame2 = block.Frame2;
                _endBlock = false;
                if ((_eflags & (Flags.TF | Flags.AC)) != 0 || _anyBreakpoints != 0)
                {
                    // Single-step, an enabled instruction or data breakpoint, or alignment checking: one
                    // instruction at a time (EmulatedVcpu.Breakpoints.cs, EmulatedVcpu.DataBreakpoints.cs,
                    // EmulatedVcpu.AlignmentCheck.cs).
                    if (StepBlock(block, ref retired, out var stepExit)) return stepExit;
                    continue;
                }
                // The first handler runs the block: each handler calls the next one's (see Handlers.cs), until the
                // block's last instruction or one that leaves early (an exit, a store into this code).
                var code = block.Instructions;
                ref var first = ref MemoryMarshal.GetArrayDataReference(code);
                bool completed = first.Handler(this, ref first, _rip + first.Length);
                _rip = _r[NextRipSlot];
                if (completed)
                {
                    retired += (ulong)code.Length;
                }
                else
                {
                    retired += (ulong)_stopIndex + 1;
                    if (_exiting)
                    {
                        _exiting = false;
                        return _exit;
                    }
                }
            }
        }
        catch (GuestFault f)
        {
            // Faults leave RIP at the faulting instruction (restartable); Registers.Cr2 was set for #PF.
            return f.ToExit();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _platform.ReportInternalError(_rip, e);
            return new VcpuExit(VcpuExitReason.Exception, ExceptionVector.InvalidOpcode);
        }
        finally
        {
            _endBlock = false;
            _exiting = false;
            InstructionsRetired += retired;
            SaveState();
            Volatile.Write(ref _runThread, 0);
        }
    }

    private void LoadState()
    {
        var regs = Registers;
        new ReadOnlySpan<ulong>(regs.Gprs).CopyTo(new Span<ulong>(_r, 16));
        _r[ZeroSlot] = 0;
        _tlbEpoch++;
        _rip = regs.Rip;
        _resumeFlag = (regs.Rflags & Flags.RF) != 0;
        DebugStatus = 0;
        _dataHits = 0;
        _stepIterations = false;
        _alignMask = 0;
        _flags = (regs.Rflags | Flags.Fixed1) & ~(Flags.RF | Flags.VM);
        SetCpl(regs.Cpl);
        if (regs.Cr3 != _cr3)
        {
            // A new CR3 flushes non-global translations; we keep none across address spaces.
            _cr3 = regs.Cr3;
            FlushTlbNow();
        }
    }

    private void SaveState()
    {
        new ReadOnlySpan<ulong>(_r, 16).CopyTo(Registers.Gprs);
        Registers.Rip = _rip;
        Registers.Rflags = _flags;
    }

    private void SetCpl(int cpl)
    {
        _cpl = cpl;
        _userBit = cpl == 3 ? 1UL : 0; // paging treats CPL 3 as user mode (SDM vol. 3, 4.6)
    }

    // ---- decoded-code cache -------------------------------------------------------------------------------

    private struct JumpCacheEntry
    {
        public ulong Rip;
        public CodeBlock? Block;
    }

    /// <summary>Instructions decoded from one machine address up to a branch, a page end or the block limit.
    /// An instruction that straddles a page boundary sits alone in its block and records the second frame.</summary>
    private sealed class CodeBlock
    {
        public ulong MachineAddress;
        public ulong Frame;
        public uint Generation;
        public ulong Frame2 = NoFrame;
        public uint Generation2;
        public DecodedInstruction[] Instructions = [];
        public int Count;
        // Block chaining: the last two successors (linear RIP, block, TLB epoch when linked), alternately replaced.
        public ulong LinkRip0, LinkRip1;
        public CodeBlock? Link0, Link1;
        public uint LinkEpoch0, LinkEpoch1;
        public bool LinkNext;
    }

    /// <summary>
    /// The block at <paramref name="rip"/> after <paramref name="previous"/>: one of its cached successors when the
    /// RIP matches, no translation has been dropped since the link was made, and the successor's frame has not been
    /// written since it was decoded; otherwise <see cref="FindBlock"/>, and the result is linked.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private CodeBlock NextBlock(CodeBlock previous, ulong rip)
    {
        var link = previous.Link0;
        if (previous.LinkRip0 == rip && link != null && previous.LinkEpoch0 == _tlbEpoch
            && _memory.WriteGeneration(link.Frame) == link.Generation)
            return link;
        link = previous.Link1;
        if (previous.LinkRip1 == rip && link != null && previous.LinkEpoch1 == _tlbEpoch
            && _memory.WriteGeneration(link.Frame) == link.Generation)
            return link;
        return LinkBlock(previous, rip);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private CodeBlock LinkBlock(CodeBlock previous, ulong rip)
    {
        var block = FindBlock(rip);
        // A block whose instruction straddles into a second page is revalidated through FindBlock every time.
        if (block.Frame2 != NoFrame) return block;
        if (previous.LinkNext)
        {
            previous.LinkRip1 = rip;
            previous.Link1 = block;
            previous.LinkEpoch1 = _tlbEpoch;
        }
        else
        {
            previous.LinkRip0 = rip;
            previous.Link0 = block;
            previous.LinkEpoch0 = _tlbEpoch;
        }
        previous.LinkNext = !previous.LinkNext;
        return block;
    }

    private CodeBlock FindBlock(ulong rip)
    {
        ulong maddr = FetchPage(rip) + (rip & 0xFFF);
        ref var j = ref _jumpCache[(int)((rip ^ (rip >> 12)) & (JumpCacheSize - 1))];
        var block = j.Block;
        if (block != null && j.Rip == rip && block.MachineAddress == maddr && IsCurrent(block, rip)) return block;
        if (!_blocks.TryGetValue(maddr, out block) || !IsCurrent(block, rip))
        {
            block = DecodeBlock(rip, maddr);
            if (_blocks.Count >= MaxCachedBlocks)
            {
                _blocks.Clear();
                Array.Clear(_jumpCache);
                _tlbEpoch++; // and no block links into the dropped cache
            }
            _blocks[maddr] = block;
        }
        j.Rip = rip;
        j.Block = block;
        return block;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsCurrent(CodeBlock block, ulong rip)
    {
        if (_memory.WriteGeneration(block.Frame) != block.Generation) return false;
        if (block.Frame2 == NoFrame) return true;
        // The straddling instruction's second page may be mapped elsewhere now.
        ulong second = FetchPage((rip | 0xFFF) + 1) >> MachineMemory.PageShift;
        return second == block.Frame2 && _memory.WriteGeneration(second) == block.Generation2;
    }

    private CodeBlock DecodeBlock(ulong rip, ulong maddr)
    {
        ulong frame = maddr >> MachineMemory.PageShift;
        // Mark before reading the generation and the bytes, so a store that misses the mark happened before
        // our decode saw memory (see MachineMemory.NoteCpuWrite).
        _memory.MarkHoldsCode(frame);
        Interlocked.MemoryBarrier();
        var block = new CodeBlock { MachineAddress = maddr, Frame = frame, Generation = _memory.WriteGeneration(frame) };
        int offset = (int)(maddr & 0xFFF);
        _reader.Reset(_base + maddr, MachineMemory.PageSize - offset, null, 0);
        _decoder.IP = 0;
        int count = 0;
        while (count < MaxBlockInstructions)
        {
            int start = _reader.Position;
            _decoder.Decode(out var instruction);
            if (instruction.IsInvalid && _decoder.LastError == DecoderError.NoMoreBytes)
            {
                if (count > 0) break; // the straddling instruction starts its own block
                ulong page2 = FetchPage((rip | 0xFFF) + 1); // may #PF: nothing has been done yet
                block.Frame2 = page2 >> MachineMemory.PageShift;
                _memory.MarkHoldsCode(block.Frame2);
                Interlocked.MemoryBarrier();
                block.Generation2 = _memory.WriteGeneration(block.Frame2);
                _reader.Reset(_base + maddr, MachineMemory.PageSize - offset, _base + page2, 15);
                _decoder.IP = 0;
                _decoder.Decode(out instruction);
                _decodeScratch[count++] = DecodedInstruction.From(instruction);
                break;
            }
            var d = DecodedInstruction.From(instruction);
            _decodeScratch[count++] = d;
            if (EndsBlock(d.Op) || _reader.Exhausted) break;
        }
        for (int k = 0; k < count; k++)
        {
            _decodeScratch[k].Index = (byte)k;
            _decodeScratch[k].Last = k == count - 1;
        }
        FuseBlockEnd(_decodeScratch.AsSpan(0, count));
        block.Instructions = _decodeScratch.AsSpan(0, count).ToArray();
        block.Count = count;
        return block;
    }

    private static bool EndsBlock(Op op) => op switch
    {
        Op.Jcc or Op.Jmp or Op.Call or Op.Ret or Op.Loop or Op.Loope or Op.Loopne or Op.Jrcxz or Op.Syscall
            or Op.Int3 or Op.IntN or Op.Int1 or Op.Ud or Op.Unimplemented or Op.Privileged or Op.Hlt or Op.Iretq => true,
        _ => false,
    };

    /// <summary>Feeds Iced from guest memory: the rest of one page, then optionally the head of the next.</summary>
    private sealed class PageCodeReader : CodeReader
    {
        private byte* _first, _second;
        private int _firstLength, _secondLength, _position;

        public int Position => _position;
        public bool Exhausted => _position >= _firstLength;

        public void Reset(byte* first, int firstLength, byte* second, int secondLength)
        {
            _first = first;
            _firstLength = firstLength;
            _second = second;
            _secondLength = secondLength;
            _position = 0;
        }

        public override int ReadByte()
        {
            int p = _position;
            if (p < _firstLength) { _position = p + 1; return _first[p]; }
            if (_second != null && p - _firstLength < _secondLength) { _position = p + 1; return _second[p - _firstLength]; }
            return -1;
        }
    }

    // ---- faults -----------------------------------------------------------------------------------------

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private void RaiseFault(byte vector, uint errorCode = 0, bool hasErrorCode = true, ulong address = 0) =>
        throw _fault.Set(vector, errorCode, hasErrorCode, address);

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private void RaiseGp0() => throw _fault.Set(ExceptionVector.GeneralProtection, 0, true, 0);

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private void RaiseUd() => throw _fault.Set(ExceptionVector.InvalidOpcode, 0, false, 0);

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private void RaiseUnimplemented()
    {
        Span<byte> bytes = stackalloc byte[15];
        int n = 0;
        for (; n < bytes.Length; n++)
        {
            if (PageTableWalker.Translate(_memory, _cr3, _rip + (ulong)n, false, _userBit != 0, true, out var ma) != 0) break;
            bytes[n] = _base[ma];
        }
        _platform.ReportUnimplemented(_rip, bytes[..n]);
        RaiseUd();
    }

    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    /// <summary>The TLBs are native memory and the register file is pinned: release them even if the owner
    /// forgets to dispose.</summary>
    ~EmulatedVcpu() => Release();

    private void Release()
    {
        if (_disposed) return;
        _disposed = true;
        NativeMemory.Free(_tlb);
        NativeMemory.Free(_itlb);
        NativeMemory.Free(_r);
        _tlb = null;
        _itlb = null;
        _r = null;
    }
}
