using System.Runtime.CompilerServices;
using Paravirt.Hypervisor.Events;

namespace Paravirt.Hypervisor.Time;

/// <summary>
/// A vCPU's timers (Xen's singleshot_timer, periodic_timer and poll_timer): each fires on a thread-pool timer, so a
/// vCPU waiting for one costs no host CPU. Singleshot and periodic timers raise VIRQ_TIMER on the vCPU; the poll
/// timer ends a SCHEDOP_poll.
/// </summary>
public sealed class VcpuTimers
{
    private static readonly ConditionalWeakTable<Vcpu, VcpuTimers> All = new();

    /// <summary>Shortest periodic timer Xen accepts (VCPUOP_set_periodic_timer: 1 ms).</summary>
    public const long MinPeriodNs = 1_000_000;

    private readonly Vcpu _vcpu;
    private readonly object _lock = new();
    private Timer? _singleshot, _periodic, _poll;

    private VcpuTimers(Vcpu v) => _vcpu = v;

    public static VcpuTimers Of(Vcpu v) => All.GetValue(v, x => new VcpuTimers(x));

    public long? SingleshotDeadline { get; private set; }
    public long PeriodNs { get; private set; }
    /// <summary>How many times VIRQ_TIMER was raised by these timers.</summary>
    public long Fired => Interlocked.Read(ref _fired);
    private long _fired;
    private long _periodicGeneration;

    private bool Dead => _vcpu.Domain.IsDying;

    /// <summary>Arm the singleshot timer for absolute system time <paramref name="deadlineNs"/>; a past deadline fires at once.</summary>
    public void SetSingleshot(long deadlineNs)
    {
        var clock = SystemClock.Of(_vcpu.Domain.Hypervisor);
        lock (_lock)
        {
            // One timer per vCPU, re-armed in place: guests re-arm on every tick, so this path allocates nothing.
            _singleshot ??= new Timer(_ => FireSingleshot(), null, Timeout.Infinite, Timeout.Infinite);
            SingleshotDeadline = deadlineNs;
            _singleshot.Change(clock.MillisecondsUntil(deadlineNs), Timeout.Infinite);
        }
    }

    public void StopSingleshot()
    {
        lock (_lock)
        {
            _singleshot?.Change(Timeout.Infinite, Timeout.Infinite);
            SingleshotDeadline = null;
        }
    }

    /// <summary>Raise VIRQ_TIMER every <paramref name="periodNs"/>; 0 stops the periodic timer.</summary>
    public void SetPeriodic(long periodNs)
    {
        lock (_lock)
        {
            _periodic?.Dispose();
            _periodic = null;
            PeriodNs = periodNs;
            // A callback of the old timer may already be running: the generation tells it it is stale.
            long generation = ++_periodicGeneration;
            if (periodNs == 0) return;
            long ms = Math.Max(1, periodNs / 1_000_000);
            _periodic = new Timer(_ => FirePeriodic(generation), null, ms, ms);
        }
    }

    /// <summary>Wake the vCPU from SCHEDOP_poll at <paramref name="deadlineNs"/>.</summary>
    public void SetPollTimeout(long deadlineNs)
    {
        var clock = SystemClock.Of(_vcpu.Domain.Hypervisor);
        lock (_lock)
        {
            _poll?.Dispose();
            _poll = new Timer(_ => _vcpu.Wake(), null, clock.MillisecondsUntil(deadlineNs), Timeout.Infinite);
        }
    }

    public void StopPoll()
    {
        lock (_lock)
        {
            _poll?.Dispose();
            _poll = null;
        }
    }

    private void FireSingleshot()
    {
        lock (_lock)
        {
            if (SingleshotDeadline is not long deadline) return; // stopped meanwhile
            // A callback from an earlier arming can arrive after a re-arm to a later deadline: wait for the new one.
            long wait = SystemClock.Of(_vcpu.Domain.Hypervisor).MillisecondsUntil(deadline);
            if (wait > 0)
            {
                _singleshot!.Change(wait, Timeout.Infinite);
                return;
            }
            SingleshotDeadline = null;
            if (Dead) { _singleshot?.Dispose(); _singleshot = null; return; }
            // Raised under the lock, so once set_timer_op(0) or stop_singleshot_timer returns no tick of the old
            // deadline can still arrive (in Xen the handler runs on the vCPU's own pCPU, never beside its hypercall).
            Raise();
        }
    }

    private void FirePeriodic(long generation)
    {
        if (Dead)
        {
            SetPeriodic(0);
            return;
        }
        lock (_lock)
        {
            if (generation != _periodicGeneration) return; // stopped or re-armed meanwhile
            Raise();
        }
    }

    private void Raise()
    {
        var d = _vcpu.Domain;
        if (d.IsDying || d.IsShutdown) return;
        Interlocked.Increment(ref _fired);
        VcpuTime.Update(_vcpu);
        EventChannelTable.SendVcpuVirq(d, _vcpu.Id, Virq.Timer);
    }
}
