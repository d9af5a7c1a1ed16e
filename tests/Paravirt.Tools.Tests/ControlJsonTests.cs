using System.Text;
using NUnit.Framework;
using Paravirt.Control.Messages;
using Paravirt.Control.Protocol;
using Paravirt.XlConfig;

namespace Paravirt.Tools.Tests;

public class ControlJsonTests
{
    private static ControlRequest Decode(string json) => ControlJson.Deserialize<ControlRequest>(Encoding.UTF8.GetBytes(json));

    [Test]
    public void ACreateRequestRoundTripsWithItsWholeConfig()
    {
        var config = new DomainConfig
        {
            Name = "hello", Uuid = Guid.Parse("6b9c3e2a-1f44-4f0e-9d51-0f1b2c3d4e5f"), MemoryMiB = 64, Vcpus = 2,
            Kernel = "/k/hello.elf", Ramdisk = "/k/initrd", Cmdline = "console=hvc0", OnCrash = DomainAction.Preserve,
        };
        var request = new ControlRequest { Op = ControlOps.Create, Config = config, Paused = true, Console = true };

        var back = ControlJson.Deserialize<ControlRequest>(ControlJson.Serialize(request));

        Assert.That(back.Op, Is.EqualTo("create"));
        Assert.That(back.Paused && back.Console, Is.True);
        Assert.That(back.Config, Is.Not.Null);
        Assert.That(ControlJson.Serialize(back.Config!), Is.EqualTo(ControlJson.Serialize(config)));
    }

    [Test]
    public void EnumsTravelByName()
    {
        var json = Encoding.UTF8.GetString(ControlJson.Serialize(new DomainEndInfo { Reason = DomainShutdownReason.Crash }));
        Assert.That(json, Does.Contain("\"Crash\""));
    }

    [TestCase("not json", TestName = "NotJsonIsAProtocolError")]
    [TestCase("[1,2]", TestName = "AJsonArrayIsAProtocolError")]
    [TestCase("null", TestName = "AJsonNullIsAProtocolError")]
    [TestCase("\"op\"", TestName = "AJsonStringIsAProtocolError")]
    [TestCase("{\"Op\":\"list\"} {}", TestName = "TrailingDataIsAProtocolError")]
    [TestCase("{\"Op\":\"list\"", TestName = "ATruncatedObjectIsAProtocolError")]
    [TestCase("{\"Paused\":\"maybe\"}", TestName = "AWrongValueTypeIsAProtocolError")]
    [TestCase("{\"Config\":{\"OnCrash\":3}}", TestName = "AnIntegerForAnEnumIsAProtocolError")]
    [TestCase("{\"Config\":{\"OnCrash\":\"Explode\"}}", TestName = "AnUnknownEnumNameIsAProtocolError")]
    [TestCase("{\"Config\":{\"MemoryMiB\":1e400}}", TestName = "AnOutOfRangeNumberIsAProtocolError")]
    [TestCase("{\"Config\":{\"Uuid\":\"not-a-uuid\"}}", TestName = "AMalformedUuidIsAProtocolError")]
    public void HostileJsonIsAProtocolError(string json)
    {
        Assert.Throws<ProtocolException>(() => Decode(json));
    }

    [Test]
    public void DeepNestingIsAProtocolError()
    {
        string deep = "{\"Op\":" + new string('[', 200) + new string(']', 200) + "}";
        Assert.Throws<ProtocolException>(() => Decode(deep));
    }

    [Test]
    public void InvalidUtf8IsAProtocolError()
    {
        var e = Assert.Throws<ProtocolException>(() => ControlJson.Deserialize<ControlRequest>(new byte[] { (byte)'{', 0xC3, 0x28, (byte)'}' }));
        Assert.That(e!.Message, Does.Contain("UTF-8"));
    }

    [Test]
    public void TypeNamesOnTheWireAreIgnored()
    {
        var request = Decode("{\"$type\":\"System.IO.FileInfo, System.IO.FileSystem\",\"Op\":\"list\"}");
        Assert.That(request, Is.TypeOf<ControlRequest>());
        Assert.That(request.Op, Is.EqualTo("list"));
    }

    [Test]
    public void UnknownMembersAreIgnored()
    {
        Assert.That(Decode("{\"Op\":\"ping\",\"Future\":42}").Op, Is.EqualTo("ping"));
    }

    [Test]
    public void ANullOnTheWireLeavesANonNullablePropertyAtItsDefault()
    {
        var request = Decode("{\"Op\":null,\"Config\":{\"Name\":null,\"Kernel\":null}}");
        Assert.That(request.Op, Is.Empty);
        Assert.That(request.Config!.Name, Is.Empty);
        Assert.That(request.Config.Kernel, Is.Empty);
    }

    [Test]
    public void ANullInANonNullablePropertyIsFoundByValidation()
    {
        var request = new ControlRequest { Op = "create", Config = new DomainConfig { Name = null! } };
        Assert.That(MessageValidation.FindMissingValue(request), Is.EqualTo("ControlRequest.Config.Name"));
    }

    [Test]
    public void NullsWhereTheTypeAllowsThemPassValidation()
    {
        var request = Decode("{\"Op\":\"create\",\"Domain\":null,\"Config\":{\"Name\":\"a\",\"Ramdisk\":null,\"Uuid\":null}}");
        Assert.That(MessageValidation.FindMissingValue(request), Is.Null);
    }

    [Test]
    public void ANullInsideAReplyListIsFoundByValidation()
    {
        var reply = ControlJson.Deserialize<ControlResponse>("{\"Ok\":true,\"Domains\":[{\"Name\":\"a\"},null]}"u8);
        Assert.That(MessageValidation.FindMissingValue(reply), Is.EqualTo("ControlResponse.Domains[1]"));
    }
}
