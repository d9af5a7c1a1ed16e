using NUnit.Framework;
using System.Text;
using Paravirt.Domains.XenStore;
using T = Paravirt.Domains.XenStore.XsMessageType;

namespace Paravirt.Domains.Tests.XenStore;

/// <summary>Each request type of docs/misc/xenstore.txt, its reply and its error paths.</summary>
public class XenStoreMessageTests
{
    private XenStoreDaemon _daemon = null!;
    private XenStoreLocalConnection _dom0 = null!;
    private XenStoreLocalConnection _dom1 = null!;

    [SetUp]
    public void SetUp()
    {
        _daemon = new XenStoreDaemon();
        _dom0 = _daemon.Connect(0);
        _dom1 = _daemon.Connect(1);
        // What a toolstack does for a new domain: its home, owned by it.
        _dom0.Mkdir("/local/domain/1");
        _dom0.SetPerms("/local/domain/1", [new XsPermission(1, XsPerm.None)]);
        _dom0.Mkdir("/local/domain/2");
        _dom0.SetPerms("/local/domain/2", [new XsPermission(2, XsPerm.None)]);
    }

    [TearDown]
    public void NoInternalFaults() => Assert.That(_daemon.InternalFaults, Is.Zero);

    [Test]
    public void Reply_echoes_type_req_id_and_tx_id()
    {
        var req = XsMessage.WriteRequest(4242, 0, "/a", "v"u8);
        var reply = _dom0.Send(req);
        Assert.That((reply.Type, reply.ReqId, reply.TxId), Is.EqualTo((T.Write, 4242u, 0u)));
    }

    [Test]
    public void Error_reply_keeps_req_id_and_tx_id_with_type_error()
    {
        var tx = _dom0.TransactionStart();
        var reply = _dom0.Send(XsMessage.FromStrings(T.Read, 77, tx, "/missing"));
        Assert.That((reply.Type, reply.ReqId, reply.TxId), Is.EqualTo((T.Error, 77u, tx)));
        XsAssert.IsError(reply, "ENOENT");
    }

    [Test]
    public void Read_returns_the_value_written_without_a_trailing_nul()
    {
        _dom0.Send(Msg.Write("/a/b", "hello"));
        var reply = _dom0.Send(Msg.Of(T.Read, "/a/b"));
        Assert.That(reply.Payload, Is.EqualTo("hello"u8.ToArray()));
    }

    [Test]
    public void Write_stores_binary_values_with_embedded_nuls()
    {
        byte[] value = [1, 0, 2, 0, 0, 255];
        _dom0.Send(XsMessage.WriteRequest(1, 0, "/bin", value));
        Assert.That(_dom0.Read("/bin"), Is.EqualTo(value));
    }

    [Test]
    public void Write_creates_missing_parents_with_empty_values()
    {
        XsAssert.IsOk(_dom0.Send(Msg.Write("/x/y/z", "v")), T.Write);
        Assert.That(_dom0.Read("/x/y"), Is.Empty);
        Assert.That(_dom0.Directory("/x"), Is.EqualTo(new[] { "y" }));
    }

    [Test]
    public void Write_without_any_nul_is_einval() =>
        XsAssert.IsError(_dom0.Send(Msg.Raw(T.Write, "/a"u8.ToArray())), "EINVAL");

    [Test]
    public void Read_of_missing_node_is_enoent() => XsAssert.IsError(_dom0.Send(Msg.Of(T.Read, "/nope")), "ENOENT");

    [TestCase(new byte[0], TestName = "Read_with_empty_payload_is_einval")]
    [TestCase(new byte[] { (byte)'/', (byte)'a' }, TestName = "Read_without_nul_is_einval")]
    [TestCase(new byte[] { (byte)'/', (byte)'a', 0, (byte)'b', 0 }, TestName = "Read_with_two_strings_is_einval")]
    [TestCase(new byte[] { (byte)'/', (byte)'a', 0, (byte)'b' }, TestName = "Read_with_bytes_after_the_nul_is_einval")]
    public void Read_payload_must_be_exactly_one_string(byte[] payload) =>
        XsAssert.IsError(_dom0.Send(Msg.Raw(T.Read, payload)), "EINVAL");

    [TestCase("/a//b")]
    [TestCase("/a/")]
    [TestCase("/a b")]
    [TestCase("/a.b")]
    [TestCase("@special")]
    [TestCase("")]
    public void Invalid_paths_are_einval(string path) => XsAssert.IsError(_dom0.Send(Msg.Of(T.Read, path)), "EINVAL");

    [Test]
    public void Relative_paths_resolve_below_the_callers_domain_path()
    {
        _dom1.Send(Msg.Write("data/x", "1"));
        Assert.That(_dom0.ReadString("/local/domain/1/data/x"), Is.EqualTo("1"));
    }

    [Test]
    public void Mkdir_creates_an_empty_node_and_leaves_existing_values_alone()
    {
        _dom0.Write("/m", "keep");
        XsAssert.IsOk(_dom0.Send(Msg.Of(T.Mkdir, "/m")), T.Mkdir);
        XsAssert.IsOk(_dom0.Send(Msg.Of(T.Mkdir, "/m/n/o")), T.Mkdir);
        Assert.That(_dom0.ReadString("/m"), Is.EqualTo("keep"));
        Assert.That(_dom0.Read("/m/n/o"), Is.Empty);
    }

    [Test]
    public void Rm_deletes_the_node_and_all_children()
    {
        _dom0.Write("/r/a/b", "1");
        _dom0.Write("/r/c", "2");
        XsAssert.IsOk(_dom0.Send(Msg.Of(T.Rm, "/r")), T.Rm);
        XsAssert.IsError(_dom0.Send(Msg.Of(T.Read, "/r/a/b")), "ENOENT");
        Assert.That(_dom0.Directory("/"), Does.Not.Contain("r"));
    }

    [Test]
    public void Rm_of_missing_node_with_existing_parent_is_ok() =>
        XsAssert.IsOk(_dom0.Send(Msg.Of(T.Rm, "/tool/none")), T.Rm);

    [Test]
    public void Rm_of_missing_node_with_missing_parent_is_enoent() =>
        XsAssert.IsError(_dom0.Send(Msg.Of(T.Rm, "/none/none")), "ENOENT");

    [Test]
    public void Rm_of_root_is_einval() => XsAssert.IsError(_dom0.Send(Msg.Of(T.Rm, "/")), "EINVAL");

    [Test]
    public void Directory_lists_leaf_names_in_creation_order()
    {
        _dom0.Write("/d/b", "");
        _dom0.Write("/d/a", "");
        _dom0.Write("/d/c", "");
        var reply = _dom0.Send(Msg.Of(T.Directory, "/d"));
        Assert.That(Encoding.ASCII.GetString(reply.Payload), Is.EqualTo("b\0a\0c\0"));
    }

    [Test]
    public void Directory_of_a_leaf_is_empty() =>
        Assert.That(_dom0.Send(Msg.Of(T.Directory, "/tool/xenstored")).Payload, Is.Empty);

    [Test]
    public void Directory_longer_than_the_payload_limit_is_e2big()
    {
        for (int i = 0; i < 300; i++) _dom0.Mkdir($"/big/child-with-a-long-name-{i:D5}");
        XsAssert.IsError(_dom0.Send(Msg.Of(T.Directory, "/big")), "E2BIG");
    }

    [Test]
    public void Directory_part_pages_through_a_long_list_with_a_stable_generation()
    {
        var names = Enumerable.Range(0, 300).Select(i => $"child-with-a-long-name-{i:D5}").ToList();
        foreach (var n in names) _dom0.Mkdir("/big/" + n);
        var collected = new List<string>();
        string? generation = null;
        int offset = 0;
        for (int pages = 0; pages < 10; pages++)
        {
            var reply = _dom0.Send(Msg.Of(T.DirectoryPart, "/big", offset.ToString()));
            Assert.That(reply.Type, Is.EqualTo(T.DirectoryPart));
            var parts = Encoding.ASCII.GetString(reply.Payload).Split('\0');
            generation ??= parts[0];
            Assert.That(parts[0], Is.EqualTo(generation));
            bool end = reply.Payload.Length >= 2 && reply.Payload[^1] == 0 && reply.Payload[^2] == 0;
            var children = parts.Skip(1).Where(p => p.Length > 0).ToList();
            collected.AddRange(children);
            offset += children.Sum(c => c.Length + 1);
            if (end) break;
        }
        Assert.That(collected, Is.EqualTo(names));
    }

    [Test]
    public void Directory_part_past_the_end_answers_generation_and_empty_list()
    {
        _dom0.Mkdir("/p/a");
        var reply = _dom0.Send(Msg.Of(T.DirectoryPart, "/p", "100"));
        var text = Encoding.ASCII.GetString(reply.Payload);
        Assert.That(text, Does.Match("^[0-9]+\0\0$"));
    }

    [Test]
    public void Directory_part_needs_exactly_path_and_offset() =>
        XsAssert.IsError(_dom0.Send(Msg.Of(T.DirectoryPart, "/p")), "EINVAL");

    [Test]
    public void Get_perms_lists_owner_first_as_strings()
    {
        _dom0.Mkdir("/g");
        _dom0.SetPerms("/g", [new XsPermission(3, XsPerm.Read), new XsPermission(5, XsPerm.Both)]);
        var reply = _dom0.Send(Msg.Of(T.GetPerms, "/g"));
        Assert.That(Encoding.ASCII.GetString(reply.Payload), Is.EqualTo("r3\0b5\0"));
    }

    [Test]
    public void Get_perms_works_on_special_nodes() =>
        Assert.That(_dom0.Send(Msg.Of(T.GetPerms, "@releaseDomain")).PayloadText(), Is.EqualTo("n0"));

    [TestCase("x1")]
    [TestCase("r")]
    [TestCase("r-1")]
    [TestCase("r70000")]
    [TestCase("r1a")]
    public void Set_perms_with_malformed_entry_is_einval(string perm)
    {
        _dom0.Mkdir("/s");
        XsAssert.IsError(_dom0.Send(Msg.Of(T.SetPerms, "/s", perm)), "EINVAL");
    }

    [Test]
    public void Set_perms_without_any_permission_is_einval() =>
        XsAssert.IsError(_dom0.Send(Msg.Of(T.SetPerms, "/tool")), "EINVAL");

    [Test]
    public void Set_perms_on_missing_node_is_enoent() =>
        XsAssert.IsError(_dom0.Send(Msg.Of(T.SetPerms, "/missing", "n0")), "ENOENT");

    [Test]
    public void Get_domain_path_answers_local_domain_id() =>
        Assert.That(_dom1.Send(Msg.Of(T.GetDomainPath, "7")).Payload, Is.EqualTo("/local/domain/7\0"u8.ToArray()));

    [Test]
    public void Get_domain_path_without_argument_is_einval() =>
        XsAssert.IsError(_dom0.Send(Msg.Raw(T.GetDomainPath, [])), "EINVAL");

    [TestCase(T.WatchEvent)]
    [TestCase(T.Error)]
    [TestCase(T.Restrict)]
    [TestCase((T)23)]
    [TestCase(T.Invalid)]
    [TestCase((T)0xdeadbeef)]
    public void Types_the_daemon_does_not_serve_are_enosys(T type) =>
        XsAssert.IsError(_dom0.Send(Msg.Of(type, "/")), "ENOSYS");

    [Test]
    public void Payload_over_the_limit_is_e2big_for_in_process_callers() =>
        XsAssert.IsError(_dom0.Send(Msg.Raw(T.Write, new byte[XsWire.PayloadMax + 1])), "E2BIG");

    [Test]
    public void Unknown_transaction_id_is_enoent() =>
        XsAssert.IsError(_dom0.Send(Msg.InTx(999, T.Read, "/tool")), "ENOENT");

    [Test]
    public void Control_help_lists_the_commands() =>
        Assert.That(_dom0.Send(Msg.Of(T.Control, "help")).PayloadText(), Does.Contain("check"));

    [Test]
    public void Control_check_finds_the_store_consistent()
    {
        _dom0.Write("/c/d", "1");
        _dom0.Rm("/c");
        XsAssert.IsOk(_dom0.Send(Msg.Of(T.Control, "check")), T.Control);
    }

    [Test]
    public void Control_with_unknown_command_is_einval() =>
        XsAssert.IsError(_dom0.Send(Msg.Of(T.Control, "frobnicate")), "EINVAL");

    [Test]
    public void Control_without_command_is_einval() =>
        XsAssert.IsError(_dom0.Send(Msg.Raw(T.Control, [])), "EINVAL");

    [TestCase(T.Control, "help")]
    [TestCase(T.Introduce, "5", "1", "1")]
    [TestCase(T.Release, "2")]
    [TestCase(T.IsDomainIntroduced, "2")]
    [TestCase(T.Resume, "2")]
    [TestCase(T.SetTarget, "1", "2")]
    public void Dom0_only_requests_from_a_guest_are_eacces(T type, params string[] args) =>
        XsAssert.IsError(_dom1.Send(Msg.Of(type, args)), "EACCES");

    [Test]
    public void Reset_watches_drops_watches_and_transactions()
    {
        _dom1.Watch("/local/domain/1", "t");
        var tx = _dom1.TransactionStart();
        XsAssert.IsOk(_dom1.Send(Msg.Raw(T.ResetWatches, [0])), T.ResetWatches);
        XsAssert.Drain(_dom1);
        _dom0.Write("/local/domain/1/x", "1");
        Assert.That(XsAssert.Drain(_dom1), Is.Empty);
        XsAssert.IsError(_dom1.Send(Msg.InTx(tx, T.Read, "/local/domain/1")), "ENOENT");
    }
}
