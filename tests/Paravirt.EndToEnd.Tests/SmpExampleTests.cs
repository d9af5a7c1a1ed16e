using System.Globalization;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace Paravirt.EndToEnd.Tests;

/// <summary>
/// The smp example (guest-sdk/examples/smp) booted from xl-config/examples/smp.cfg through `xl create -c`: all four
/// vCPUs come up through libpv's SMP API, the workers do the ranges vCPU 0 hands out over IPIs, and the prime count
/// and sum match what the host computes.
/// </summary>
[NonParallelizable]
public class SmpExampleTests
{
    private Xl _xl = null!;

    [OneTimeSetUp]
    public void Start() => _xl = new Xl();

    [OneTimeTearDown]
    public void Stop() => _xl.Dispose();

    /// <summary>Count and sum of the primes below <paramref name="limit"/> (a sieve, independent of the guest's trial division).</summary>
    private static (int Count, long Sum) Primes(int limit)
    {
        var composite = new bool[limit];
        int count = 0;
        long sum = 0;
        for (int n = 2; n < limit; n++)
        {
            if (composite[n]) continue;
            count++;
            sum += n;
            for (long m = (long)n * n; m < limit; m += n) composite[m] = true;
        }
        return (count, sum);
    }

    [Test]
    public void TheSmpExampleBringsUpFourVcpusAndCountsPrimesOverIpis()
    {
        var r = _xl.Run(TimeSpan.FromSeconds(180), "create", "-c", Path.Combine(Xl.RepoRoot, "xl-config", "examples", "smp.cfg"), "name=smp-example");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout, Does.Contain("smp: 4 vcpus up\n"), r.Stdout);

        var result = Regex.Match(r.Stdout, @"smp: primes below (\d+): (\d+), sum (\d+)\n");
        Assert.That(result.Success, Is.True, r.Stdout);
        int limit = int.Parse(result.Groups[1].Value, CultureInfo.InvariantCulture);
        var (count, sum) = Primes(limit);
        Assert.That(int.Parse(result.Groups[2].Value, CultureInfo.InvariantCulture), Is.EqualTo(count), r.Stdout);
        Assert.That(long.Parse(result.Groups[3].Value, CultureInfo.InvariantCulture), Is.EqualTo(sum), r.Stdout);

        // Every worker did ranges, all of them together did every range (2500 numbers each), and each woke on IPIs:
        // at least one per range plus the stop (IPIs that arrive while one is pending coalesce, so not exactly).
        var workers = Regex.Matches(r.Stdout, @"smp: vcpu (\d+): (\d+) chunks, (\d+) ipis handled\n");
        Assert.That(workers.Select(m => m.Groups[1].Value), Is.EqualTo(new[] { "1", "2", "3" }), r.Stdout);
        int chunks = 0;
        foreach (Match w in workers)
        {
            int c = int.Parse(w.Groups[2].Value, CultureInfo.InvariantCulture);
            int ipis = int.Parse(w.Groups[3].Value, CultureInfo.InvariantCulture);
            Assert.That(c, Is.GreaterThan(0), r.Stdout);
            Assert.That(ipis, Is.GreaterThan(0).And.LessThanOrEqualTo(c + 1), r.Stdout);
            chunks += c;
        }
        Assert.That(chunks, Is.EqualTo((limit + 2499) / 2500), r.Stdout);
        Assert.That(r.Stdout, Does.Not.Contain("panic"), r.Stdout);
    }
}
