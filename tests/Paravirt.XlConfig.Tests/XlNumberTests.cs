using NUnit.Framework;

namespace Paravirt.XlConfig.Tests;

/// <summary>Atoms read as numbers with strtol(text, &amp;end, 0), as libxlu's xlu_cfg_get_long does.</summary>
public class XlNumberTests
{
    [TestCase("64", 64L)]
    [TestCase("0", 0L)]
    [TestCase("0x40", 64L)]
    [TestCase("0X40", 64L)]
    [TestCase("0100", 64L)]
    [TestCase(" \t64", 64L)]
    [TestCase("+64", 64L)]
    [TestCase("-64", -64L)]
    [TestCase("9223372036854775807", long.MaxValue)]
    [TestCase("-9223372036854775808", long.MinValue)]
    [TestCase("0x7fffffffffffffff", long.MaxValue)]
    public void ValidNumbersReadAsStrtolBaseZero(string text, long value)
    {
        Assert.That(XlNumber.TryParse(text, out long v), Is.EqualTo(XlNumber.Result.Ok));
        Assert.That(v, Is.EqualTo(value));
    }

    [TestCase("")]
    [TestCase(" ")]
    [TestCase("-")]
    [TestCase("0x")]
    [TestCase("08")]
    [TestCase("12ab")]
    [TestCase("64 ")]
    [TestCase("lots")]
    [TestCase("0xg")]
    [TestCase("1e3")]
    public void OtherTextIsNotANumber(string text) => Assert.That(XlNumber.TryParse(text, out _), Is.EqualTo(XlNumber.Result.NotANumber));

    [TestCase("9223372036854775808")]
    [TestCase("-9223372036854775809")]
    [TestCase("0x10000000000000000")]
    [TestCase("99999999999999999999999999")]
    public void NumbersBeyondALongAreOutOfRange(string text) => Assert.That(XlNumber.TryParse(text, out _), Is.EqualTo(XlNumber.Result.OutOfRange));
}
