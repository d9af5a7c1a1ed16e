using System.Diagnostics;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor;

/// <summary>
/// One guest vCPU: the platform CPU plus the PV state Xen keeps per vCPU (guest kernel/user mode, kernel
/// stack), and the host thread that runs it. Exits are turned into hypercalls, or crash the domain with a reason.
/// </summary>
public sealed partial class Vcpu
{
    private readonly Domain _domain;
    private Thread? _thread;
    private bool _blocked;
    private long _runTicks;
    private volatile bool _inRun;

    internal Vcpu(Domain domain, int id, IVcpu cpu)
    {
        _domain = domain;
        Id = id;
        Cpu = cpu;
        InitTrapState();
        InitSmpState();
        InitSchedState();
    }

    public Domain Domain => _domain;
    public int Id { get; }
    public IVcpu Cpu { get; }
    public VcpuRegisters Registers => Cpu.Registers;

    /// <summary>64-bit PV guests run kernel and user at CPL3; Xen tracks which one is current (TF_kernel_mode).</summary>
    public bool InKernelMode { get; internal set; } = true;
    /// <summary>The guest kernel stack (stack_switch / kernel_sp).</summary>
    public ulong KernelStackPointer { get; internal set; }

    public bool IsRunning => _inRun;
    public bool IsBlocked { get { lock (_domain.StateLock) return _blocked; } }
    public TimeSpan CpuTime => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _runTicks));

    internal void Start()
    {
        _thread = new Thread(RunLoop) { IsBackground = true, Name = $"d{_domain.Id}v{Id}" };
        _thread.Start();
    }

    internal void Join() => _thread?.Join();

    internal bool IsStarted => _thread != null;
    internal Thread? Thread => _thread;

    /// <summary>
    /// An event became pending for this vCPU: wake it from SCHEDOP_block, or make a running vCPU leave
    /// <see cref="IVcpu.Run"/> so that the run loop delivers the upcall. The kick is sticky, so one raised just
    /// before the vCPU enters Run is not lost.
    /// </summary>
    internal void Wake()
    {
        lock (_domain.StateLock)
        {
            if (_blocked)
            {
                _blocked = false;
                Monitor.PulseAll(_domain.StateLock);
                return;
            }
        }
        if (EventCallback != 0) Cpu.Kick();
    }

    /// <summary>SCHEDOP_block: sleep until an event is pending for delivery (checked under the lock by the caller's predicate).</summary>
    internal void Block(Func<bool> eventsPending)
    {
        lock (_domain.StateLock)
        {
            if (eventsPending()) return;
            _blocked = true;
        }
    }

    private void RunLoop()
    {
        var hv = _domain.Hypervisor;
        try
        {
            // Publish time before the first instruction (Xen: update_vcpu_system_time at schedule-in). System time
            // and the TSC come from one clock, so the values stay exact without periodic refreshes.
            Time.VcpuTime.Update(this);
            if (Id == 0) Time.VcpuTime.UpdateWallClock(_domain);
            while (true)
            {
                lock (_domain.StateLock)
                {
                    if (!_domain.IsDying && (!_domain.IsRunnable || _blocked || _down))
                    {
                        // A vCPU that cannot run holds no pCPU (Vcpu.Sched.cs) and waits without using the host CPU.
                        ReleasePcpu();
                        while (!_domain.IsDying && (!_domain.IsRunnable || _blocked || _down))
                        {
                            SetRunstate(WaitingRunstate);
                            Monitor.Wait(_domain.StateLock);
                        }
                    }
                    if (_domain.IsDying)
                    {
                        LeaveScheduler();
                        return;
                    }
                }
                // Guest code runs only on a pCPU the credit scheduler gave this vCPU.
                if (!AcquirePcpu()) continue;
                // test_all_events: an unmasked pending event enters the guest's event callback first.
                if (!DeliverPendingEvents()) continue;
                EnterRunning();
                long start = Stopwatch.GetTimestamp();
                _inRun = true;
                VcpuExit exit;
                try { exit = Cpu.Run(); }
                finally
                {
                    _inRun = false;
                    Interlocked.Add(ref _runTicks, Stopwatch.GetTimestamp() - start);
                    SetRunstate(Runstate.Runnable);
                }
                switch (exit.Reason)
                {
                    case VcpuExitReason.Kicked:
                        break;
                    case VcpuExitReason.Syscall when InKernelMode:
                        hv.Hypercalls.Dispatch(this);
                        break;
                    default:
                        HandleGuestExit(exit);
                        break;
                }
                // Preemption is checked here, at exits, never per instruction.
                SchedulingPoint();
            }
        }
        catch (Exception e)
        {
            // A bug in the hypervisor must not take the host process down: crash only this domain, loudly.
            hv.CrashDomain(_domain, $"d{_domain.Id}v{Id} internal hypervisor error: {e.GetType().Name}: {e.Message}");
            hv.Console.Log(e.ToString());
            LeaveScheduler();
        }
    }

    internal string RegisterDump()
    {
        var r = Registers;
        return $"RIP: {r.Cs:x4}:[<{r.Rip:x16}>] RFLAGS: {r.Rflags:x16} {(InKernelMode ? "guest kernel" : "guest user")}\n" +
               $"rax: {r.Rax:x16}   rbx: {r.Rbx:x16}   rcx: {r.Rcx:x16}\n" +
               $"rdx: {r.Rdx:x16}   rsi: {r.Rsi:x16}   rdi: {r.Rdi:x16}\n" +
               $"rbp: {r.Rbp:x16}   rsp: {r.Rsp:x16}   r8:  {r.R8:x16}\n" +
               $"r9:  {r.R9:x16}   r10: {r.R10:x16}   r11: {r.R11:x16}\n" +
               $"r12: {r.R12:x16}   r13: {r.R13:x16}   r14: {r.R14:x16}\n" +
               $"r15: {r.R15:x16}   cr2: {r.Cr2:x16}   cr3: {r.Cr3:x16}";
    }
}
