using NUnit.Framework;

namespace Paravirt.Cpu.Tests.Differential;

/// <summary>
/// What every differential fixture against this machine's CPU shares: the native runner (tests/native/cpurunner),
/// created once per fixture, and the emulator runner. Where the native runner cannot start, <see cref="Hardware"/>
/// ignores the test with the reason.
/// </summary>
[NonParallelizable]
public abstract class HostDifferentialFixture
{
    private HostProcessRunner? _hardware;
    private EmulatorRunner? _emulator;
    private string _why = "";

    [OneTimeSetUp]
    public void CreateRunners()
    {
        _hardware = HostProcessRunner.TryCreate(out _why);
        _emulator = new EmulatorRunner();
    }

    [OneTimeTearDown]
    public void DisposeRunners()
    {
        _hardware?.Dispose();
        _emulator?.Dispose();
    }

    private protected HostProcessRunner Hardware => _hardware ?? throw new IgnoreException(_why);

    private protected EmulatorRunner Emulator => _emulator ?? throw new InvalidOperationException("the fixture's runners are not set up");
}
