namespace Paravirt.Cpu.Emulated;

/// <summary>
/// A guest-visible fault raised while executing an instruction. Internal control flow only: <see cref="EmulatedVcpu.Run"/>
/// catches it and returns an exception exit; it never leaves the platform. One instance per vCPU is reused.
/// </summary>
internal sealed class GuestFault : Exception
{
    public byte Vector { get; private set; }
    public uint ErrorCode { get; private set; }
    public bool HasErrorCode { get; private set; }
    public ulong Address { get; private set; }

    public GuestFault() : base("guest fault") { }

    public GuestFault Set(byte vector, uint errorCode, bool hasErrorCode, ulong address)
    {
        Vector = vector;
        ErrorCode = errorCode;
        HasErrorCode = hasErrorCode;
        Address = address;
        return this;
    }

    public VcpuExit ToExit() => new(VcpuExitReason.Exception, Vector, ErrorCode, HasErrorCode, Address);
}
