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
    private static string Sha256Of(string path, long bytes)
    {
        using var f = File.OpenRead(path);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buf = new byte[1 << 20];
        for (long done = 0; done < bytes;)
        {
            int n = f.Read(buf, 0, (int)Math.Min(buf.Length, bytes - done));
            if (n == 0) break;
            sha.AppendData(buf, 0, n);
            done += n;
        }
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    private static long ReadWord(string path, long offset)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var b = new byte[8];
        f.Position = offset;
        f.ReadExactly(b);
        return BinaryPrimitives.ReadInt64LittleEndian(b);
    }

    private uint DomIdOf(string name)
    {
        var line = _xl.Run("list", name).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Single();
        return uint.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
    }

    private IEnumerable<string> ListedNames() =>
        _xl.Run("list").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(' ', 2)[0]);

    [Test]
    public void ADiskServedFromADriverDomainCarriesThePatternAndBlockListShowsTheBackendId()
    {
        var dd = _xl.Run("create", _xl.Config("storage", "name = \"storage\"\ndriver_domain = 1\n"));
        Assert.That(dd.ExitCode, Is.Zero, dd.ToString());
        uint ddId = DomIdOf("storage");
        const ulong seed = 11;
        long bytes = 4L << 20;
        var image = SparseImage("driverdomain", bytes);
        var create = _xl.Run("create", "-p", Example, "name=\"blk-dd\"", $"disk=[\"{image},raw,xvda,rw,backend=storage\"]", $"extra=\"write seed={seed}\"");
        Assert.That(create.ExitCode, Is.Zero, create.ToString());

        var list = _xl.Run("block-list", "blk-dd");
        var row = list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Single().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(row[0], Is.EqualTo("51712"), list.ToString());
        Assert.That(row[1], Is.EqualTo(ddId.ToString()), "BE column: " + list);
        Assert.That(row[^1], Does.StartWith($"/local/domain/{ddId}/backend/vbd/"), list.ToString());

        using (var console = _xl.Start("console", "blk-dd"))
        {
            Thread.Sleep(500); // let the console attach before the guest runs
            Assert.That(_xl.Run("unpause", "blk-dd").ExitCode, Is.Zero);
            Assert.That(console.Process.WaitForExit(120_000), Is.True, "console exits when the guest dies: " + console.Output);
            Assert.That(console.Output, Does.Contain($"blk: wrote 4 MiB (seed {seed})\nblk: flushed\n"), console.Output);
            Assert.That(console.Output, Does.Contain("blk: done ("), console.Output);
        }
        Assert.That(FileSha256(image), Is.EqualTo(ExpectedSha256(bytes, seed)), "image checksum");

        var destroy = _xl.Run("destroy", "storage");
        Assert.That(destroy.ExitCode, Is.Zero, destroy.ToString());
        Assert.That(ListedNames(), Does.Not.Contain("storage"));
    }

    [Test]
    public void KillingTheGuestMidWriteLeavesEverySectorItHadFlushedIntact()
    {
        const ulong seed = 21;
        const long flushedMiB = 2;
        var image = SparseImage("killed", 16L << 20);
        var create = _xl.Run("create", Example, "name=\"blk-kill\"", $"disk=[\"{image},raw,xvda,rw\"]", $"extra=\"endure seed={seed} mib={flushedMiB}\"");
        Assert.That(create.ExitCode, Is.Zero, create.ToString());
        using (var console = _xl.Start("console", "blk-kill"))
        {
            Assert.That(Xl.WaitUntil(() => console.Output.Contains("blk: writing on past sector", StringComparison.Ordinal), TimeSpan.FromSeconds(120)),
                Is.True, console.Output);
            Assert.That(console.Output, Does.Contain($"blk: flushed sectors 0+{flushedMiB << 11} (seed {seed})"), console.Output);
            // Kill it once its unflushed writes are reaching the image, well past the flushed region.
            Assert.That(Xl.WaitUntil(() => ReadWord(image, (flushedMiB + 2) << 20) != 0, TimeSpan.FromSeconds(120)), Is.True,
                "the guest writes on after its flush: " + console.Output);
            var destroy = _xl.Run("destroy", "blk-kill");
            Assert.That(destroy.ExitCode, Is.Zero, destroy.ToString());
            Assert.That(console.Process.WaitForExit(30_000), Is.True);
            Assert.That(console.Output, Does.Not.Contain("blk: done"), "it was killed, not finished");
        }
        Assert.That(Sha256Of(image, flushedMiB << 20), Is.EqualTo(ExpectedSha256(flushedMiB << 20, seed)), "the flushed sectors");
    }

    [Test]
    public void DestroyingTheDriverDomainMidWriteFailsTheGuestsIoAndKeepsItsFlushedSectors()
    {
        var dd = _xl.Run("create", _xl.Config("storage2", "name = \"storage2\"\ndriver_domain = 1\n"));
        Assert.That(dd.ExitCode, Is.Zero, dd.ToString());
        const ulong seed = 41;
        const long flushedMiB = 2;
        var image = SparseImage("ddkilled", 16L << 20);
        var create = _xl.Run("create", Example, "name=\"blk-ddkill\"", $"disk=[\"{image},raw,xvda,rw,backend=storage2\"]",
            $"extra=\"endure seed={seed} mib={flushedMiB}\"");
        Assert.That(create.ExitCode, Is.Zero, create.ToString());
        using (var console = _xl.Start("console", "blk-ddkill"))
        {
            Assert.That(Xl.WaitUntil(() => console.Output.Contains("blk: writing on past sector", StringComparison.Ordinal), TimeSpan.FromSeconds(120)),
                Is.True, console.Output);
            Assert.That(Xl.WaitUntil(() => ReadWord(image, (flushedMiB + 2) << 20) != 0, TimeSpan.FromSeconds(120)), Is.True, console.Output);
            var destroy = _xl.Run("destroy", "storage2");
            Assert.That(destroy.ExitCode, Is.Zero, destroy.ToString());
            // blkfront sees its back-end go (Closing, Closed, then gone), fails the write in flight and the guest ends.
            Assert.That(console.Process.WaitForExit(60_000), Is.True, "the guest noticed its back-end went: " + console.Output);
            Assert.That(console.Output, Does.Match(@"blk: write of sectors [0-9]+\+[0-9]+ failed \(error -5\)\n"), console.Output);
            Assert.That(console.Output, Does.Contain("blk: FAILED ("), console.Output);
        }
        Assert.That(ListedNames(), Does.Not.Contain("storage2"));
        Assert.That(_xl.Run("dmesg").Stdout, Does.Contain("driver domain \"storage2\" destroyed (1 device(s) closed)"));
        Assert.That(Sha256Of(image, flushedMiB << 20), Is.EqualTo(ExpectedSha256(flushedMiB << 20, seed)), "the flushed sectors");
    }

    [Test]
    public void AHostileCFrontEndGetsOnlyErrorsWhileAWellBehavedGuestOnAnotherDiskKeepsWorking()
    {
        const ulong seed = 31;
        const long flushedMiB = 2;
        var good = SparseImage("good", 8L << 20);
        var fuzzImage = SparseImage("fuzz", 4L << 20);
        var fuzzCfg = _xl.GuestConfig("blkfuzz", Path.Combine(Xl.GuestBuild, "tests", "blkfuzz"), memory: 32,
            extra: $"disk = [ \"{fuzzImage},raw,xvda,rw\" ]\nextra = \"rounds=600 seed=5\"\non_poweroff = \"destroy\"\non_crash = \"destroy\"\n");

        // The well-behaved guest writes all along (endure: flush a region, then rewrite the rest until destroyed).
        var create = _xl.Run("create", Example, "name=\"blk-good\"", $"disk=[\"{good},raw,xvda,rw\"]", $"extra=\"endure seed={seed} mib={flushedMiB}\"");
        Assert.That(create.ExitCode, Is.Zero, create.ToString());
        using var writer = _xl.Start("console", "blk-good");
        Assert.That(Xl.WaitUntil(() => writer.Output.Contains("blk: writing on past sector", StringComparison.Ordinal), TimeSpan.FromSeconds(120)),
            Is.True, writer.Output);

        var fuzz = _xl.Run(TimeSpan.FromSeconds(300), "create", "-c", fuzzCfg);
        Assert.That(fuzz.Stdout, Does.Match(@"blkfuzz: [0-9]+ hostile requests: [0-9]+ errors, [0-9]+ unsupported, 0 okay, 0 lost\n"), fuzz.ToString());
        Assert.That(fuzz.Stdout, Does.Contain("blkfuzz: honest write and read back of sectors 8+8 ok\n"), fuzz.ToString());
        Assert.That(fuzz.Stdout, Does.Contain("blkfuzz: back-end closed the ring after req_prod went backwards"), fuzz.ToString());
        Assert.That(fuzz.Stdout, Does.Contain("blkfuzz: PASS\n"), fuzz.ToString());
        Assert.That(fuzz.ExitCode, Is.Zero, fuzz.ToString());
        var bytes = File.ReadAllBytes(fuzzImage);
        Assert.That(bytes.AsSpan(4096, 4096).ToArray().All(b => b == 0xa5), Is.True, "the honest write landed");
        Assert.That(bytes.Take(4096).Concat(bytes.Skip(8192)).All(b => b == 0), Is.True, "no hostile write landed");
        Assert.That(_xl.Run("dmesg").Stdout, Does.Contain("front-end produced bogus ring requests"));

        // The well-behaved guest was writing throughout and still is; what it flushed is intact.
        Assert.That(ListedNames(), Does.Contain("blk-good"));
        Assert.That(writer.Output, Does.Not.Contain("failed"), writer.Output);
        Assert.That(_xl.Run("destroy", "blk-good").ExitCode, Is.Zero);
        Assert.That(Sha256Of(good, flushedMiB << 20), Is.EqualTo(ExpectedSha256(flushedMiB << 20, seed)), "the well-behaved guest's flushed sectors");

        // Dom0 and blkback still serve new guests.
        var fresh = SparseImage("after-fuzz", 1L << 20);
        var r = Boot("blk-after-fuzz", fresh, "write seed=32");
        Assert.That(r.Stdout, Does.Contain("blk: flushed\n"), r.ToString());
        Assert.That(FileSha256(fresh), Is.EqualTo(ExpectedSha256(1L << 20, 32)));
    }

    [Test]
    public void AHostileCFrontEndServedByADriverDomainGetsOnlyErrorsAndTheDriverDomainKeepsServing()
    {
        var dd = _xl.Run("create", _xl.Config("storage-fuzz", "name = \"storage-fuzz\"\ndriver_domain = 1\n"));
        Assert.That(dd.ExitCode, Is.Zero, dd.ToString());
        var fuzzImage = SparseImage("fuzz-dd", 4L << 20);
        var fuzzCfg = _xl.GuestConfig("blkfuzz-dd", Path.Combine(Xl.GuestBuild, "tests", "blkfuzz"), memory: 32,
            extra: $"disk = [ \"{fuzzImage},raw,xvda,rw,backend=storage-fuzz\" ]\nextra = \"rounds=600 seed=6\"\non_poweroff = \"destroy\"\non_crash = \"destroy\"\n");

        var fuzz = _xl.Run(TimeSpan.FromSeconds(300), "create", "-c", fuzzCfg);
        Assert.That(fuzz.Stdout, Does.Match(@"blkfuzz: [0-9]+ hostile requests: [0-9]+ errors, [0-9]+ unsupported, 0 okay, 0 lost\n"), fuzz.ToString());
        Assert.That(fuzz.Stdout, Does.Contain("blkfuzz: back-end closed the ring after req_prod went backwards"), fuzz.ToString());
        Assert.That(fuzz.Stdout, Does.Contain("blkfuzz: PASS\n"), fuzz.ToString());
        var bytes = File.ReadAllBytes(fuzzImage);
        Assert.That(bytes.Take(4096).Concat(bytes.Skip(8192)).All(b => b == 0), Is.True, "no hostile write landed");

        // The driver domain is still there and serves the next guest.
        Assert.That(ListedNames(), Does.Contain("storage-fuzz"));
        var fresh = SparseImage("after-fuzz-dd", 1L << 20);
        var create = _xl.Run(TimeSpan.FromSeconds(120), "create", "-c", Example, "name=\"blk-after-fuzz-dd\"",
            $"disk=[\"{fresh},raw,xvda,rw,backend=storage-fuzz\"]", "extra=\"write seed=33\"");
        Assert.That(create.Stdout, Does.Contain("blk: flushed\n"), create.ToString());
        Assert.That(FileSha256(fresh), Is.EqualTo(ExpectedSha256(1L << 20, 33)));
        Assert.That(_xl.Run("destroy", "storage-fuzz").ExitCode, Is.Zero);
    }
}
