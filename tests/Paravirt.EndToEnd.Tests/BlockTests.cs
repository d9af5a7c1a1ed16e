using System.Buffers.Binary;
using System.Security.Cryptography;
using NUnit.Framework;

namespace Paravirt.EndToEnd.Tests;

/// <summary>
/// The blk example (guest-sdk/examples/blk: blkfront in the guest SDK runtime) against blkback in Dom0, through
/// `xl create -c` with a disk from xl.cfg: the guest writes a seeded pattern over a sparse raw image, flushes and
/// powers off; the image file must then hold exactly the bytes computed here from the same seed; a second boot
/// reads it back and verifies. The image is the acceptance's 256 MiB (about half a minute per pass on the emulated CPU).
/// </summary>
[NonParallelizable]
public class BlockTests
{
    private Xl _xl = null!;

    [OneTimeSetUp]
    public void Start() => _xl = new Xl();

    [OneTimeTearDown]
    public void Stop() => _xl.Dispose();

    private static string Example => Path.Combine(Xl.RepoRoot, "xl-config", "examples", "blk.cfg");

    /// <summary>Word w (bytes 8w..8w+7, little-endian) of the disk is splitmix64(seed + w), as in blk.c.</summary>
    private static ulong SplitMix64(ulong x)
    {
        x += 0x9e3779b97f4a7c15UL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9UL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebUL;
        return x ^ (x >> 31);
    }

    private static string ExpectedSha256(long bytes, ulong seed)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var chunk = new byte[1 << 20];
        ulong word = 0;
        for (long done = 0; done < bytes; done += chunk.Length)
        {
            int n = (int)Math.Min(chunk.Length, bytes - done);
            for (int i = 0; i < n; i += 8, word++)
                BinaryPrimitives.WriteUInt64LittleEndian(chunk.AsSpan(i), SplitMix64(seed + word));
            sha.AppendData(chunk, 0, n);
        }
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    private static string FileSha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(f));
    }

    private string SparseImage(string name, long bytes)
    {
        var path = Path.Combine(_xl.RunDir, name + ".img");
        using (var f = new FileStream(path, FileMode.CreateNew)) f.SetLength(bytes);
        return path;
    }

    private XlResult Boot(string name, string image, string extra, string access = "rw", int timeoutSeconds = 300) =>
        _xl.Run(TimeSpan.FromSeconds(timeoutSeconds), "create", "-c", Example, $"name=\"{name}\"",
                $"disk=[\"{image},raw,xvda,{access}\"]", $"extra=\"{extra}\"");

    private void WriteChecksumAndVerify(long mib, ulong seed, int timeoutSeconds)
    {
        long bytes = mib << 20;
        var image = SparseImage($"pattern{mib}", bytes);

        var w = Boot($"blk-write-{mib}", image, $"write seed={seed}", timeoutSeconds: timeoutSeconds);
        Assert.That(w.Stdout, Does.Contain($"blk: device/vbd/51712: {bytes / 512} sectors of 512 bytes"), w.ToString());
        Assert.That(w.Stdout, Does.Contain($"blk: wrote {mib} MiB (seed {seed})\nblk: flushed\n"), w.ToString());
        Assert.That(w.Stdout, Does.Contain("blk: done ("), w.ToString());
        Assert.That(w.ExitCode, Is.Zero, w.ToString());

        Assert.That(new FileInfo(image).Length, Is.EqualTo(bytes), "the image keeps its size");
        Assert.That(FileSha256(image), Is.EqualTo(ExpectedSha256(bytes, seed)), "image checksum");

        var r = Boot($"blk-verify-{mib}", image, $"verify seed={seed}", timeoutSeconds: timeoutSeconds);
        Assert.That(r.Stdout, Does.Contain($"blk: verified {mib} MiB (seed {seed})\n"), r.ToString());
        Assert.That(r.Stdout, Does.Contain(", 0 errors)"), r.ToString());
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
    }

    [Test]
    public void TheBlkGuestWritesTheSeededPatternOver256MiBFlushesAndASecondBootVerifiesIt() =>
        WriteChecksumAndVerify(mib: 256, seed: 2026, timeoutSeconds: 900);

    [TestCase("nopersistent", "")]
    [TestCase("noindirect", "nopersistent")]
    [TestCase("nopersistent noindirect", "noindirect")]
    public void EveryProtocolVariantWritesTheSameBytes(string writeFlags, string verifyFlags)
    {
        // Declined features: grants per request instead of persistent ones, direct (11-segment) requests instead of
        // indirect ones; the bytes on disk and the read-back must not depend on how they travelled.
        const ulong seed = 3;
        long bytes = 8L << 20;
        var image = SparseImage("variant-" + writeFlags.Replace(' ', '-'), bytes);
        var w = Boot("blk-variant-write", image, $"write seed={seed} {writeFlags}");
        string grants = writeFlags.Contains("nopersistent", StringComparison.Ordinal) ? "per-request grants" : "persistent grants";
        string indirect = writeFlags.Contains("noindirect", StringComparison.Ordinal) ? "indirect 0" : "indirect 64";
        Assert.That(w.Stdout, Does.Contain($"{grants}, {indirect}\n"), w.ToString());
        Assert.That(w.Stdout, Does.Contain("blk: flushed\n"), w.ToString());
        Assert.That(FileSha256(image), Is.EqualTo(ExpectedSha256(bytes, seed)), "image checksum");
        var r = Boot("blk-variant-verify", image, $"verify seed={seed} {verifyFlags}");
        Assert.That(r.Stdout, Does.Contain($"blk: verified 8 MiB (seed {seed})\n"), r.ToString());
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
    }

    [Test]
    public void VerifyingAgainstAnImageWithOneFlippedByteFailsAndNamesTheSector()
    {
        const ulong seed = 9;
        long bytes = 4L << 20;
        var image = SparseImage("flipped", bytes);
        var w = Boot("blk-write-flip", image, $"write seed={seed}");
        Assert.That(w.Stdout, Does.Contain("blk: flushed\n"), w.ToString());

        long offset = 3 * 512 * 1000 + 77;     // sector 3000
        using (var f = new FileStream(image, FileMode.Open))
        {
            f.Position = offset;
            int b = f.ReadByte();
            f.Position = offset;
            f.WriteByte((byte)(b ^ 0x40));
        }
        var r = Boot("blk-verify-flip", image, $"verify seed={seed}");
        Assert.That(r.Stdout, Does.Contain($"blk: mismatch in sector {offset / 512} word {offset % 512 / 8}\n"), r.ToString());
        Assert.That(r.Stdout, Does.Contain("blk: verify FAILED: 1 bad words\n"), r.ToString());
        Assert.That(r.Stdout, Does.Not.Contain("blk: verified"), r.ToString());

        var other = Boot("blk-verify-seed", image, $"verify seed={seed + 1}");
        Assert.That(other.Stdout, Does.Contain("blk: verify FAILED"), "another seed is another pattern: " + other);
    }

    [Test]
    public void AReadOnlyDiskRefusesWritesInTheFrontEndAndStaysUntouched()
    {
        var image = SparseImage("readonly", 1L << 20);
        var r = Boot("blk-ro", image, "write seed=1", access: "ro");
        Assert.That(r.Stdout, Does.Contain("blk: write of sectors 0+512 failed (error -30)"), r.ToString());  // -XEN_EROFS, before any request
        Assert.That(r.Stdout, Does.Contain("blk: FAILED (0 requests, 0 errors)"), r.ToString());
        var bytes = File.ReadAllBytes(image);
        Assert.That(bytes.All(b => b == 0), Is.True, "nothing was written");
    }
}
