using System.Text;
using NUnit.Framework;
using Paravirt.Domains.XenStore;

namespace Paravirt.Domains.Tests.XenStore;

/// <summary>Path rules of docs/misc/xenstore.txt as xenstored's canonicalize applies them.</summary>
public class XenStorePathTests
{
    [TestCase("/", false, "/")]
    [TestCase("/local/domain/3/x", false, "/local/domain/3/x")]
    [TestCase("x/y", false, "/local/domain/5/x/y")]
    [TestCase("A-Z_a-z0-9@", false, "/local/domain/5/A-Z_a-z0-9@")]
    [TestCase("@releaseDomain", true, "@releaseDomain")]
    public void Valid_paths_canonicalize(string raw, bool allowSpecial, string expected)
    {
        Assert.That(XenStorePath.Canonicalize(Encoding.ASCII.GetBytes(raw), 5, allowSpecial, true, out var path), Is.EqualTo(XsErrno.None));
        Assert.That(path, Is.EqualTo(expected));
    }

    [TestCase("")]
    [TestCase("//")]
    [TestCase("/a//b")]
    [TestCase("/a/")]
    [TestCase("x/")]
    [TestCase("/a b")]
    [TestCase("/a\tb")]
    [TestCase("/ä")]
    [TestCase("@releaseDomain")]
    public void Invalid_paths_are_einval(string raw) =>
        Assert.That(XenStorePath.Canonicalize(Encoding.Latin1.GetBytes(raw), 5, false, true, out _), Is.EqualTo(XsErrno.EINVAL));

    [TestCase("/a/b/c", "/a/b")]
    [TestCase("/a", "/")]
    [TestCase("@introduceDomain", "/")]
    public void Parent_of_a_path(string path, string parent) => Assert.That(XenStorePath.Parent(path), Is.EqualTo(parent));

    [TestCase("/a/b", "/a", true)]
    [TestCase("/a", "/a", true)]
    [TestCase("/ab", "/a", false)]
    [TestCase("/anything", "/", true)]
    [TestCase("/a", "/a/b", false)]
    public void Child_relation_of_xenstore_txt(string child, string parent, bool expected) =>
        Assert.That(XenStorePath.IsChildOf(child, parent), Is.EqualTo(expected));

    [TestCase("/local/domain/12/x", 17)]
    [TestCase("/local/domain/123456/x", 0)]
    [TestCase("/local/domain/12", 0)]
    [TestCase("/other", 0)]
    public void Local_prefix_length_matches_xenstoreds_pattern(string path, int length) =>
        Assert.That(XenStorePath.LocalPrefixLength(path), Is.EqualTo(length));
}
