using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using NUnit.Framework;
using Paravirt.Control;
using Paravirt.Control.Messages;
using Paravirt.Control.Protocol;
using Paravirt.Domains.Toolstack;
using Paravirt.XlConfig;

namespace Paravirt.Tools.Tests;

/// <summary>paravirtd's control server with a fake toolstack, driven through the protocol client and through xl.</summary>
public class DaemonTests
{
    private DaemonHarness _daemon = null!;

    [SetUp]
    public void StartDaemon() => _daemon = DaemonHarness.Start();

    [TearDown]
    public async Task StopDaemon() => await _daemon.DisposeAsync();

    private static DomainConfig Config(string name) => new() { Name = name, MemoryMiB = 64, Vcpus = 1, Kernel = "/k/hello" };

    private async Task<DomainSummary> CreateAsync(string name, bool paused = false)
    {
        using var client = await _daemon.ConnectAsync();
        var reply = await client.RequestAsync(new ControlRequest { Op = ControlOps.Create, Config = Config(name), Paused = paused });
        Assert.That(reply.Ok, Is.True, reply.Error);
        return reply.Domain!;
    }

    // --- protocol level ---

    [Test]
    public async Task PingIsAnswered()
    {
        using var client = await _daemon.ConnectAsync();
        Assert.That((await client.RequestAsync(new ControlRequest { Op = ControlOps.Ping })).Ok, Is.True);
    }

    [Test]
    public async Task CreateReturnsTheNewDomain()
    {
        var domain = await CreateAsync("hello");
        Assert.That(domain.Name, Is.EqualTo("hello"));
        Assert.That(_daemon.Toolstack.Exists(domain.DomId), Is.True);
    }

    [Test]
    public async Task CreatePausedLeavesTheDomainPaused()
    {
        var domain = await CreateAsync("sleepy", paused: true);
        Assert.That(_daemon.Toolstack.IsPaused(domain.DomId), Is.True);
    }

    [Test]
    public async Task AToolstackFailureIsAnErrorReplyCarryingItsLine()
    {
        _daemon.Toolstack.CreateFailure = "kernel image /k/hello: not an ELF file";
        using var client = await _daemon.ConnectAsync();
        var reply = await client.RequestAsync(new ControlRequest { Op = ControlOps.Create, Config = Config("bad") });
        Assert.That(reply.Ok, Is.False);
        Assert.That(reply.Error, Is.EqualTo("kernel image /k/hello: not an ELF file"));
    }

    [Test]
    public async Task AnUnknownOperationGetsAnErrorReplyAndTheConnectionStaysUsable()
    {
        using var client = await _daemon.ConnectAsync();
        var reply = await client.RequestAsync(new ControlRequest { Op = "reboot-the-host" });
        Assert.That(reply.Ok, Is.False);
        Assert.That(reply.Error, Does.Contain("unknown operation 'reboot-the-host'"));
        Assert.That((await client.RequestAsync(new ControlRequest { Op = ControlOps.Ping })).Ok, Is.True);
    }

    [Test]
    public async Task AnOperationMissingItsDomainGetsAnErrorReply()
    {
        using var client = await _daemon.ConnectAsync();
        var reply = await client.RequestAsync(new ControlRequest { Op = ControlOps.Destroy });
        Assert.That(reply.Error, Is.EqualTo("'destroy' needs a domain"));
    }

    [Test]
    public async Task CreateWithoutAConfigGetsAnErrorReply()
    {
        using var client = await _daemon.ConnectAsync();
        var reply = await client.RequestAsync(new ControlRequest { Op = ControlOps.Create });
        Assert.That(reply.Error, Is.EqualTo("'create' needs a domain configuration"));
    }

    private async Task<(Socket Socket, FrameReader Reader)> RawConnectAsync()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(_daemon.SocketPath));
        return (socket, new FrameReader(new NetworkStream(socket, ownsSocket: false)));
    }

    [Test]
    public async Task BadJsonGetsAnErrorReplyAndTheConnectionStaysUsable()
    {
        var (socket, reader) = await RawConnectAsync();
        using (socket)
        {
            var writer = new FrameWriter(new NetworkStream(socket, ownsSocket: false));
            await writer.WriteAsync(FrameKind.Request, "{\"Op\": [1,"u8.ToArray());
            var reply = ControlJson.Deserialize<ControlResponse>((await reader.ReadAsync())!.Value.Payload);
            Assert.That(reply.Error, Does.StartWith("protocol error: bad ControlRequest"));

            await writer.WriteAsync(FrameKind.Request, ControlJson.Serialize(new ControlRequest { Op = ControlOps.Ping }));
            Assert.That(ControlJson.Deserialize<ControlResponse>((await reader.ReadAsync())!.Value.Payload).Ok, Is.True);
        }
    }

    [Test]
    public async Task AWronglyTypedFieldGetsAnErrorReplyAndCreatesNothing()
    {
        var (socket, reader) = await RawConnectAsync();
        using (socket)
        {
            var writer = new FrameWriter(new NetworkStream(socket, ownsSocket: false));
            await writer.WriteAsync(FrameKind.Request, "{\"Op\":\"create\",\"Config\":{\"Name\":\"x\",\"Vcpus\":[1]}}"u8.ToArray());
            var reply = ControlJson.Deserialize<ControlResponse>((await reader.ReadAsync())!.Value.Payload);
            Assert.That(reply.Error, Does.StartWith("protocol error: bad ControlRequest"));
            Assert.That(_daemon.Toolstack.List(), Is.Empty);
        }
    }

    [TestCase((byte)99, 0u, TestName = "AnUnknownFrameKindGetsAnErrorReplyAndTheConnectionIsClosed")]
    [TestCase((byte)1, 0xFFFFFFF0u, TestName = "AnOversizedFrameGetsAnErrorReplyAndTheConnectionIsClosed")]
    [TestCase((byte)3, 4u, TestName = "AServerOnlyFrameKindFromAClientGetsAnErrorReplyAndTheConnectionIsClosed")]
    public async Task HostileFramesCloseTheConnection(byte kind, uint length)
    {
        var (socket, reader) = await RawConnectAsync();
        using (socket)
        {
            var header = new byte[9];
            header[0] = kind;
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(1), length);
            await socket.SendAsync(header);

            var reply = ControlJson.Deserialize<ControlResponse>((await reader.ReadAsync())!.Value.Payload);
            Assert.That(reply.Ok, Is.False);
            Assert.That(reply.Error, Does.StartWith("protocol error"));
            Assert.That(await reader.ReadAsync(), Is.Null);
        }
        // The daemon itself is unharmed.
        using var client = await _daemon.ConnectAsync();
        Assert.That((await client.RequestAsync(new ControlRequest { Op = ControlOps.Ping })).Ok, Is.True);
    }

    [Test]
    public async Task AClientThatHangsUpMidFrameDoesNotHurtTheDaemon()
    {
        var (socket, _) = await RawConnectAsync();
        await socket.SendAsync(new byte[] { 1, 100, 0, 0, 0, (byte)'{' });
        socket.Dispose();
        using var client = await _daemon.ConnectAsync();
        Assert.That((await client.RequestAsync(new ControlRequest { Op = ControlOps.Ping })).Ok, Is.True);
    }

    [Test]
    public async Task ManyClientsAreServedAtOnce()
    {
        var clients = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => _daemon.ConnectAsync()));
        try
        {
            var replies = await Task.WhenAll(clients.Select(c => c.RequestAsync(new ControlRequest { Op = ControlOps.Ping })));
            Assert.That(replies.All(r => r.Ok), Is.True);
        }
        finally
        {
            foreach (var c in clients)
                c.Dispose();
        }
    }

    // --- xl against the daemon ---

    [Test]
    public async Task XlListPrintsXensTableOfAllDomains()
    {
        await CreateAsync("alpha");
        await CreateAsync("beta", paused: true);

        var run = await _daemon.RunXlAsync(["list"]);

        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Out, Is.EqualTo(
            "Name                                        ID   Mem VCPUs\tState\tTime(s)\n" +
            "alpha                                        1    64     1     -b----       0.0\n" +
            "beta                                         2    64     1     --p---       0.0\n"));
    }

    [Test]
    public async Task XlListOfNamedDomainsShowsOnlyThose()
    {
        await CreateAsync("alpha");
        await CreateAsync("beta");

        var run = await _daemon.RunXlAsync(["list", "beta"]);

        Assert.That(run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(2));
        Assert.That(run.Out, Does.Contain("beta").And.Not.Contain("alpha"));
    }

    [Test]
    public async Task XlListOfAnUnknownDomainFailsWithTheToolstacksLine()
    {
        var run = await _daemon.RunXlAsync(["list", "ghost"]);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Error, Is.EqualTo("ghost is an invalid domain identifier (rc=-6)" + Environment.NewLine));
        Assert.That(run.Out, Is.Empty);
    }

    [Test]
    public async Task XlDestroyRemovesTheDomain()
    {
        var domain = await CreateAsync("doomed");
        var run = await _daemon.RunXlAsync(["destroy", "doomed"]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(_daemon.Toolstack.Exists(domain.DomId), Is.False);
    }

    [Test]
    public async Task XlDestroyAcceptsANumericDomainId()
    {
        var domain = await CreateAsync("doomed");
        var run = await _daemon.RunXlAsync(["destroy", domain.DomId.ToString()]);
        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(_daemon.Toolstack.Exists(domain.DomId), Is.False);
    }

    [Test]
    public async Task XlDestroyOfAnUnknownDomainFails()
    {
        var run = await _daemon.RunXlAsync(["destroy", "nobody"]);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Error, Does.Contain("nobody is an invalid domain identifier"));
    }

    [Test]
    public async Task XlPauseThenUnpauseTogglesThePause()
    {
        var domain = await CreateAsync("toggle");
        Assert.That((await _daemon.RunXlAsync(["pause", "toggle"])).ExitCode, Is.EqualTo(0));
        Assert.That(_daemon.Toolstack.IsPaused(domain.DomId), Is.True);
        Assert.That((await _daemon.RunXlAsync(["unpause", "toggle"])).ExitCode, Is.EqualTo(0));
        Assert.That(_daemon.Toolstack.IsPaused(domain.DomId), Is.False);
    }

    [Test]
    public async Task XlDmesgPrintsTheRing()
    {
        _daemon.Toolstack.DmesgText = "(XEN) line one\n(XEN) line two\n";
        var run = await _daemon.RunXlAsync(["dmesg"]);
        Assert.That(run.Out, Is.EqualTo("(XEN) line one\n(XEN) line two\n"));
        Assert.That(_daemon.Toolstack.DmesgCleared, Is.False);
    }

    [Test]
    public async Task XlDmesgClearEmptiesTheRingAfterPrintingIt()
    {
        var run = await _daemon.RunXlAsync(["dmesg", "-c"]);
        Assert.That(run.Out, Does.Contain("Paravirt hypervisor"));
        Assert.That(_daemon.Toolstack.DmesgCleared, Is.True);
    }

    // --- console streaming ---

    [Test]
    public async Task XlConsolePrintsHistoryAndLiveOutputUntilTheDomainDies()
    {
        var domain = await CreateAsync("chatty");
        _daemon.Toolstack.Print(domain.DomId, "before attach\n");

        var xl = _daemon.RunXlAsync(["console", "chatty"]);
        await _daemon.WaitForListenerAsync(domain.DomId);
        _daemon.Toolstack.Print(domain.DomId, "after attach\n");
        _daemon.Toolstack.End(domain.DomId, new DomainEnd(ShutdownReason.Poweroff, false, null));
        var run = await xl;

        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Console, Is.EqualTo("before attach\nafter attach\n"));
    }

    [Test]
    public async Task XlConsoleForwardsStdinToTheGuest()
    {
        var domain = await CreateAsync("listener");
        var input = new HeldInput("ls -l\r"u8.ToArray());

        var xl = _daemon.RunXlAsync(["console", "listener"], input);
        await _daemon.WaitForListenerAsync(domain.DomId);
        for (int i = 0; i < 200 && _daemon.Toolstack.InputOf(domain.DomId).Length < 6; i++)
            await Task.Delay(25);
        Assert.That(_daemon.Toolstack.InputOf(domain.DomId), Is.EqualTo("ls -l\r"));
        _daemon.Toolstack.End(domain.DomId, new DomainEnd(ShutdownReason.Poweroff, false, null));
        Assert.That((await xl).ExitCode, Is.EqualTo(0));
    }

    [Test]
    public async Task XlConsoleOutlivesTheEndOfStdin()
    {
        var domain = await CreateAsync("quiet");
        var xl = _daemon.RunXlAsync(["console", "quiet"], new MemoryStream());
        await _daemon.WaitForListenerAsync(domain.DomId);
        await Task.Delay(100);
        Assert.That(xl.IsCompleted, Is.False, "xl console ended when stdin did, before the domain died");
        _daemon.Toolstack.Print(domain.DomId, "still here\n");
        _daemon.Toolstack.End(domain.DomId, new DomainEnd(ShutdownReason.Poweroff, false, null));
        Assert.That((await xl).Console, Is.EqualTo("still here\n"));
    }

    [Test]
    public async Task CtrlRightBracketOnATerminalDetachesAndLeavesTheDomainRunning()
    {
        var domain = await CreateAsync("stays");
        var input = new HeldInput([(byte)'a', 0x1d, (byte)'b']);

        var run = await _daemon.RunXlAsync(["console", "stays"], input, terminal: true);

        Assert.That(run.ExitCode, Is.EqualTo(0));
        Assert.That(_daemon.Toolstack.Exists(domain.DomId), Is.True);
        // The daemon forwards input asynchronously: xl may have exited before the 'a' reached the console.
        for (int i = 0; i < 200 && _daemon.Toolstack.InputOf(domain.DomId).Length == 0; i++)
            await Task.Delay(25);
        Assert.That(_daemon.Toolstack.InputOf(domain.DomId), Is.EqualTo("a"));
        for (int i = 0; i < 200 && _daemon.Toolstack.ListenerCount(domain.DomId) > 0; i++)
            await Task.Delay(25);
        Assert.That(_daemon.Toolstack.ListenerCount(domain.DomId), Is.Zero, "the daemon kept the console attached after detach");
    }

    [Test]
    public async Task CtrlRightBracketFromAPipeIsGuestInput()
    {
        var domain = await CreateAsync("raw");
        var xl = _daemon.RunXlAsync(["console", "raw"], new HeldInput([0x1d]), terminal: false);
        await _daemon.WaitForListenerAsync(domain.DomId);
        for (int i = 0; i < 200 && _daemon.Toolstack.InputOf(domain.DomId).Length == 0; i++)
            await Task.Delay(25);
        Assert.That(_daemon.Toolstack.InputOf(domain.DomId), Is.EqualTo("\u001d"));
        _daemon.Toolstack.End(domain.DomId, new DomainEnd(ShutdownReason.Poweroff, false, null));
        await xl;
    }

    [Test]
    public async Task XlConsoleOfAnUnknownDomainFails()
    {
        var run = await _daemon.RunXlAsync(["console", "ghost"]);
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Error, Does.Contain("ghost is an invalid domain identifier"));
    }

    [Test]
    public async Task ACreateWithConsoleStartsTheDomainOnlyAfterAttaching()
    {
        using var client = await _daemon.ConnectAsync();
        var reply = await client.RequestAsync(new ControlRequest { Op = ControlOps.Create, Config = Config("early"), Console = true });
        Assert.That(reply.Ok, Is.True, reply.Error);
        uint id = reply.Domain!.DomId;
        Assert.That(_daemon.Toolstack.ListenerCount(id), Is.EqualTo(1));
        Assert.That(_daemon.Toolstack.IsPaused(id), Is.False);

        _daemon.Toolstack.Print(id, "boot\n");
        _daemon.Toolstack.End(id, new DomainEnd(ShutdownReason.Crash, false, "page fault"));
        var output = await client.ReadConsoleAsync();
        var end = await client.ReadConsoleAsync();
        Assert.That(Encoding.UTF8.GetString(output.Output!), Is.EqualTo("boot\n"));
        Assert.That(end.End!.Reason, Is.EqualTo(DomainShutdownReason.Crash));
        Assert.That(end.End.CrashMessage, Is.EqualTo("page fault"));
    }

    [Test]
    public async Task ACreateWithConsoleAndPausedAttachesButStaysPaused()
    {
        using var client = await _daemon.ConnectAsync();
        var reply = await client.RequestAsync(new ControlRequest { Op = ControlOps.Create, Config = Config("held"), Console = true, Paused = true });
        Assert.That(_daemon.Toolstack.IsPaused(reply.Domain!.DomId), Is.True);
        Assert.That(_daemon.Toolstack.ListenerCount(reply.Domain.DomId), Is.EqualTo(1));
    }

    [Test]
    public async Task AConsoleClientSendingARequestFrameIsDetached()
    {
        var domain = await CreateAsync("strict");
        using var client = await _daemon.ConnectAsync();
        Assert.That((await client.RequestAsync(new ControlRequest { Op = ControlOps.Console, Domain = "strict" })).Ok, Is.True);
        await _daemon.WaitForListenerAsync(domain.DomId);

        await Assert.ThrowsAsync<ProtocolException>(() => client.RequestAsync(new ControlRequest { Op = ControlOps.Ping }));
        Assert.That(_daemon.Toolstack.Exists(domain.DomId), Is.True);
    }

    [Test]
    public async Task WaitRepliesWithHowTheDomainEnded()
    {
        var domain = await CreateAsync("mortal");
        using var client = await _daemon.ConnectAsync();
        var wait = client.RequestAsync(new ControlRequest { Op = ControlOps.Wait, Domain = "mortal" });
        await Task.Delay(50);
        Assert.That(wait.IsCompleted, Is.False);
        _daemon.Toolstack.End(domain.DomId, new DomainEnd(ShutdownReason.Reboot, false, null));
        Assert.That((await wait).End!.Reason, Is.EqualTo(DomainShutdownReason.Reboot));
    }

    [TestCase(ShutdownReason.Poweroff, 0)]
    [TestCase(ShutdownReason.Reboot, 0)]
    [TestCase(ShutdownReason.Crash, 1)]
    [TestCase(ShutdownReason.Watchdog, 1)]
    public void TheCreateConsoleExitCodeFollowsHowTheDomainEnded(ShutdownReason reason, int exitCode)
    {
        Assert.That(Paravirt.Daemon.WireMapping.ToWire(new DomainEnd(reason, false, null)).ExitCode, Is.EqualTo(exitCode));
    }
}
