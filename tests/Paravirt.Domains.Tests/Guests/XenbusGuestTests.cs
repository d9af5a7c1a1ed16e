using System.Diagnostics;
using System.Text.Json;
using NUnit.Framework;
using Paravirt.Domains.Console;
using Paravirt.Domains.XenStore;

namespace Paravirt.Domains.Tests.Guests;

/// <summary>
/// Issue 6's guest-side acceptance, with the guest SDK's xenstore client (guest-sdk/tests/xenbus) on the emulated
/// CPU through the real toolstack and xenstored: the guest reads and writes its own store paths over the ring,
/// gets EACCES for another domain's /local/domain/&lt;id&gt;, and its watch fires when Dom0 writes.
/// </summary>
public class XenbusGuestTests
{
    [Test]
    public void AGuestUsesItsOwnStorePathsIsRefusedAnothersAndSeesDom0sWriteThroughItsWatch()
    {
        using var rig = new GuestRig();
        var xs = rig.Store;
        // The peer whose subtree the guest must not read: created and left paused.
        var peer = rig.Create("peer", "tests/spin", memoryMiB: 16);
        var info = rig.Create("xenbus", "tests/xenbus", cmdline: $"peer={peer.DomId}");
        using var guest = rig.Start(info);

        string console = guest.ReadUntil("xenbus: watching data/trigger", TimeSpan.FromSeconds(60));
        Assert.That(console, Does.Contain("xenbus: watching data/trigger"), $"console:\n{console}\ndmesg:\n{rig.Dmesg}");

        // The guest's writes are in the store, where Dom0 sees them.
        string dom = $"/local/domain/{info.DomId}";
        Assert.That(xs.ReadString(0, $"{dom}/data/greeting"), Is.EqualTo("hello"));
        Assert.That(xs.ReadString(0, $"{dom}/data/tx-a"), Is.EqualTo("alpha"));
        Assert.That(xs.Directory(0, $"{dom}/data"), Does.Not.Contain("tx-b").And.Not.Contain("aborted"));
        Assert.That(xs.Directory(0, $"/local/domain/{peer.DomId}/data"), Does.Not.Contain("intruder"));

        // Dom0 writes; the guest's watch fires and it finishes.
        xs.Write(0, $"{dom}/data/trigger", "ping");
        console = guest.ReadUntil("checks passed", TimeSpan.FromSeconds(60));
        Assert.That(console, Does.Match(@"xenbus: watch fired on \S*data/trigger \(pvtok\)"), console);
        Assert.That(console, Does.Match(@"xenbus: (\d+)/\1 checks passed"), $"console:\n{console}\ndmesg:\n{rig.Dmesg}");
        Assert.That(console, Does.Not.Contain("FAIL"), console);
        rig.Toolstack.Destroy(info.DomId);
        rig.Toolstack.Destroy(peer.DomId);
    }

    /// <summary>
    /// The guest's client and xenstored must agree on the ring and message layout: the SDK header's numbers
    /// (printed by guest-sdk/build/host/abi_layout) against xenstored's own constants.
    /// </summary>
    [Test]
    public void TheSdkStoreRingAndMessageLayoutIsXenstoreds()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Paravirt.sln"))) dir = dir.Parent;
        string exe = Path.Combine(dir!.FullName, "guest-sdk", "build", "host", "abi_layout");
        using var p = Process.Start(new ProcessStartInfo(exe) { RedirectStandardOutput = true, UseShellExecute = false })!;
        var c = JsonSerializer.Deserialize<Dictionary<string, Dictionary<string, long>>>(p.StandardOutput.ReadToEnd())!;
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.Zero);
        var off = c["offset"];
        var k = c["const"];
        Assert.Multiple(() =>
        {
            Assert.That(c["size"]["xsd_sockmsg"], Is.EqualTo(XsWire.HeaderSize));
            Assert.That(c["size"]["xenstore_domain_interface"], Is.EqualTo(XsRingLayout.Size));
            Assert.That(off["xenstore_domain_interface.req"], Is.EqualTo(XsRingLayout.Req));
            Assert.That(off["xenstore_domain_interface.rsp"], Is.EqualTo(XsRingLayout.Rsp));
            Assert.That(off["xenstore_domain_interface.req_cons"], Is.EqualTo(XsRingLayout.ReqCons));
            Assert.That(off["xenstore_domain_interface.req_prod"], Is.EqualTo(XsRingLayout.ReqProd));
            Assert.That(off["xenstore_domain_interface.rsp_cons"], Is.EqualTo(XsRingLayout.RspCons));
            Assert.That(off["xenstore_domain_interface.rsp_prod"], Is.EqualTo(XsRingLayout.RspProd));
            Assert.That(off["xenstore_domain_interface.server_features"], Is.EqualTo(XsRingLayout.ServerFeatures));
            Assert.That(off["xenstore_domain_interface.connection"], Is.EqualTo(XsRingLayout.Connection));
            Assert.That(off["xenstore_domain_interface.error"], Is.EqualTo(XsRingLayout.Error));
            Assert.That(k["XENSTORE_RING_SIZE"], Is.EqualTo(XsWire.RingSize));
            Assert.That(k["XENSTORE_PAYLOAD_MAX"], Is.EqualTo(XsWire.PayloadMax));
            Assert.That(k["XENSTORE_ABS_PATH_MAX"], Is.EqualTo(XsWire.AbsPathMax));
            Assert.That(k["XENSTORE_REL_PATH_MAX"], Is.EqualTo(XsWire.RelPathMax));
            Assert.That(k["XENSTORE_SERVER_FEATURE_RECONNECTION"], Is.EqualTo(XsRingLayout.FeatureReconnection));
            Assert.That(k["XENSTORE_SERVER_FEATURE_ERROR"], Is.EqualTo(XsRingLayout.FeatureError));
            Assert.That(k["XENSTORE_CONNECTED"], Is.EqualTo(XsRingLayout.Connected));
            Assert.That(k["XENSTORE_RECONNECT"], Is.EqualTo(XsRingLayout.Reconnect));
            Assert.That(k["XENSTORE_ERROR_COMM"], Is.EqualTo((long)XsRingError.Comm));
            // Every message type xenstored knows has the SDK's number (XS_RESTRICT, 20, was removed from Xen).
            foreach (var t in Enum.GetValues<XsMessageType>().Where(t => t != XsMessageType.Restrict))
            {
                string name = t switch
                {
                    XsMessageType.Invalid => "XS_INVALID",
                    _ => "XS_" + string.Concat(t.ToString().Select((ch, i) => i > 0 && char.IsUpper(ch) ? "_" + ch : ch.ToString())).ToUpperInvariant(),
                };
                Assert.That(k.TryGetValue(name, out long v) ? v : -1, Is.EqualTo((long)t), name);
            }
            Assert.That(c["size"]["xencons_interface"], Is.GreaterThanOrEqualTo(DomainConsole.InSize + DomainConsole.OutSize + 16));
            Assert.That(off["xencons_interface.out"], Is.EqualTo(DomainConsole.InSize));
            Assert.That(off["xencons_interface.in_cons"], Is.EqualTo(DomainConsole.InSize + DomainConsole.OutSize));
        });
    }
}
