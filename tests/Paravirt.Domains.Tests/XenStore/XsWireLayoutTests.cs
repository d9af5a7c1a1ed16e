using System.Runtime.InteropServices;
using NUnit.Framework;
using Paravirt.Domains.XenStore;

namespace Paravirt.Domains.Tests.XenStore;

/// <summary>Pins the numbers of xs_wire.h and xenstore-ring.txt.</summary>
public class XsWireLayoutTests
{
    [Test]
    public void Sockmsg_header_is_four_uint32_in_order()
    {
        Assert.That(Marshal.SizeOf<XsSockMsgHeader>(), Is.EqualTo(16));
        Assert.That(Marshal.OffsetOf<XsSockMsgHeader>(nameof(XsSockMsgHeader.Type)).ToInt32(), Is.EqualTo(0));
        Assert.That(Marshal.OffsetOf<XsSockMsgHeader>(nameof(XsSockMsgHeader.ReqId)).ToInt32(), Is.EqualTo(4));
        Assert.That(Marshal.OffsetOf<XsSockMsgHeader>(nameof(XsSockMsgHeader.TxId)).ToInt32(), Is.EqualTo(8));
        Assert.That(Marshal.OffsetOf<XsSockMsgHeader>(nameof(XsSockMsgHeader.Len)).ToInt32(), Is.EqualTo(12));
    }

    [Test]
    public void Header_encodes_little_endian_fields()
    {
        var bytes = new XsMessage(XsMessageType.Write, 0x01020304, 5, [9]).Encode();
        Assert.That(bytes, Is.EqualTo(new byte[] { 11, 0, 0, 0, 4, 3, 2, 1, 5, 0, 0, 0, 1, 0, 0, 0, 9 }));
    }

    [TestCase(XsMessageType.Control, 0u)]
    [TestCase(XsMessageType.Directory, 1u)]
    [TestCase(XsMessageType.Read, 2u)]
    [TestCase(XsMessageType.GetPerms, 3u)]
    [TestCase(XsMessageType.Watch, 4u)]
    [TestCase(XsMessageType.Unwatch, 5u)]
    [TestCase(XsMessageType.TransactionStart, 6u)]
    [TestCase(XsMessageType.TransactionEnd, 7u)]
    [TestCase(XsMessageType.Introduce, 8u)]
    [TestCase(XsMessageType.Release, 9u)]
    [TestCase(XsMessageType.GetDomainPath, 10u)]
    [TestCase(XsMessageType.Write, 11u)]
    [TestCase(XsMessageType.Mkdir, 12u)]
    [TestCase(XsMessageType.Rm, 13u)]
    [TestCase(XsMessageType.SetPerms, 14u)]
    [TestCase(XsMessageType.WatchEvent, 15u)]
    [TestCase(XsMessageType.Error, 16u)]
    [TestCase(XsMessageType.IsDomainIntroduced, 17u)]
    [TestCase(XsMessageType.Resume, 18u)]
    [TestCase(XsMessageType.SetTarget, 19u)]
    [TestCase(XsMessageType.Restrict, 20u)]
    [TestCase(XsMessageType.ResetWatches, 21u)]
    [TestCase(XsMessageType.DirectoryPart, 22u)]
    [TestCase(XsMessageType.Invalid, 0xffffu)]
    public void Message_type_numbers_match_xs_wire(XsMessageType type, uint value) => Assert.That((uint)type, Is.EqualTo(value));

    [Test]
    public void Ring_interface_offsets_match_xenstore_ring_txt()
    {
        Assert.That(new[] { XsRingLayout.Req, XsRingLayout.Rsp, XsRingLayout.ReqCons, XsRingLayout.ReqProd, XsRingLayout.RspCons,
                            XsRingLayout.RspProd, XsRingLayout.ServerFeatures, XsRingLayout.Connection, XsRingLayout.Error },
            Is.EqualTo(new[] { 0, 1024, 2048, 2052, 2056, 2060, 2064, 2068, 2072 }));
    }

    [Test]
    public void Limits_match_xs_wire() =>
        Assert.That((XsWire.PayloadMax, XsWire.AbsPathMax, XsWire.RelPathMax, XsWire.RingSize), Is.EqualTo((4096, 3072, 2048, 1024)));

    [TestCase(XsErrno.EINVAL, "EINVAL")]
    [TestCase(XsErrno.EACCES, "EACCES")]
    [TestCase(XsErrno.EEXIST, "EEXIST")]
    [TestCase(XsErrno.EISDIR, "EISDIR")]
    [TestCase(XsErrno.ENOENT, "ENOENT")]
    [TestCase(XsErrno.ENOMEM, "ENOMEM")]
    [TestCase(XsErrno.ENOSPC, "ENOSPC")]
    [TestCase(XsErrno.EIO, "EIO")]
    [TestCase(XsErrno.ENOTEMPTY, "ENOTEMPTY")]
    [TestCase(XsErrno.ENOSYS, "ENOSYS")]
    [TestCase(XsErrno.EROFS, "EROFS")]
    [TestCase(XsErrno.EBUSY, "EBUSY")]
    [TestCase(XsErrno.EAGAIN, "EAGAIN")]
    [TestCase(XsErrno.EISCONN, "EISCONN")]
    [TestCase(XsErrno.E2BIG, "E2BIG")]
    [TestCase(XsErrno.EPERM, "EINVAL")]
    public void Error_names_follow_the_xsd_errors_table(XsErrno errno, string name) => Assert.That(XsErrors.WireName(errno), Is.EqualTo(name));

    [Test]
    public void Errno_numbers_match_xen_errno_h() =>
        Assert.That(new[] { (int)XsErrno.ENOENT, (int)XsErrno.EAGAIN, (int)XsErrno.EACCES, (int)XsErrno.EINVAL, (int)XsErrno.ENOSPC, (int)XsErrno.ENOSYS, (int)XsErrno.E2BIG },
            Is.EqualTo(new[] { 2, 11, 13, 22, 28, 38, 7 }));
}
