using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using NUnit.Framework;
using Paravirt.Domains.XenStore;
using T = Paravirt.Domains.XenStore.XsMessageType;

namespace Paravirt.Domains.Tests.XenStore;

/// <summary>The tools socket: xsd_sockmsg framing, Dom0 rights, and real Xen clients from Debian's xenstore-utils.</summary>
public class XenStoreSocketTests
{
    private XenStoreDaemon _daemon = null!;
    private XenStoreSocketServer _server = null!;
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Directory.CreateTempSubdirectory("xs-").FullName;
        _daemon = new XenStoreDaemon();
        _server = new XenStoreSocketServer(_daemon, Path.Combine(_dir, "socket"));
    }

    [TearDown]
    public void TearDown()
    {
        _server.Dispose();
        Directory.Delete(_dir, true);
        Assert.That(_daemon.InternalFaults, Is.Zero);
    }

    internal static Socket Connect(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(path));
        s.ReceiveTimeout = 5000;
        return s;
    }

    internal static XsMessage? ReadMessage(Socket s)
    {
        var header = new byte[XsWire.HeaderSize];
        if (!ReadExactly(s, header)) return null;
        var h = XsSockMsgHeader.Read(header);
        var payload = new byte[h.Len];
        if (!ReadExactly(s, payload)) return null;
        return new XsMessage((T)h.Type, h.ReqId, h.TxId, payload);
    }

    private static bool ReadExactly(Socket s, byte[] buffer)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int n;
            try { n = s.Receive(buffer, got, buffer.Length - got, SocketFlags.None); }
            catch (SocketException) { return false; }
            if (n == 0) return false;
            got += n;
        }
        return true;
    }

    [Test]
    public void Socket_client_writes_and_reads_back_as_dom0()
    {
        using var s = Connect(_server.Path);
        s.Send(Msg.Write("/local/domain/0/name", "Domain-0").Encode());
        XsAssert.IsOk(ReadMessage(s)!, T.Write);
        s.Send(XsMessage.FromStrings(T.Read, 9, 0, "name").Encode());
        var reply = ReadMessage(s)!;
        Assert.That((reply.ReqId, reply.PayloadText()), Is.EqualTo((9u, "Domain-0")));
    }

    [Test]
    public void Socket_client_may_use_dom0_only_requests()
    {
        using var s = Connect(_server.Path);
        s.Send(Msg.Of(T.IsDomainIntroduced, "0").Encode());
        Assert.That(ReadMessage(s)!.PayloadText(), Is.EqualTo("T"));
    }

    [Test]
    public void Request_split_across_many_small_sends_is_assembled()
    {
        using var s = Connect(_server.Path);
        var bytes = Msg.Write("/split", "value").Encode();
        foreach (var b in bytes) { s.Send([b]); }
        XsAssert.IsOk(ReadMessage(s)!, T.Write);
    }

    [Test]
    public void Oversized_length_disconnects_only_that_client()
    {
        using var bad = Connect(_server.Path);
        using var good = Connect(_server.Path);
        var header = new byte[16];
        new XsSockMsgHeader { Type = (uint)T.Write, Len = XsWire.PayloadMax + 1 }.Write(header);
        bad.Send(header);
        Assert.That(ReadMessage(bad), Is.Null, "the offending client is dropped");
        good.Send(Msg.Of(T.Read, "/tool/xenstored").Encode());
        Assert.That(ReadMessage(good)!.Type, Is.EqualTo(T.Read));
    }

    [Test]
    public void Watch_event_reaches_a_socket_client_when_another_client_writes()
    {
        using var watcher = Connect(_server.Path);
        using var writer = Connect(_server.Path);
        watcher.Send(Msg.Of(T.Watch, "/w", "tok").Encode());
        XsAssert.IsOk(ReadMessage(watcher)!, T.Watch);
        Assert.That(ReadMessage(watcher)!.PayloadStrings(), Is.EqualTo(new[] { "/w", "tok" }), "initial event");
        writer.Send(Msg.Write("/w/x", "1").Encode());
        ReadMessage(writer);
        var ev = ReadMessage(watcher)!;
        Assert.That((ev.Type, ev.ReqId, ev.TxId), Is.EqualTo((T.WatchEvent, 0u, 0u)));
        Assert.That(ev.PayloadStrings(), Is.EqualTo(new[] { "/w/x", "tok" }));
    }

    [Test]
    public void Closing_a_client_drops_its_watches()
    {
        using (var watcher = Connect(_server.Path))
        {
            watcher.Send(Msg.Of(T.Watch, "/w", "tok").Encode());
            ReadMessage(watcher);
        }
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (_server.ClientCount > 0 && DateTime.UtcNow < deadline) Thread.Sleep(10);
        Assert.That(_server.ClientCount, Is.Zero);
    }

    // ------------------------------------------------------------- Debian's xenstore-utils against our socket

    private static bool HaveXenstoreUtils => File.Exists("/usr/bin/xenstore-read");

    private (int Exit, string Out, string Err) Run(string tool, params string[] args)
    {
        if (!HaveXenstoreUtils) Assert.Ignore("xenstore-utils is not installed (apt-get install xenstore-utils)");
        var psi = new ProcessStartInfo("/usr/bin/" + tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["XENSTORED_PATH"] = _server.Path;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(15000)) { p.Kill(); Assert.Fail($"{tool} hung"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Test]
    public void Xenstore_write_then_read_round_trips()
    {
        Assert.That(Run("xenstore-write", "/vm/name", "guest one").Exit, Is.Zero);
        var r = Run("xenstore-read", "/vm/name");
        Assert.That((r.Exit, r.Out), Is.EqualTo((0, "guest one\n")));
    }

    [Test]
    public void Xenstore_read_of_missing_node_fails()
    {
        var r = Run("xenstore-read", "/no/such/node");
        Assert.That(r.Exit, Is.Not.Zero);
    }

    [Test]
    public void Xenstore_exists_tells_present_from_absent()
    {
        Run("xenstore-write", "/e", "1");
        Assert.That(Run("xenstore-exists", "/e").Exit, Is.Zero);
        Assert.That(Run("xenstore-exists", "/f").Exit, Is.Not.Zero);
    }

    [Test]
    public void Xenstore_list_shows_children()
    {
        Run("xenstore-write", "/l/a", "1", "/l/b", "2");
        var r = Run("xenstore-list", "/l");
        Assert.That(r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[] { "a", "b" }));
    }

    [Test]
    public void Xenstore_ls_prints_the_tree_with_values()
    {
        Run("xenstore-write", "/t/x", "one", "/t/y/z", "two");
        var r = Run("xenstore-ls", "/t");
        Assert.That(r.Exit, Is.Zero, r.Err);
        Assert.That(r.Out, Does.Contain("x = \"one\"").And.Contain("z = \"two\""));
    }

    [Test]
    public void Xenstore_rm_removes_a_subtree()
    {
        Run("xenstore-write", "/gone/a", "1");
        Assert.That(Run("xenstore-rm", "/gone").Exit, Is.Zero);
        Assert.That(_daemon.Directory(0, "/"), Does.Not.Contain("gone"));
    }

    [Test]
    public void Xenstore_chmod_sets_permissions()
    {
        Run("xenstore-write", "/p", "1");
        Assert.That(Run("xenstore-chmod", "/p", "n3", "r4").Exit, Is.Zero);
        Assert.That(_daemon.GetPerms(0, "/p"), Is.EqualTo(new[] { new XsPermission(3, XsPerm.None), new XsPermission(4, XsPerm.Read) }));
    }

    [Test]
    public void Xenstore_watch_reports_a_change_made_in_process()
    {
        if (!HaveXenstoreUtils) Assert.Ignore("xenstore-utils is not installed (apt-get install xenstore-utils)");
        _daemon.Mkdir(0, "/watched");
        var psi = new ProcessStartInfo("/usr/bin/xenstore-watch") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-n");
        psi.ArgumentList.Add("2");
        psi.ArgumentList.Add("/watched");
        psi.Environment["XENSTORED_PATH"] = _server.Path;
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!output.IsCompleted && DateTime.UtcNow < deadline)
        {
            _daemon.Write(0, "/watched/key", "v");
            Thread.Sleep(50);
        }
        if (!p.WaitForExit(5000)) p.Kill();
        var lines = output.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Is.EqualTo(new[] { "/watched", "/watched/key" }));
    }
}
