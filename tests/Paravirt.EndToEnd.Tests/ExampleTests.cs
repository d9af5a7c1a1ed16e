using System.Globalization;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace Paravirt.EndToEnd.Tests;

/// <summary>
/// The guest SDK's examples (guest-sdk/examples), each booted from its shipped config in xl-config/examples
/// through `xl create -c`, exactly as the config's comment tells a user to.
/// </summary>
[NonParallelizable]
public class ExampleTests
{
    private Xl _xl = null!;

    [OneTimeSetUp]
    public void Start() => _xl = new Xl();

    [OneTimeTearDown]
    public void Stop() => _xl.Dispose();

    private static string Example(string name) => Path.Combine(Xl.RepoRoot, "xl-config", "examples", name + ".cfg");

    [Test]
    public void TheXenstoreExampleListsItsOwnSubtreeAndPowersOff()
    {
        var r = _xl.Run("create", "-c", Example("xenstore"), "name=xs-example");
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        var summary = Regex.Match(r.Stdout, @"xenstore: (\d+) nodes under /local/domain/(\d+)\n");
        Assert.That(summary.Success, Is.True, r.ToString());
        string dom = "/local/domain/" + summary.Groups[2].Value;

        // The nodes the toolstack writes for every domain (docs/misc/xenstore-paths), with their values.
        Assert.That(r.Stdout, Does.Contain($"{dom}/name = \"xs-example\"\n"), r.Stdout);
        Assert.That(r.Stdout, Does.Contain($"{dom}/domid = \"{summary.Groups[2].Value}\"\n"), r.Stdout);
        Assert.That(r.Stdout, Does.Contain($"{dom}/memory/target = \"32768\"\n"), r.Stdout);
        Assert.That(r.Stdout, Does.Match($@"{Regex.Escape(dom)}/console/port = ""\d+""\n"), r.Stdout);
        Assert.That(r.Stdout, Does.Contain($"{dom}/control/shutdown = \"\"\n"), r.Stdout);

        // Every printed node is inside the guest's own subtree, and the count matches the lines.
        var nodeLines = r.Stdout.Split('\n').Where(l => l.StartsWith("/", StringComparison.Ordinal)).ToArray();
        Assert.That(nodeLines, Has.All.StartWith(dom), r.Stdout);
        Assert.That(nodeLines, Has.Length.EqualTo(int.Parse(summary.Groups[1].Value, CultureInfo.InvariantCulture)), r.Stdout);
        Assert.That(r.Stdout, Does.Not.Match(": (read|directory) error"), r.Stdout);
    }

    [Test]
    public void TheTimerExampleTicksPeriodicallyAndReportsItsDrift()
    {
        var r = _xl.Run(TimeSpan.FromSeconds(180), "create", "-c", Example("timer"), "name=timer-example");
        if (r.Stdout.Contains("shared_info is not mapped", StringComparison.Ordinal))
            Assert.Ignore("the hypervisor does not implement update_va_mapping yet (PV MMU), so the guest cannot map " +
                          "shared_info for its clock: " + r.Stdout.Trim());
        Assert.That(r.ExitCode, Is.Zero, r.ToString());

        var ticks = Regex.Matches(r.Stdout, @"tick (\d+) at (\d+) ns \(\+(\d+)\)\n");
        Assert.That(ticks, Has.Count.EqualTo(20), r.Stdout);
        long previous = 0;
        for (int i = 0; i < ticks.Count; i++)
        {
            Assert.That(ticks[i].Groups[1].Value, Is.EqualTo((i + 1).ToString(CultureInfo.InvariantCulture)));
            long at = long.Parse(ticks[i].Groups[2].Value, CultureInfo.InvariantCulture);
            Assert.That(at, Is.GreaterThan(previous), "system time moves forward from tick to tick");
            if (i > 0)
                Assert.That(long.Parse(ticks[i].Groups[3].Value, CultureInfo.InvariantCulture), Is.EqualTo(at - previous));
            previous = at;
        }

        var summary = Regex.Match(r.Stdout,
            @"timer: 20 ticks, period 10000000 ns, measured (\d+) ns, drift ([+-])(\d+) ns \(([+-])(\d+) ppm\)\n");
        Assert.That(summary.Success, Is.True, r.Stdout);
        // The guest's own arithmetic: drift = measured - 20 periods.
        long measured = long.Parse(summary.Groups[1].Value, CultureInfo.InvariantCulture);
        long drift = long.Parse(summary.Groups[3].Value, CultureInfo.InvariantCulture) * (summary.Groups[2].Value == "-" ? -1 : 1);
        Assert.That(drift, Is.EqualTo(measured - 20 * 10_000_000L));
        Assert.That(measured, Is.EqualTo(previous - FirstTickTime(ticks)), "measured spans tick 0 to tick 20");
        // Then the same timer, delivered asynchronously through the event callback while the vCPU blocks.
        Assert.That(r.Stdout, Does.Contain("timer: 10 ticks through the upcall handler\n"), r.Stdout);
        // And a single-shot deadline: the guest itself checks it did not wake early.
        Assert.That(r.Stdout, Does.Match(@"timer: slept \d+ ns for a 50000000 ns single-shot deadline\n"), r.Stdout);
        TestContext.Out.WriteLine(r.Stdout.Trim());
    }

    [Test]
    public void TheSharedpageExampleSharesAPageBetweenTwoDomains()
    {
        // The granter first, console attached in the background; it waits for a grantee.
        using var granter = _xl.Start("create", "-c", Example("sharedpage"), "name=sharedpage-granter");
        Assert.That(Xl.WaitUntil(() => granter.Output.Contains("waiting for a grantee", StringComparison.Ordinal), TimeSpan.FromSeconds(60)),
            Is.True, granter.Output);
        var id = _xl.Run("domid", "sharedpage-granter");
        Assert.That(id.ExitCode, Is.Zero, id.ToString());
        string granterId = id.Stdout.Trim();

        var grantee = _xl.Run(TimeSpan.FromSeconds(120), "create", "-c", Example("sharedpage"), "name=sharedpage-grantee",
            $"extra=\"peer={granterId}\"");
        Assert.That(grantee.ExitCode, Is.Zero, grantee.ToString());
        Assert.That(granter.Process.WaitForExit(60_000), Is.True, "the granter powers off after the exchange: " + granter.Output);
        Assert.That(granter.Process.ExitCode, Is.Zero, granter.Output);

        // The grant names the grantee (learned through xenstore); references below GNTTAB_NR_RESERVED_ENTRIES (8)
        // belong to the toolstack.
        var granted = Regex.Match(granter.Output, @"sharedpage: granted mfn 0x[0-9a-f]+ to domain (\d+) as ref (\d+)\n");
        Assert.That(granted.Success, Is.True, granter.Output);
        Assert.That(granted.Groups[1].Value, Is.Not.EqualTo(granterId), "granted to the other domain");
        Assert.That(int.Parse(granted.Groups[2].Value, CultureInfo.InvariantCulture), Is.GreaterThanOrEqualTo(8));
        string reference = granted.Groups[2].Value;
        Assert.That(grantee.Stdout, Does.Match($@"sharedpage: mapped domain {granterId}'s ref {reference} at 0x[0-9a-f]+ \(handle \d+\)\n"),
            grantee.Stdout);

        // Each side sees the other's writes through the one frame.
        Assert.That(grantee.Stdout, Does.Contain("sharedpage: grantee reads the granter's write: \"written by the granter\"\n"), grantee.Stdout);
        Assert.That(granter.Output, Does.Contain("sharedpage: granter reads the grantee's write: \"written by the grantee\"\n"), granter.Output);
        Assert.That(grantee.Stdout, Does.Contain("sharedpage: grantee reads the granter's answer: \"answered by the granter\"\n"), grantee.Stdout);
        Assert.That(grantee.Stdout, Does.Contain("sharedpage: gnttab_copy wrote \"copied by the hypervisor\"\n"), grantee.Stdout);
        Assert.That(granter.Output, Does.Contain("sharedpage: granter reads the grantee's copy: \"copied by the hypervisor\"\n"), granter.Output);

        // No revoking a live mapping; revoking after the unmap.
        Assert.That(granter.Output, Does.Contain("sharedpage: end_access while the grantee maps the page: busy\n"), granter.Output);
        Assert.That(grantee.Stdout, Does.Contain("sharedpage: grantee unmapped the page\nsharedpage: grantee done\n"), grantee.Stdout);
        Assert.That(granter.Output, Does.Contain($"sharedpage: grantee unmapped; ref {reference} revoked\nsharedpage: granter done\n"),
            granter.Output);
    }

    [Test]
    public void ThePingpongExampleBouncesEventsBetweenTwoDomains()
    {
        // The ping side first, console attached in the background; it waits for a peer.
        using var ping = _xl.Start("create", "-c", Example("pingpong"), "name=ping-example");
        Assert.That(Xl.WaitUntil(() => ping.Output.Contains("waiting for a peer", StringComparison.Ordinal), TimeSpan.FromSeconds(60)),
            Is.True, ping.Output);
        var id = _xl.Run("domid", "ping-example");
        Assert.That(id.ExitCode, Is.Zero, id.ToString());
        string pingId = id.Stdout.Trim();

        var pong = _xl.Run(TimeSpan.FromSeconds(120), "create", "-c", Example("pingpong"), "name=pong-example", $"extra=\"peer={pingId}\"");
        Assert.That(pong.ExitCode, Is.Zero, pong.ToString());
        Assert.That(pong.Stdout, Does.Match($@"pong: bound local port \d+ to domain {pingId} port \d+\n"), pong.Stdout);
        var rtt = Regex.Match(pong.Stdout, @"pong: 100 round trips, average (\d+) ns\n");
        Assert.That(rtt.Success, Is.True, pong.Stdout);

        Assert.That(ping.Process.WaitForExit(60_000), Is.True, "ping powers off after the exchange: " + ping.Output);
        Assert.That(ping.Output, Does.Match(@"ping: port \d+ offered to domain \d+\n"), ping.Output);
        Assert.That(ping.Output, Does.Contain("ping: answered 100 events\n"), ping.Output);
        Assert.That(ping.Process.ExitCode, Is.Zero, ping.Output);
        TestContext.Out.WriteLine(rtt.Value.Trim());
    }

    // Tick 0 is not printed; tick 1 says when it came and how long after tick 0.
    private static long FirstTickTime(MatchCollection ticks) =>
        long.Parse(ticks[0].Groups[2].Value, CultureInfo.InvariantCulture) - long.Parse(ticks[0].Groups[3].Value, CultureInfo.InvariantCulture);
}
