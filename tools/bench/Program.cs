using System.CommandLine;
using Paravirt.Bench;

var root = new RootCommand("Paravirt benchmarks (./bench <name>)");
var cpu = new Command("cpu", "Boot the compute guest (guest-sdk/bench/cpu) on the emulated CPU, count the guest instructions "
    + "and compare its time with the same C code compiled natively and run on this host in the same run.");
cpu.SetAction(_ => CpuBenchmark.Run(Console.Out, Console.Error));
root.Subcommands.Add(cpu);
var evtchnRounds = new Option<int>("--rounds") { Description = "Round trips between the two guests", DefaultValueFactory = _ => EvtchnBenchmark.DefaultRounds };
var evtchn = new Command("evtchn", "Run the pingpong example (two guests bouncing an event) through xl and report the round trip and "
    + "events/s, against a host-only round trip over the same event-channel operations measured in the same run.") { evtchnRounds };
evtchn.SetAction(r => EvtchnBenchmark.Run(Console.Out, Console.Error, r.GetValue(evtchnRounds)));
root.Subcommands.Add(evtchn);
var blkMib = new Option<int>("--mib") { Description = "Size of the RAM-backed image (MiB)", DefaultValueFactory = _ => BlkBenchmark.DefaultMiB };
var blkOps = new Option<int>("--ops") { Description = "Random 4 KiB reads (and writes)", DefaultValueFactory = _ => BlkBenchmark.DefaultOps };
var blk = new Command("blk", "Boot the blk example in bench mode through xl with a /dev/shm image (blkfront/blkback) and report sequential and "
    + "4 KiB random throughput and IOPS next to the same I/O done directly on the file by this process.") { blkMib, blkOps };
blk.SetAction(r => BlkBenchmark.Run(Console.Out, Console.Error, r.GetValue(blkMib), r.GetValue(blkOps)));
root.Subcommands.Add(blk);
var schedSeconds = new Option<double>("--seconds") { Description = "Length of each measured window", DefaultValueFactory = _ => 5 };
var sched = new Command("sched", "The credit scheduler on one pCPU with real guests: two spinners at weights 512:256 against the "
    + "expected 2:1, a spinner capped at 25% against its cap, and the host CPU of a guest blocked in SCHEDOP_block against a "
    + "no-guest baseline measured in the same run.") { schedSeconds };
sched.SetAction(r => SchedBenchmark.Run(Console.Out, Console.Error, r.GetValue(schedSeconds)));
root.Subcommands.Add(sched);
var micro = new Command("micro", "BenchmarkDotNet micro-benchmark of the interpreter's hot loop (a CRC32 loop on one vCPU).");
micro.SetAction(_ =>
{
    using (var probe = new InterpreterLoopBenchmark())
    {
        probe.Setup();
        Console.WriteLine($"micro: one Crc32Loop run executes {probe.InstructionsPerRun:N0} guest instructions");
    }
    // Results under artifacts/, not in the current directory.
    var artifacts = Path.Combine(AppContext.BaseDirectory, "BenchmarkDotNet.Artifacts");
    BenchmarkDotNet.Running.BenchmarkRunner.Run<InterpreterLoopBenchmark>(
        BenchmarkDotNet.Configs.ManualConfig.Create(BenchmarkDotNet.Configs.DefaultConfig.Instance).WithArtifactsPath(artifacts));
    return 0;
});
root.Subcommands.Add(micro);
return root.Parse(args).Invoke();
