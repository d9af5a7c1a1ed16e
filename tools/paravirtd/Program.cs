using System.CommandLine.Invocation;
using Paravirt.Daemon;
using Paravirt.Domains;

var command = DaemonOptions.CreateCommand();
command.SetAction(async (parsed, _) =>
{
    var (options, error) = DaemonOptions.From(parsed, Environment.GetEnvironmentVariable);
    if (options is null)
    {
        await Console.Error.WriteLineAsync($"paravirtd: {error}");
        return 2;
    }
    return await DaemonHost.RunAsync(options, StartDom0, Console.Error);
});

var parseResult = command.Parse(args);
if (parseResult.Action is ParseErrorAction)
{
    Console.Error.WriteLine($"paravirtd: {parseResult.Errors[0].Message}");
    return 2;
}
return await parseResult.InvokeAsync();

// The real toolstack: the hypervisor and Dom0 with its services, all in this process.
static ToolstackHost StartDom0(DaemonOptions options)
{
    var host = Dom0Host.Start(new Dom0Options { RunDirectory = options.RunDirectory.Path, HostMemoryMiB = options.HostMemoryMiB });
    return new ToolstackHost(host.Toolstack, host);
}
