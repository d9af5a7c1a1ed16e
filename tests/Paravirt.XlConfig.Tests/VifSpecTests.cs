using System.Text.RegularExpressions;
using NUnit.Framework;
using Paravirt.XlConfig;

namespace Paravirt.XlConfig.Tests;

/// <summary>xl-network-configuration(5): every example in the document, every key, and the errors.</summary>
public class VifSpecTests
{
    [Test]
    public void TheDocumentsFirstExampleSetsMacModelAndBridge()
    {
        var v = VifSpec.Parse("mac=00:16:3E:74:3d:76,model=rtl8139,bridge=xenbr0");
        Assert.That(v, Is.EqualTo(new VifSpec { Mac = "00:16:3e:74:3d:76", Model = "rtl8139", Bridge = "xenbr0" }));
    }

    [TestCase("mac=00:16:3E:74:34:32", "00:16:3e:74:34:32")]
    [TestCase("mac=00:16:3e:5f:48:e4,bridge=xenbr1", "00:16:3e:5f:48:e4")]
    public void TheDocumentsMacExamplesParse(string spec, string mac) => Assert.That(VifSpec.Parse(spec).Mac, Is.EqualTo(mac));

    [Test]
    public void TheEmptyStringIsAllDefaults() => Assert.That(VifSpec.Parse(""), Is.EqualTo(new VifSpec()));

    [Test]
    public void EmptyItemsAndBlanksAroundItemsAreSkipped() =>
        Assert.That(VifSpec.Parse(" ,bridge=xenbr0 ,, ip=10.0.0.2 ,"), Is.EqualTo(new VifSpec { Bridge = "xenbr0", Ip = "10.0.0.2" }));

    [Test]
    public void EveryKeyIsRead()
    {
        var v = VifSpec.Parse("mac=0:16:3e:1:2:a,bridge=br1,type=vif,vifname=web0,script=vif-route,ip=10.0.0.2 fd00::2/64,"
            + "backend=netdom,model=e1000,rate=10Mb/s,accel=x,devid=3,mtu=9000,gatewaydev=eth0");
        Assert.That(v, Is.EqualTo(new VifSpec
        {
            Mac = "00:16:3e:01:02:0a", Bridge = "br1", Type = "vif", VifName = "web0", Script = "vif-route",
            Ip = "10.0.0.2 fd00::2/64", Backend = "netdom", Model = "e1000", Rate = "10Mb/s",
            RateBytesPerInterval = 62_500, RateIntervalUsecs = 50_000, Accel = "x", Devid = 3, Mtu = 9000, GatewayDev = "eth0",
        }));
    }

    private static (VifSpec Vif, List<string> Warnings) ParseWithWarnings(string spec)
    {
        var warnings = new List<string>();
        return (VifSpec.Parse(spec, warnings), warnings);
    }

    [Test]
    public void TheDocumentsSecondListItemSetsMacAndBridge()
    {
        // vif = [ 'mac=00:16:3E:74:34:32', 'mac=00:16:3e:5f:48:e4,bridge=xenbr1' ]
        var (v, warnings) = ParseWithWarnings("mac=00:16:3e:5f:48:e4,bridge=xenbr1");
        Assert.That(v, Is.EqualTo(new VifSpec { Mac = "00:16:3e:5f:48:e4", Bridge = "xenbr1" }));
        Assert.That(warnings, Is.Empty);
    }

    // The manual's rate examples: "up to 10 megabits every second", "up to 250 kilobytes every second",
    // "20,000 bytes in every 20 millisecond period".
    [TestCase("rate=10Mb/s", 1_250_000UL)]
    [TestCase("rate=250KB/s", 250_000UL)]
    public void TheDocumentsPerSecondRateExamplesGiveThatManyBytesPerSecond(string spec, ulong bytesPerSecond)
    {
        var v = VifSpec.Parse(spec);
        Assert.That(v.RateBytesPerInterval * 1_000_000UL / v.RateIntervalUsecs, Is.EqualTo(bytesPerSecond));
        Assert.That(v.RateIntervalUsecs, Is.EqualTo(50_000U), "the default interval is 50ms");
    }

    [Test]
    public void TheDocumentsCreditExampleIsTwentyThousandBytesEveryTwentyThousandMicroseconds()
    {
        var v = VifSpec.Parse("rate=1MB/s@20ms");
        Assert.That((v.RateBytesPerInterval, v.RateIntervalUsecs), Is.EqualTo((20_000UL, 20_000U)));
    }

    [TestCase("bridge=xenbr1", nameof(VifSpec.Bridge), "xenbr1")]
    [TestCase("gatewaydev=eth0", nameof(VifSpec.GatewayDev), "eth0")]
    [TestCase("type=ioemu", nameof(VifSpec.Type), "ioemu")]
    [TestCase("type=vif", nameof(VifSpec.Type), "vif")]
    [TestCase("model=rtl8139", nameof(VifSpec.Model), "rtl8139")]
    [TestCase("model=e1000", nameof(VifSpec.Model), "e1000")]
    [TestCase("model=virtio-net-pci", nameof(VifSpec.Model), "virtio-net-pci")]
    [TestCase("vifname=web-frontend-0", nameof(VifSpec.VifName), "web-frontend-0")]
    [TestCase("script=vif-route", nameof(VifSpec.Script), "vif-route")]
    [TestCase("script=/etc/xen/scripts/vif-nat", nameof(VifSpec.Script), "/etc/xen/scripts/vif-nat")]
    [TestCase("ip=10.0.0.2", nameof(VifSpec.Ip), "10.0.0.2")]
    [TestCase("ip=10.0.0.2 10.0.0.3", nameof(VifSpec.Ip), "10.0.0.2 10.0.0.3")]
    [TestCase("ip=host.example", nameof(VifSpec.Ip), "host.example")]
    [TestCase("backend=netdom", nameof(VifSpec.Backend), "netdom")]
    [TestCase("backend=3", nameof(VifSpec.Backend), "3")]
    [TestCase("bridge=", nameof(VifSpec.Bridge), "")]
    public void EachDocumentedKeyTakesItsValueAsXlDoes(string spec, string property, string expected)
    {
        var (v, warnings) = ParseWithWarnings(spec);
        Assert.That(typeof(VifSpec).GetProperty(property)!.GetValue(v), Is.EqualTo(expected));
        Assert.That(warnings, Is.Empty);
    }

    [Test]
    public void DevidAndMtuAreTheDocumentsNumbers()
    {
        var v = VifSpec.Parse("devid=3,mtu=9000");
        Assert.That((v.Devid, v.Mtu), Is.EqualTo(((int?)3, (int?)9000)));
    }

    [Test]
    public void NetdevIsTheDeprecatedNameOfGatewaydevWithXlsWarning()
    {
        var (v, warnings) = ParseWithWarnings("netdev=eth1");
        Assert.That(v.GatewayDev, Is.EqualTo("eth1"));
        Assert.That(warnings, Is.EqualTo(new[] { "the netdev parameter is deprecated, please use gatewaydev instead" }));
    }

    [Test]
    public void AKeyGivenTwiceKeepsTheLastValueAsXlDoes()
    {
        Assert.That(VifSpec.Parse("bridge=xenbr0,bridge=xenbr1").Bridge, Is.EqualTo("xenbr1"));
        Assert.That(VifSpec.Parse("netdev=eth1,gatewaydev=eth2").GatewayDev, Is.EqualTo("eth2"));
    }

    // xl create prints these and goes on with the rest of the spec (parse_nic_config's return value is ignored).
    [TestCase("trusted,bridge=br1", "unrecognized argument `trusted'")]
    [TestCase("vlan=5,bridge=br1", "unrecognized argument `vlan=5'")]
    [TestCase("Mac=00:16:3e:00:00:01,bridge=br1", "unrecognized argument `Mac=00:16:3e:00:00:01'")]
    [TestCase("bridge =xenbr0,bridge=br1", "unrecognized argument `bridge =xenbr0'")]
    [TestCase("=xenbr0,bridge=br1", "unrecognized argument `=xenbr0'")]
    [TestCase("type=hvm,bridge=br1", "Invalid parameter `type'.")]
    [TestCase("mac=00:16:3e:74:34,bridge=br1", "Invalid parameter `mac'.")]
    [TestCase("mac=00:16:3e:74:34:g2,bridge=br1", "Invalid parameter `mac'.")]
    [TestCase("mac=00:16:3e:74:34:320,bridge=br1", "Invalid parameter `mac'.")]
    [TestCase("accel=x,bridge=br1", "the accel parameter for vifs is currently not supported")]
    [TestCase("colo_compare_out=x,bridge=br1", "COLO")]
    [TestCase("forwarddev=eth0,bridge=br1", "COLO")]
    public void WhatXlOnlyComplainsAboutIsAWarningAndTheRestStillParses(string spec, string warning)
    {
        var (v, warnings) = ParseWithWarnings(spec);
        Assert.That(warnings, Has.Count.EqualTo(1));
        Assert.That(warnings[0], Does.Contain(warning));
        Assert.That(v.Bridge, Is.EqualTo("br1"));
    }

    [Test]
    public void AnInvalidTypeOrMacLeavesTheDefault()
    {
        Assert.That(VifSpec.Parse("type=hvm").Type, Is.Null);
        Assert.That(VifSpec.Parse("mac=zz").Mac, Is.Null);
    }

    [TestCase("mac=00-16-3e-74-34-32", "00:16:3e:74:34:32")]
    [TestCase("mac=0:16:3e:1:2:a", "00:16:3e:01:02:0a")]
    [TestCase("mac=00:16:3e:74:34:32:01", "00:16:3e:74:34:32")]
    public void AMacIsSixHexNumbersWithAnySeparatorAsXlReadsIt(string spec, string mac) =>
        Assert.That(VifSpec.Parse(spec).Mac, Is.EqualTo(mac));

    // The manual's three examples and its "1MB/s@20ms is 20,000 bytes every 20,000 us".
    [TestCase("10Mb/s", 62_500UL, 50_000U)]
    [TestCase("250KB/s", 12_500UL, 50_000U)]
    [TestCase("1MB/s@20ms", 20_000UL, 20_000U)]
    [TestCase("1GB/s@20ms", 20_000_000UL, 20_000U)]
    [TestCase("8b/s@1s", 1UL, 1_000_000U)]
    [TestCase("100B/s@2", 200UL, 2_000_000U)]
    [TestCase("1KB/s@500us", 0UL, 500U)]
    [TestCase("1KB/s@500u", 0UL, 500U)]
    [TestCase("4Gb/s@10m", 5_000_000UL, 10_000U)]
    [TestCase("4294967295GB/s@4us", 4_294_967_295UL * 4_000UL, 4U)]
    public void RatesFollowLibxlusArithmetic(string rate, ulong bytes, uint usecs)
    {
        var v = VifSpec.Parse("rate=" + rate);
        Assert.That((v.RateBytesPerInterval, v.RateIntervalUsecs), Is.EqualTo((bytes, usecs)));
        Assert.That(v.Rate, Is.EqualTo(rate));
    }

    // What makes xl create exit: a bad rate (parse_vif_rate), a number that is not one (parse_ulong).
    [TestCase("rate=@20ms", "no rate specified")]
    [TestCase("rate=10Mb", "invalid rate")]
    [TestCase("rate=10mb/s", "invalid rate")]
    [TestCase("rate=10TB/s", "invalid rate")]
    [TestCase("rate=Mb/s", "invalid rate")]
    [TestCase("rate=0MB/s", "rate overflow")]
    [TestCase("rate=010MB/s", "leading zero")]
    [TestCase("rate=4294967296B/s", "rate overflow")]
    [TestCase("rate=4294967295GB/s@4294967295us", "rate overflow")]
    [TestCase("rate=1MB/s@", "invalid replenishment interval")]
    [TestCase("rate=1MB/s@20ks", "invalid replenishment interval")]
    [TestCase("rate=1MB/s@0ms", "replenishment interval overflow")]
    [TestCase("rate=1MB/s@4295s", "replenishment interval overflow")]
    [TestCase("rate=1MB/s@20ms@3", "invalid replenishment interval")]
    [TestCase("devid=-1", "failed to convert \"-1\" to number")]
    [TestCase("devid=x", "failed to convert")]
    [TestCase("devid=", "failed to convert")]
    [TestCase("devid=99999999999999999999", "out of range")]
    [TestCase("devid=2147483648", "out of range")]
    [TestCase("mtu=big", "failed to convert")]
    [TestCase("bridge=a\u0001b", "control character")]
    public void BadValuesAreOneLineErrorsNamingThePart(string spec, string what)
    {
        var e = Assert.Throws<VifSpecException>(() => VifSpec.Parse(spec))!;
        Assert.That(e.Message, Does.StartWith("config parsing error in vif specification: "));
        Assert.That(e.Message, Does.Contain(what));
        Assert.That(e.Message, Does.EndWith($" in `{spec}'"));
        Assert.That(e.Message, Does.Not.Contain("\n"));
    }

    [TestCase("devid=010", 10)]
    [TestCase("devid=0", 0)]
    [TestCase("devid=0x10", 0)]
    [TestCase("devid=12ab", 12)]
    [TestCase("devid= 7", 7)]
    [TestCase("devid=2147483647", int.MaxValue)]
    public void DevidIsReadLikeXlsParseUlong(string spec, int devid) => Assert.That(VifSpec.Parse(spec).Devid, Is.EqualTo(devid));

    [Test]
    public void AGeneratedMacIsInXensOuiWithTheTopBitOfTheFourthByteClear()
    {
        var pattern = new Regex("^00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$");
        var seen = new HashSet<string>();
        for (int i = 0; i < 200; i++)
        {
            string mac = VifSpec.GenerateMac();
            Assert.That(mac, Does.Match(pattern));
            seen.Add(mac);
        }
        Assert.That(seen, Has.Count.GreaterThan(150), "the low 23 bits are random");
    }

    [Test]
    public void TheParserNeverInventsAMacButCreateTimeDoes()
    {
        var v = VifSpec.Parse("bridge=xenbr0");
        Assert.That(v.Mac, Is.Null);
        Assert.That(v.WithMac().Mac, Does.StartWith("00:16:3e:"));
        var fixedMac = VifSpec.Parse("mac=02:00:00:00:00:01");
        Assert.That(fixedMac.WithMac(), Is.SameAs(fixedMac));
    }

    [Test]
    public void LibxlJsonHasTheNicFields()
    {
        var j = VifSpec.Parse("mac=00:16:3e:00:00:01,bridge=xenbr0,type=vif,vifname=v0,rate=1MB/s@20ms,devid=2,mtu=9000,backend=nd").ToLibxlJson();
        Assert.That((string?)j["mac"], Is.EqualTo("00:16:3e:00:00:01"));
        Assert.That((string?)j["bridge"], Is.EqualTo("xenbr0"));
        Assert.That((string?)j["nictype"], Is.EqualTo("vif"));
        Assert.That((string?)j["ifname"], Is.EqualTo("v0"));
        Assert.That((string?)j["backend_domname"], Is.EqualTo("nd"));
        Assert.That((int)j["devid"]!, Is.EqualTo(2));
        Assert.That((int)j["mtu"]!, Is.EqualTo(9000));
        Assert.That((ulong)j["rate_bytes_per_interval"]!, Is.EqualTo(20_000UL));
        Assert.That((uint)j["rate_interval_usecs"]!, Is.EqualTo(20_000U));
        var d = VifSpec.Parse("type=ioemu").ToLibxlJson();
        Assert.That(((string?)d["nictype"], (int)d["devid"]!, (string?)d["mac"]), Is.EqualTo(("vif_ioemu", -1, "00:00:00:00:00:00")));
        Assert.That((string?)VifSpec.Parse("").ToLibxlJson()["nictype"], Is.EqualTo("unknown"));
    }

    [Test]
    public void RandomSpecsOnlyFailWithVifSpecException()
    {
        var rng = new Random(11);
        string[] parts = ["mac=", "00:16:3e:00:00:01", "bridge=", "xenbr0", "rate=", "10Mb/s", "@", "20ms", "devid=", "mtu=", "0x",
            "9000", "ip=", "10.0.0.1", "/", ":", ",", " ", "=", "type=", "vif", "x", "\t", "\u00e9", "-", "0"];
        int ok = 0;
        for (int i = 0; i < 20000; i++)
        {
            int n = rng.Next(1, 8);
            string spec = string.Concat(Enumerable.Range(0, n).Select(_ => parts[rng.Next(parts.Length)]));
            try { VifSpec.Parse(spec); ok++; }
            catch (VifSpecException e) { Assert.That(e.Message, Does.Not.Contain("\n"), spec); }
        }
        Assert.That(ok, Is.GreaterThan(0));
    }
}
