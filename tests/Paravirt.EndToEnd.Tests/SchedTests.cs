using NUnit.Framework;

namespace Paravirt.EndToEnd.Tests;

/// <summary>The credit scheduler through the real xl and paravirtd: cpus/cpu_weight/cap at create, sched-credit, vcpu-pin, vcpu-list.</summary>
[NonParallelizable]
public class SchedTests
{
    private Xl _xl = null!;

    [OneTimeSetUp]
    public void Start() => _xl = new Xl();

    [OneTimeTearDown]
    public void Stop() => _xl.Dispose();

    [Test]
    public void ASpinningGuestCreatedWithWeightCapAndCpusIsScheduledAsConfiguredAndRepinnedByXl()
    {
        var cfg = _xl.GuestConfig("sched-spin", Path.Combine(Xl.GuestBuild, "tests", "spin"),
            extra: "maxvcpus = 2\ncpu_weight = 512\ncap = 40\ncpus = \"0\"\n");
        var created = _xl.Run("create", cfg);
        Assert.That(created.ExitCode, Is.Zero, created.ToString());
        Assert.That(created.Stderr, Does.Not.Contain("warning"), "cpus, cpu_weight and cap are enforced");
        string id = _xl.Run("domid", "sched-spin").Stdout.Trim();
        try
        {
            var one = _xl.Run("sched-credit", "-d", "sched-spin");
            Assert.That(one.Stdout, Is.EqualTo($"{"Name",-33} {"ID",4} {"Weight",6} {"Cap",4}\n{"sched-spin",-33} {id,4} {512,6} {40,4}\n"), one.ToString());

            var all = _xl.Run("sched-credit");
            Assert.That(all.Stdout.Split('\n')[0], Is.EqualTo("Cpupool Pool-0: tslice=30ms ratelimit=1000us migration-delay=0us"), all.ToString());
            Assert.That(all.Stdout, Does.Contain($"{"Domain-0",-33} {0,4} {256,6} {0,4}\n"));

            var vcpus = _xl.Run("vcpu-list", "sched-spin").Stdout.Split('\n');
            Assert.That(vcpus[1], Does.Match($@"^sched-spin\s+{id}\s+0\s+0\s+[r-][b-]-\s+\d+\.\d  0 / all$"), string.Join('\n', vcpus));
            Assert.That(vcpus[2], Does.Match($@"^sched-spin\s+{id}\s+1\s+-\s+--p\s+0\.0  0 / all$"), "vcpu 1 is offline (vcpus = 1)");
            Assert.That(_xl.Run("list", "sched-spin").Stdout.Split('\n')[1], Does.Match($@"^sched-spin\s+{id}\s+32\s+1\s"), "VCPUs counts online vCPUs");

            var pin = _xl.Run("vcpu-pin", "sched-spin", "all", "all", "0");
            Assert.That(pin.ExitCode, Is.Zero, pin.ToString());
            Assert.That(_xl.Run("vcpu-list", "sched-spin").Stdout.Split('\n')[1], Does.EndWith("  all / 0"));

            var bad = _xl.Run("sched-credit", "-d", "sched-spin", "-w", "0");
            Assert.That(bad.ExitCode, Is.EqualTo(1), bad.ToString());
            Assert.That(bad.Stderr, Does.Contain("Cpu weight out of range, valid values are within range from 1 to 65535"));
            Assert.That(bad.Stderr, Does.EndWith("libxl_domain_sched_params_set failed.\n"));

            Assert.That(_xl.Run("sched-credit", "-d", "sched-spin", "-w", "128", "-c", "0").ExitCode, Is.Zero);
            Assert.That(_xl.Run("sched-credit", "-d", id).Stdout, Does.EndWith($"{"sched-spin",-33} {id,4} {128,6} {0,4}\n"));
        }
        finally
        {
            _xl.Run("destroy", "sched-spin");
        }
    }
}
