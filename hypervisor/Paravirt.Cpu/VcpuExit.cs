namespace Paravirt.Cpu;

public enum VcpuExitReason
{
    /// <summary>The guest executed <c>syscall</c>: RCX holds the next RIP, R11 the RFLAGS, RIP is after the
    /// instruction. The hypervisor decides whether it is a hypercall (guest kernel mode) or a guest system call.</summary>
    Syscall,
    /// <summary>A fault or trap: <see cref="VcpuExit.Vector"/>, optional error code, CR2 for #PF. RIP is the
    /// faulting instruction for faults (restartable) and the next instruction for traps.</summary>
    Exception,
    /// <summary><c>int n</c>, <c>int3</c> or <c>into</c>: RIP is after the instruction, for the hypervisor
    /// to deliver (or #GP) according to the guest's trap table.</summary>
    SoftwareInterrupt,
    /// <summary><see cref="IVcpu.Kick"/> was called; state is consistent at an instruction boundary.</summary>
    Kicked,
}

public readonly record struct VcpuExit(
    VcpuExitReason Reason,
    byte Vector = 0,
    uint ErrorCode = 0,
    bool HasErrorCode = false,
    ulong FaultAddress = 0)
{
    public static VcpuExit Kicked => new(VcpuExitReason.Kicked);
    public static VcpuExit Syscall => new(VcpuExitReason.Syscall);

    public override string ToString() => Reason switch
    {
        VcpuExitReason.Exception when Vector == ExceptionVector.PageFault =>
            $"#PF error 0x{ErrorCode:x} at 0x{FaultAddress:x}",
        VcpuExitReason.Exception => HasErrorCode
            ? $"{ExceptionVector.Name(Vector)} error 0x{ErrorCode:x}"
            : ExceptionVector.Name(Vector),
        VcpuExitReason.SoftwareInterrupt => $"int 0x{Vector:x}",
        _ => Reason.ToString(),
    };
}

/// <summary>x86 exception vectors (Intel SDM vol. 3, table 6-1).</summary>
public static class ExceptionVector
{
    public const byte DivideError = 0, Debug = 1, Nmi = 2, Breakpoint = 3, Overflow = 4, BoundRange = 5,
        InvalidOpcode = 6, DeviceNotAvailable = 7, DoubleFault = 8, InvalidTss = 10, SegmentNotPresent = 11,
        StackFault = 12, GeneralProtection = 13, PageFault = 14, FloatingPoint = 16, AlignmentCheck = 17,
        MachineCheck = 18, SimdFloatingPoint = 19;

    public static string Name(byte vector) => vector switch
    {
        DivideError => "#DE", Debug => "#DB", Nmi => "NMI", Breakpoint => "#BP", Overflow => "#OF",
        BoundRange => "#BR", InvalidOpcode => "#UD", DeviceNotAvailable => "#NM", DoubleFault => "#DF",
        InvalidTss => "#TS", SegmentNotPresent => "#NP", StackFault => "#SS", GeneralProtection => "#GP",
        PageFault => "#PF", FloatingPoint => "#MF", AlignmentCheck => "#AC", MachineCheck => "#MC",
        SimdFloatingPoint => "#XM", _ => $"vector {vector}",
    };
}

/// <summary>#PF error-code bits (Intel SDM vol. 3, 4.7).</summary>
[Flags]
public enum PageFaultError : uint
{
    Present = 1, Write = 2, User = 4, ReservedBit = 8, InstructionFetch = 16,
}
