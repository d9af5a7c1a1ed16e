namespace Paravirt.GuestSdk.Tests;

/// <summary>Paths of the kernels guest-sdk's make builds.</summary>
internal static class Kernels
{
    public static readonly string RepoRoot = FindRoot();
    public static string Build => Path.Combine(RepoRoot, "guest-sdk", "build");
    public static string Seeded => Path.Combine(Build, "tests", "pvport-seeded");
    public static string PatchGuest => Path.Combine(Build, "tests", "pvport-patch");
    public static string Hello => Path.Combine(Build, "examples", "hello");

    /// <summary>
    /// Guests that are well-behaved PV kernels, so pvport must find nothing to port in them: every SDK example, and
    /// the test guests that do not exercise privileged instructions on purpose (tests/traps does).
    /// </summary>
    public static IEnumerable<string> CleanGuests =>
        (Directory.Exists(Path.Combine(Build, "examples"))
            ? Directory.GetFiles(Path.Combine(Build, "examples")).Select(f => "examples/" + Path.GetFileName(f)).Order(StringComparer.Ordinal).AsEnumerable()
            : new[] { "examples/hello" })
        .Concat(["tests/spin", "tests/crash", "tests/version", "tests/shutdown", "tests/evtchn"]);

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Paravirt.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Paravirt.sln not found above " + AppContext.BaseDirectory);
    }

    public static string TempFile(string name) => Path.Combine(Path.GetTempPath(), $"pvport-test-{Guid.NewGuid():N}-{name}");
}
