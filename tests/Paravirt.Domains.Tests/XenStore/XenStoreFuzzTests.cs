using System.Net.Sockets;
using System.Text;
using NUnit.Framework;
using Paravirt.Domains.XenStore;
using T = Paravirt.Domains.XenStore.XsMessageType;

namespace Paravirt.Domains.Tests.XenStore;

/// <summary>
/// Random and mutated messages against the ring and the socket: nothing may escape as an exception, the daemon
/// must count no internal fault, the store must stay consistent, and well-behaved clients must still be served.
/// </summary>
public class XenStoreFuzzTests
{
    private const int MessagesPerTransport = 100_000;

    private static readonly string[] Paths =
    [
        "/", "/local", "/local/domain/7", "/local/domain/7/a", "/local/domain/7/a/b", "/local/domain/8/x", "a", "a/b/c",
        "device/vbd/51712/state", "/tool/xenstored", "@introduceDomain", "@releaseDomain", "@x", "", "/a//b", "/a/",
        "/bad char", "x", "/local/domain/7/" + new string('z', 300), "../etc", "/fuzz", "/fuzz/1", "/fuzz/2/3",
    ];

    private static readonly string[] Words = ["T", "F", "0", "7", "8", "-1", "65535", "4294967296", "n0", "r7", "b8", "w1", "n7", "x9", "tok", "help", "check", "quota", "print", "log", "on"];

    /// <summary>A message with a consistent header: a plausible request, mutated now and then.</summary>
    private static XsMessage Generate(Random rng, uint txHint)
    {
        var type = rng.Next(20) switch
        {
            0 => (T)rng.Next(),
            1 => (T)rng.Next(23, 40),
            _ => (T)rng.Next(0, 23),
        };
        uint tx = rng.Next(4) switch { 0 => txHint, 1 => (uint)rng.Next(0, 4), _ => 0 };
        var parts = new List<byte>();
        int strings = rng.Next(0, 5);
        for (int i = 0; i < strings; i++)
        {
            var s = rng.Next(3) == 0 ? Words[rng.Next(Words.Length)] : Paths[rng.Next(Paths.Length)];
            parts.AddRange(Encoding.ASCII.GetBytes(s));
            if (rng.Next(8) != 0) parts.Add(0);
        }
        if (rng.Next(10) == 0)
        {
            var junk = new byte[rng.Next(0, 64)];
            rng.NextBytes(junk);
            parts.AddRange(junk);
        }
        var payload = parts.ToArray();
        if (payload.Length > 0 && rng.Next(6) == 0) payload[rng.Next(payload.Length)] ^= (byte)(1 << rng.Next(8));
        if (payload.Length > 0 && rng.Next(10) == 0) payload = payload[..rng.Next(payload.Length)];
        if (rng.Next(200) == 0) payload = new byte[rng.Next(XsWire.PayloadMax - 100, XsWire.PayloadMax + 1)];
        return new XsMessage(type, (uint)rng.Next(), tx, payload);
    }

    [Test]
    public void Ring_survives_random_and_mutated_messages()
    {
        var daemon = new XenStoreDaemon();
        daemon.Mkdir(0, "/local/domain/7");
        daemon.SetPerms(0, "/local/domain/7", [new XsPermission(7, XsPerm.None)]);
        daemon.Watch(0, "/", "dom0-sees-all", _ => { });
        var page = new ByteArrayPage();
        var conn = daemon.IntroduceDomain(7, page, () => { });
        var rng = new Random(20240607);
        int protocolErrors = 0, replies = 0;

        for (int m = 0; m < MessagesPerTransport; m++)
        {
            byte[] bytes;
            int hostile = rng.Next(1000);
            if (hostile == 0)
            {
                // A header announcing more than XENSTORE_PAYLOAD_MAX.
                bytes = new byte[XsWire.HeaderSize];
                new XsSockMsgHeader { Type = (uint)rng.Next(30), Len = (uint)rng.Next(XsWire.PayloadMax + 1, int.MaxValue) }.Write(bytes);
            }
            else
            {
                bytes = Generate(rng, 1).Encode();
            }
            if (hostile == 1) page[XsRingLayout.ReqProd] = (uint)rng.Next();
            if (hostile == 2) page[XsRingLayout.RspCons] = (uint)rng.Next();
            if (hostile == 3) page[XsRingLayout.Connection] = XsRingLayout.Reconnect;

            int sent = 0;
            for (int spin = 0; sent < bytes.Length && spin < 64; spin++)
            {
                if (page[XsRingLayout.Error] != 0 || (page[XsRingLayout.ReqProd] - page[XsRingLayout.ReqCons]) > XsWire.RingSize)
                    break;
                uint cons = page[XsRingLayout.ReqCons], prod = page[XsRingLayout.ReqProd];
                int n = Math.Min(XsWire.RingSize - (int)(prod - cons), bytes.Length - sent);
                for (int i = 0; i < n; i++) page.Bytes[(int)((prod + (uint)i) & (XsWire.RingSize - 1))] = bytes[sent + i];
                page[XsRingLayout.ReqProd] = prod + (uint)n;
                sent += n;
                Assert.DoesNotThrow(conn.OnEvent);
                // The guest takes whatever the server produced (if the indices still make sense).
                uint rc = page[XsRingLayout.RspCons], rp = page[XsRingLayout.RspProd];
                if (rp - rc <= XsWire.RingSize) { replies += (int)(rp - rc); page[XsRingLayout.RspCons] = rp; }
                Assert.DoesNotThrow(conn.OnEvent);
            }

            if (page[XsRingLayout.Error] != 0 || sent < bytes.Length)
            {
                protocolErrors++;
                page[XsRingLayout.Connection] = XsRingLayout.Reconnect;
                Assert.DoesNotThrow(conn.OnEvent);
                Assert.That(page[XsRingLayout.Connection], Is.EqualTo(XsRingLayout.Connected), "reconnect honoured");
            }
        }

        Assert.That(daemon.InternalFaults, Is.Zero);
        Assert.That(protocolErrors, Is.GreaterThan(0), "the fuzz reached the protocol-error paths");
        Assert.That(replies, Is.GreaterThan(MessagesPerTransport), "the fuzz produced replies");
        Assert.That(daemon.Connect(0).Send(Msg.Of(T.Control, "check")).PayloadText(), Is.EqualTo("OK"), "store consistent");

        // Still serving after all that.
        page[XsRingLayout.Connection] = XsRingLayout.Reconnect;
        conn.OnEvent();
        var guest = new GuestRing(daemon, 8);
        Assert.That(guest.Request(Msg.Of(T.GetDomainPath, "8")).PayloadText(), Is.EqualTo("/local/domain/8"));
    }

    [Test]
    public void Socket_survives_random_and_mutated_messages()
    {
        var dir = Directory.CreateTempSubdirectory("xs-fuzz-").FullName;
        var daemon = new XenStoreDaemon();
        using var server = new XenStoreSocketServer(daemon, Path.Combine(dir, "socket"));
        var rng = new Random(777);
        int sentMessages = 0, disconnects = 0;
        long repliesSeen = 0;
        try
        {
            while (sentMessages < MessagesPerTransport)
            {
                using var s = XenStoreSocketTests.Connect(server.Path);
                var reader = new Thread(() =>
                {
                    while (XenStoreSocketTests.ReadMessage(s) is not null) Interlocked.Increment(ref repliesSeen);
                }) { IsBackground = true };
                reader.Start();
                var batch = new List<byte>();
                bool dropped = false;
                while (sentMessages < MessagesPerTransport && !dropped)
                {
                    byte[] bytes;
                    if (rng.Next(5000) == 0)
                    {
                        bytes = new byte[XsWire.HeaderSize];
                        new XsSockMsgHeader { Type = (uint)T.Write, Len = (uint)rng.Next(XsWire.PayloadMax + 1, int.MaxValue) }.Write(bytes);
                        dropped = true;
                    }
                    else
                    {
                        bytes = Generate(rng, 1).Encode();
                    }
                    batch.AddRange(bytes);
                    sentMessages++;
                    if (batch.Count > 32 * 1024 || dropped || sentMessages == MessagesPerTransport)
                    {
                        try { s.Send(batch.ToArray()); } catch (SocketException) { dropped = true; }
                        batch.Clear();
                    }
                }
                if (dropped)
                {
                    disconnects++;
                    Assert.That(reader.Join(TimeSpan.FromSeconds(30)), Is.True, "server closes a client that oversteps the payload limit");
                }
                else
                {
                    // Let the server finish: a final request whose reply marks the end of this client's stream.
                    s.Send(XsMessage.FromStrings(T.GetDomainPath, 0xFEEDu, 0, "0").Encode());
                    var deadline = DateTime.UtcNow.AddSeconds(60);
                    while (DateTime.UtcNow < deadline && Interlocked.Read(ref repliesSeen) < 1) Thread.Sleep(10);
                    s.Shutdown(SocketShutdown.Send);
                    reader.Join(TimeSpan.FromSeconds(60));
                }
            }
            Assert.That(daemon.InternalFaults, Is.Zero);
            Assert.That(disconnects, Is.GreaterThan(0), "the fuzz reached the disconnect path");
            Assert.That(Interlocked.Read(ref repliesSeen), Is.GreaterThan(MessagesPerTransport / 2));
            using var check = XenStoreSocketTests.Connect(server.Path);
            check.Send(Msg.Of(T.Control, "check").Encode());
            Assert.That(XenStoreSocketTests.ReadMessage(check)!.PayloadText(), Is.EqualTo("OK"), "store consistent and still serving");
        }
        finally
        {
            server.Dispose();
            Directory.Delete(dir, true);
        }
    }

    [Test]
    public void Process_survives_random_messages_from_many_domains_and_threads()
    {
        var daemon = new XenStoreDaemon();
        for (ushort d = 1; d <= 4; d++)
        {
            daemon.Mkdir(0, $"/local/domain/{d}");
            daemon.SetPerms(0, $"/local/domain/{d}", [new XsPermission(d, XsPerm.None)]);
        }
        var threads = Enumerable.Range(0, 5).Select(t => new Thread(() =>
        {
            var conn = daemon.Connect((ushort)t);
            var rng = new Random(t);
            for (int i = 0; i < 20_000; i++)
            {
                var reply = conn.Send(Generate(rng, (uint)rng.Next(1, 4)));
                Assert.That(reply.Payload.Length, Is.LessThanOrEqualTo(XsWire.PayloadMax));
                while (conn.TryReceiveEvent(out _)) { }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.That(daemon.InternalFaults, Is.Zero);
        Assert.That(daemon.Connect(0).Send(Msg.Of(T.Control, "check")).PayloadText(), Is.EqualTo("OK"));
    }
}
