using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Paravirt.Cpu.Tests.Differential;

/// <summary>
/// Hardware back-end through KVM (ioctls on /dev/kvm): a one-vCPU VM in long mode whose page tables map the code
/// and sandbox at the harness's fixed linear addresses (code read-only, sandbox writable and no-execute, a guard
/// page after it) and run the snippet at CPL 3. Every exception vector enters a ring-0 stub that pushes the
/// vector and halts; the frame on the ring-0 stack gives RIP, RSP, RFLAGS and the error code, KVM_GET_REGS the
/// GPRs, KVM_GET_SREGS CR2 and KVM_GET_FPU the x87/SSE state. The snippet ends with int3 (a DPL 3 gate).
/// Unavailable (with the reason) where /dev/kvm is absent.
/// </summary>
internal sealed unsafe class KvmRunner : ISnippetRunner
{
    // ioctl numbers (linux/kvm.h, x86-64).
    private const ulong KVM_GET_API_VERSION = 0xAE00, KVM_CREATE_VM = 0xAE01, KVM_GET_VCPU_MMAP_SIZE = 0xAE04,
        KVM_CREATE_VCPU = 0xAE41, KVM_SET_USER_MEMORY_REGION = 0x4020AE46, KVM_RUN = 0xAE80,
        KVM_GET_REGS = 0x8090AE81, KVM_SET_REGS = 0x4090AE82, KVM_GET_SREGS = 0x8138AE83, KVM_SET_SREGS = 0x4138AE84,
        KVM_GET_FPU = 0x81A0AE8C, KVM_SET_FPU = 0x41A0AE8D;
    private const uint KVM_EXIT_HLT = 5;

    // Guest-physical layout (identity-mapped below 2 MiB for the ring-0 structures).
    private const ulong MemorySize = 4 << 20;
    private const ulong Pml4 = 0x1000, Pdpt = 0x2000, Pd = 0x3000, Pt = 0x4000;
    private const ulong Gdt = 0x10000, Idt = 0x11000, Tss = 0x12000, Stubs = 0x13000, Ring0StackTop = 0x1F000;
    private const ulong CodeGpa = 0x10_0000, SandboxGpa = 0x20_0000;
    private const int CodePages = 4;
    private const ushort KernelCs = 0x08, UserDs = 0x1B, UserCs = 0x23, TssSel = 0x28;

    private readonly int _kvm, _vm, _vcpu;
    private readonly byte* _mem;
    private readonly byte* _run;
    private readonly nuint _runSize;

    private KvmRunner(int kvm)
    {
        _kvm = kvm;
        _vm = Check(Ioctl(_kvm, KVM_CREATE_VM, 0), "KVM_CREATE_VM");
        _mem = (byte*)Mmap(null, (nuint)MemorySize, 3, 0x22, -1, 0); // PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
        if (_mem == (byte*)-1) throw new InvalidOperationException("mmap of guest memory failed");
        var region = stackalloc ulong[4];
        region[0] = 0; // slot 0, flags 0
        region[1] = 0; // guest_phys_addr
        region[2] = MemorySize;
        region[3] = (ulong)_mem;
        Check(Ioctl(_vm, KVM_SET_USER_MEMORY_REGION, region), "KVM_SET_USER_MEMORY_REGION");
        _vcpu = Check(Ioctl(_vm, KVM_CREATE_VCPU, 0), "KVM_CREATE_VCPU");
        _runSize = (nuint)Check(Ioctl(_kvm, KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE");
        _run = (byte*)Mmap(null, _runSize, 3, 0x01, _vcpu, 0); // MAP_SHARED
        if (_run == (byte*)-1) throw new InvalidOperationException("mmap of kvm_run failed");
        BuildSystemStructures();
    }

    public string Name => "kvm";

    public static KvmRunner? TryCreate(out string reason)
    {
        reason = "";
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            reason = "KVM needs Linux on x86-64";
            return null;
        }
        if (!File.Exists("/dev/kvm"))
        {
            reason = "/dev/kvm is absent on this machine";
            return null;
        }
        int fd = Open("/dev/kvm", 2 | 0x80000); // O_RDWR | O_CLOEXEC
        if (fd < 0)
        {
            reason = $"cannot open /dev/kvm (errno {Marshal.GetLastPInvokeError()})";
            return null;
        }
        if (Ioctl(fd, KVM_GET_API_VERSION, 0) != 12)
        {
            Close(fd);
            reason = "unexpected KVM API version";
            return null;
        }
        return new KvmRunner(fd);
    }

    private void W64(ulong gpa, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(new Span<byte>(_mem + gpa, 8), v);
    private ulong R64(ulong gpa) => BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_mem + gpa, 8));

    private void BuildSystemStructures()
    {
        const ulong P = 1, RW = 2, US = 4, PS = 0x80, NX = 1UL << 63;
        W64(Pml4, Pdpt | P | RW | US);
        W64(Pdpt, Pd | P | RW | US);
        W64(Pd, 0 | P | RW | PS);                                         // 0..2 MiB: ring-0 structures
        ulong va = MachineState.CodeVa;
        W64(Pd + ((va >> 21) & 0x1FF) * 8, Pt | P | RW | US);
        for (int i = 0; i < CodePages; i++) W64(Pt + (((va >> 12) & 0x1FF) + (ulong)i) * 8, (CodeGpa + (ulong)i * 4096) | P | US);
        ulong sva = MachineState.SandboxVa;
        for (int i = 0; i < MachineState.SandboxSize / 4096; i++)
            W64(Pt + (((sva >> 12) & 0x1FF) + (ulong)i) * 8, (SandboxGpa + (ulong)i * 4096) | P | RW | US | NX);

        W64(Gdt + 0x08, 0x00209A0000000000);  // ring-0 code, long mode
        W64(Gdt + 0x10, 0x0000920000000000);  // ring-0 data
        W64(Gdt + 0x18, 0x0000F20000000000);  // ring-3 data
        W64(Gdt + 0x20, 0x0020FA0000000000);  // ring-3 code, long mode
        W64(Gdt + 0x28, 0x67 | ((Tss & 0xFFFFFF) << 16) | (0x89UL << 40) | ((Tss >> 24) & 0xFF) << 56);
        W64(Gdt + 0x30, Tss >> 32);
        W64(Tss + 4, Ring0StackTop);          // RSP0

        for (int v = 0; v < 32; v++)
        {
            ulong stub = Stubs + (ulong)v * 8;
            byte* s = _mem + stub;
            bool hasError = v is 8 or 10 or 11 or 12 or 13 or 14 or 17 or 21;
            int n = 0;
            if (!hasError) { s[n++] = 0x6A; s[n++] = 0; }       // push 0 (no error code)
            s[n++] = 0x6A; s[n++] = (byte)v;                     // push vector
            s[n++] = 0xF4;                                        // hlt
            ulong gate = Idt + (ulong)v * 16;
            byte attr = (byte)(v == 3 ? 0xEE : 0x8E);           // int3 reachable from CPL 3
            W64(gate, (stub & 0xFFFF) | ((ulong)KernelCs << 16) | ((ulong)attr << 40) | ((stub >> 16) & 0xFFFF) << 48);
            W64(gate + 8, stub >> 32);
        }
    }

    private static void Segment(byte* s, ulong b, uint limit, ushort sel, byte type, byte dpl, bool code64, bool system = false)
    {
        *(ulong*)s = b;
        *(uint*)(s + 8) = limit;
        *(ushort*)(s + 12) = sel;
        s[14] = type; s[15] = 1; s[16] = dpl; s[17] = 0; s[18] = (byte)(system ? 0 : 1); s[19] = (byte)(code64 ? 1 : 0);
        s[20] = (byte)(system ? 0 : 1); s[21] = 0; s[22] = 0; s[23] = 0; // g: page granularity except for the TSS
    }

    public void Run(MachineState state, ReadOnlySpan<byte> code)
    {
        if (code.Length + 1 > CodePages * 4096) throw new ArgumentException("snippet too long", nameof(code));
        var codeSpan = new Span<byte>(_mem + CodeGpa, CodePages * 4096);
        codeSpan.Fill(0xCC);
        code.CopyTo(codeSpan);
        state.Sandbox.CopyTo(new Span<byte>(_mem + SandboxGpa, MachineState.SandboxSize));

        var sregs = stackalloc byte[312];
        Check(Ioctl(_vcpu, KVM_GET_SREGS, sregs), "KVM_GET_SREGS");
        Segment(sregs + 0 * 24, 0, 0xFFFFFFFF, UserCs, 0xB, 3, true);       // cs
        for (int i = 1; i <= 5; i++) Segment(sregs + i * 24, 0, 0xFFFFFFFF, UserDs, 0x3, 3, false); // ds es fs gs ss
        Segment(sregs + 6 * 24, Tss, 0x67, TssSel, 0xB, 0, false, system: true); // tr (busy 64-bit TSS)
        *(ulong*)(sregs + 192) = Gdt; *(ushort*)(sregs + 200) = 0x37;       // gdt
        *(ulong*)(sregs + 208) = Idt; *(ushort*)(sregs + 216) = 32 * 16 - 1; // idt
        *(ulong*)(sregs + 224) = 0x80050033;  // cr0: PG WP NE ET MP PE
        *(ulong*)(sregs + 232) = 0;           // cr2
        *(ulong*)(sregs + 240) = Pml4;        // cr3
        *(ulong*)(sregs + 248) = 0x620;       // cr4: PAE OSFXSR OSXMMEXCPT
        *(ulong*)(sregs + 264) = 0xD00;       // efer: LME LMA NXE
        Check(Ioctl(_vcpu, KVM_SET_SREGS, sregs), "KVM_SET_SREGS");

        var regs = stackalloc ulong[18];
        int[] order = [0, 3, 1, 2, 6, 7, 4, 5]; // kvm_regs: rax rbx rcx rdx rsi rdi rsp rbp, then r8..r15
        for (int i = 0; i < 8; i++) regs[i] = state.Gpr[order[i]];
        for (int i = 8; i < 16; i++) regs[i] = state.Gpr[i];
        regs[16] = MachineState.CodeVa;
        regs[17] = (state.Rflags & 0xCD5) | 0x2;
        Check(Ioctl(_vcpu, KVM_SET_REGS, regs), "KVM_SET_REGS");

        var fpu = stackalloc byte[416];
        new Span<byte>(fpu, 416).Clear();
        for (int i = 0; i < 8; i++) state.Fx.AsSpan(32 + 16 * i, 10).CopyTo(new Span<byte>(fpu + 16 * i, 10));
        *(ushort*)(fpu + 128) = state.Fcw;
        *(ushort*)(fpu + 130) = state.Fsw;
        fpu[132] = state.Ftw;
        state.Fx.AsSpan(160, 256).CopyTo(new Span<byte>(fpu + 152, 256));
        *(uint*)(fpu + 408) = state.Mxcsr;
        Check(Ioctl(_vcpu, KVM_SET_FPU, fpu), "KVM_SET_FPU");

        Check(Ioctl(_vcpu, KVM_RUN, 0), "KVM_RUN");
        uint reason = *(uint*)(_run + 8);
        if (reason != KVM_EXIT_HLT) throw new InvalidOperationException($"KVM exit {reason} (expected HLT from an exception stub)");

        Check(Ioctl(_vcpu, KVM_GET_REGS, regs), "KVM_GET_REGS");
        for (int i = 0; i < 8; i++) state.Gpr[order[i]] = regs[i];
        for (int i = 8; i < 16; i++) state.Gpr[i] = regs[i];
        // Ring-0 frame: vector, error code, RIP, CS, RFLAGS, RSP, SS.
        ulong frame = Ring0StackTop - 7 * 8;
        long vector = (long)R64(frame);
        ulong error = R64(frame + 8), rip = R64(frame + 16), rflags = R64(frame + 32), rsp = R64(frame + 40);
        state.Gpr[4] = rsp;
        state.Rflags = rflags;
        ulong end = MachineState.CodeVa + (ulong)code.Length;
        if (vector == 3 && rip == end + 1)
        {
            state.Vector = -1; state.Rip = end; state.ErrorCode = 0; state.Cr2 = 0;
        }
        else
        {
            Check(Ioctl(_vcpu, KVM_GET_SREGS, sregs), "KVM_GET_SREGS");
            state.Vector = vector; state.Rip = rip; state.ErrorCode = error;
            state.Cr2 = vector == 14 ? *(ulong*)(sregs + 232) : 0;
        }
        Check(Ioctl(_vcpu, KVM_GET_FPU, fpu), "KVM_GET_FPU");
        for (int i = 0; i < 8; i++) new Span<byte>(fpu + 16 * i, 10).CopyTo(state.Fx.AsSpan(32 + 16 * i, 10));
        state.Fcw = *(ushort*)(fpu + 128);
        state.Fsw = *(ushort*)(fpu + 130);
        state.Ftw = fpu[132];
        new Span<byte>(fpu + 152, 256).CopyTo(state.Fx.AsSpan(160, 256));
        state.Mxcsr = *(uint*)(fpu + 408);
        new ReadOnlySpan<byte>(_mem + SandboxGpa, MachineState.SandboxSize).CopyTo(state.Sandbox);
    }

    public void Dispose()
    {
        Munmap(_run, _runSize);
        Munmap(_mem, (nuint)MemorySize);
        Close(_vcpu);
        Close(_vm);
        Close(_kvm);
    }

    private static int Check(int rc, string what) =>
        rc >= 0 ? rc : throw new InvalidOperationException($"{what} failed (errno {Marshal.GetLastPInvokeError()})");

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPStr)] string path, int flags);
    [DllImport("libc", EntryPoint = "close")]
    private static extern int Close(int fd);
    [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static extern int Ioctl(int fd, ulong request, void* arg);
    [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static extern int Ioctl(int fd, ulong request, ulong arg);
    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static extern void* Mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);
    [DllImport("libc", EntryPoint = "munmap")]
    private static extern int Munmap(void* addr, nuint length);
}
