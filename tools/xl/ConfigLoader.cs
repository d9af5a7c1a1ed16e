using Paravirt.XlConfig;

namespace Paravirt.Xl;

/// <summary>
/// xl create's local half: read the xl.cfg file, apply key=value overrides from the command line, and build the
/// typed configuration, so a syntax error is reported as <c>file:line:column: ...</c> before the daemon is involved.
/// </summary>
public static class ConfigLoader
{
    public static DomainConfig Load(string path, IReadOnlyList<string> overrides)
    {
        string fullPath = Path.GetFullPath(path);
        string text;
        try
        {
            text = File.ReadAllText(fullPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // xl: "Failed to read config file: %s: %s" (xl_vmcontrol.c).
            throw new XlFailure($"Failed to read config file: {path}: {e.Message}");
        }

        try
        {
            var file = XlConfigParser.Parse(text, path);
            foreach (string assignment in overrides)
                XlConfigParser.ApplyOverride(file, assignment);
            return XlDomainConfigReader.Read(file, Path.GetDirectoryName(fullPath) ?? "/");
        }
        catch (XlConfigException e)
        {
            throw new XlFailure(e.Message);
        }
    }
}
