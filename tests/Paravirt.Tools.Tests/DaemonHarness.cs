using System.Text;
using Paravirt.Control;
using Paravirt.Daemon;
using Paravirt.Xl;

namespace Paravirt.Tools.Tests;

/// <summary>
/// paravirtd's control server on a fresh socket with a <see cref="FakeToolstack"/> behind it, and xl run
/// in-process against it with captured output.
/// </summary>
internal sealed class DaemonHarness : IAsyncDisposable
{
    private DaemonHarness(string directory, FakeToolstack toolstack, ControlServer server)
    {
        Directory = directory;
        Toolstack = toolstack;
        Server = server;
    }

    public string Directory { get; }
    public FakeToolstack Toolstack { get; }
    public ControlServer Server { get; }
    public string SocketPath => Server.SocketPath;

    public static DaemonHarness Start()
    {
        // Short path: sockaddr_un allows 107 bytes.
        string directory = Path.Combine("/tmp", "pvt-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory);
        var toolstack = new FakeToolstack();
        var server = new ControlServer(new RequestDispatcher(toolstack, DaemonLog.None), Path.Combine(directory, "paravirtd.sock"), DaemonLog.None);
        server.Start();
        return new DaemonHarness(directory, toolstack, server);
    }

    public Task<ControlClient> ConnectAsync() => ControlClient.ConnectAsync(SocketPath);

    public sealed record XlRun(int ExitCode, string Out, string Error, string Console);

    /// <summary>Run xl with the given arguments; <paramref name="stdin"/> feeds console input.</summary>
    public async Task<XlRun> RunXlAsync(string[] args, Stream? stdin = null, bool terminal = false)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var console = new MemoryStream();
        var context = new XlContext(output, error, console, stdin ?? Stream.Null, terminal, new SocketConnector(SocketPath), () => null);
        int code = await XlCommandLine.RunAsync(args, context).WaitAsync(TimeSpan.FromSeconds(20));
        return new XlRun(code, output.ToString(), error.ToString(), Encoding.UTF8.GetString(console.ToArray()));
    }

    /// <summary>Wait until a console client is attached to the domain (the daemon attaches asynchronously).</summary>
    public async Task WaitForListenerAsync(uint domId)
    {
        for (int i = 0; i < 400 && Toolstack.ListenerCount(domId) == 0; i++)
            await Task.Delay(25);
        if (Toolstack.ListenerCount(domId) == 0)
            throw new TimeoutException($"nobody attached to the console of domain {domId}");
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A stdin that yields its bytes and then blocks until released (a terminal nobody types on).</summary>
internal sealed class HeldInput(byte[] first) : Stream
{
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _offset;

    public void Release() => _release.TrySetResult();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_offset < first.Length)
        {
            int n = Math.Min(buffer.Length, first.Length - _offset);
            first.AsMemory(_offset, n).CopyTo(buffer);
            _offset += n;
            return n;
        }
        await _release.Task.WaitAsync(cancellationToken);
        return 0;
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
