#include "security/nodes.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "../temp_dir.h"
#include "util/fs.h"

namespace bastion::security {
namespace {

using test::TempDir;

const std::string kFingerprint = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

Node MakeNode(const std::string& ae, std::vector<std::string> hosts, const std::string& allow = "echo,store") {
  Node n;
  n.ae_title = ae;
  for (const auto& h : hosts) {
    auto r = IpRange::Parse(h);
    EXPECT_TRUE(r.has_value()) << h;
    if (r) n.hosts.push_back(*r);
  }
  n.permissions = *PermissionSet::Parse(allow);
  return n;
}

TEST(FingerprintTest, Normalize) {
  std::string colons;
  for (std::size_t i = 0; i < kFingerprint.size(); i += 2) {
    if (!colons.empty()) colons += ':';
    colons += kFingerprint.substr(i, 2);
  }
  std::string upper_colons = colons;
  for (char& c : upper_colons)
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  EXPECT_EQ(NormalizeFingerprint(kFingerprint), kFingerprint);
  EXPECT_EQ(NormalizeFingerprint(colons), kFingerprint);
  EXPECT_EQ(NormalizeFingerprint(upper_colons), kFingerprint);
  EXPECT_EQ(NormalizeFingerprint(upper_colons.substr(0, upper_colons.size())), kFingerprint);
}

TEST(FingerprintTest, RejectsWrongLengthAndAlphabet) {
  EXPECT_FALSE(NormalizeFingerprint(kFingerprint.substr(0, 62)).has_value());
  EXPECT_FALSE(NormalizeFingerprint(kFingerprint + "00").has_value());
  EXPECT_FALSE(NormalizeFingerprint(kFingerprint.substr(0, 40)).has_value());  // SHA-1 length
  EXPECT_FALSE(NormalizeFingerprint("").has_value());
  EXPECT_FALSE(NormalizeFingerprint(kFingerprint.substr(0, 63) + "g").has_value());
  EXPECT_FALSE(NormalizeFingerprint(kFingerprint.substr(0, 32) + " " + kFingerprint.substr(32)).has_value());
}

TEST(ValidateNodeTest, AcceptsAGoodNode) {
  Node n = MakeNode("CT_SCANNER1", {"10.1.2.3"});
  EXPECT_TRUE(ValidateNode(n).ok());
  n.tls_cert_sha256 = kFingerprint;
  n.tls_only = true;
  EXPECT_TRUE(ValidateNode(n).ok());
}

TEST(ValidateNodeTest, Rejects) {
  Node bad_ae = MakeNode("THIS_AE_TITLE_IS_TOO_LONG", {"10.1.2.3"});
  EXPECT_EQ(ValidateNode(bad_ae).code(), Code::kInvalidArgument);
  Node backslash = MakeNode("CT\\1", {"10.1.2.3"});
  EXPECT_EQ(ValidateNode(backslash).code(), Code::kInvalidArgument);
  Node no_hosts = MakeNode("CT1", {});
  EXPECT_EQ(ValidateNode(no_hosts).code(), Code::kInvalidArgument);
  Node bad_fp = MakeNode("CT1", {"10.1.2.3"});
  bad_fp.tls_cert_sha256 = "AB:CD";
  EXPECT_EQ(ValidateNode(bad_fp).code(), Code::kInvalidArgument);
  Node upper_fp = MakeNode("CT1", {"10.1.2.3"});
  upper_fp.tls_cert_sha256 = std::string(64, 'A');  // must be normalised first
  EXPECT_EQ(ValidateNode(upper_fp).code(), Code::kInvalidArgument);
  Node no_perms = MakeNode("CT1", {"10.1.2.3"});
  no_perms.permissions = PermissionSet();
  EXPECT_EQ(ValidateNode(no_perms).code(), Code::kInvalidArgument);
}

TEST(NodesFileTest, SaveLoadRoundTrip) {
  TempDir dir;
  auto file = NodesPath(dir.path());
  EXPECT_EQ(file, dir / "nodes.json");
  Node ct = MakeNode("CT1", {"10.1.2.3", "10.1.2.4"}, "echo,store");
  ct.port = 104;
  Node ws = MakeNode("WORKSTATION", {"192.168.0.0/24", "2001:db8::/48"}, "echo,find,move,get");
  ws.tls_cert_sha256 = kFingerprint;
  ws.tls_only = true;
  Node tls = MakeNode("TLSONLY", {"::1"}, "echo");
  tls.tls_only = true;
  ASSERT_TRUE(SaveNodes(file, {ct, ws, tls}).ok());

  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);

  auto loaded = LoadNodes(file);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 3u);
  const Node& a = (*loaded)[0];
  EXPECT_EQ(a.ae_title, "CT1");
  ASSERT_EQ(a.hosts.size(), 2u);
  EXPECT_EQ(a.hosts[0].ToString(), "10.1.2.3");
  EXPECT_EQ(a.hosts[1].ToString(), "10.1.2.4");
  EXPECT_EQ(a.port, 104);
  EXPECT_EQ(a.tls_cert_sha256, "");
  EXPECT_FALSE(a.tls_only);
  EXPECT_EQ(a.permissions, ct.permissions);

  const Node& b = (*loaded)[1];
  EXPECT_EQ(b.ae_title, "WORKSTATION");
  ASSERT_EQ(b.hosts.size(), 2u);
  EXPECT_EQ(b.hosts[0].ToString(), "192.168.0.0/24");
  EXPECT_EQ(b.hosts[1].ToString(), "2001:db8::/48");
  EXPECT_EQ(b.hosts[1].prefix, 48);
  EXPECT_EQ(b.tls_cert_sha256, kFingerprint);
  EXPECT_TRUE(b.tls_only);
  EXPECT_EQ(b.permissions, ws.permissions);

  const Node& c = (*loaded)[2];
  EXPECT_TRUE(c.tls_only);
  EXPECT_EQ(c.permissions.ToString(), "echo");
}

TEST(NodesFileTest, MissingFileIsAnEmptyRegistry) {
  TempDir dir;
  auto loaded = LoadNodes(dir / "nodes.json");
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->empty());
}

TEST(NodesFileTest, PinnedNodeIsAlwaysTlsOnly) {
  TempDir dir;
  test::WriteBytes(dir / "nodes.json",
                   R"({"version": 1, "nodes": [{"ae_title": "CT1", "hosts": ["10.0.0.1"], "allow": ["store"],
                       "tls_cert_sha256": ")" + kFingerprint + R"(", "tls_only": false}]})");
  auto loaded = LoadNodes(dir / "nodes.json");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_TRUE((*loaded)[0].tls_only);
}

TEST(NodesFileTest, RejectsBadFiles) {
  TempDir dir;
  auto file = dir / "nodes.json";
  struct Case {
    const char* text;
    Code code;
    const char* mentions;
  };
  for (const Case& c : std::vector<Case>{
           {"not json", Code::kInvalidArgument, ""},
           {R"({"version": 2, "nodes": []})", Code::kUnsupported, "version"},
           {R"({"nodes": []})", Code::kInvalidArgument, ""},
           {R"({"version": 1, "nodes": [{"ae_title": "CT1", "hosts": ["ct1.example.org"], "allow": ["store"]}]})",
            Code::kInvalidArgument, "ct1.example.org"},
           {R"({"version": 1, "nodes": [{"ae_title": "CT1", "hosts": ["10.0.0.1"], "allow": ["store", "erase"]}]})",
            Code::kInvalidArgument, "erase"},
           {R"({"version": 1, "nodes": [{"ae_title": "CT1", "hosts": [], "allow": ["store"]}]})",
            Code::kInvalidArgument, "CT1"},
           {R"({"version": 1, "nodes": [{"ae_title": "CT1", "hosts": ["10.0.0.1"], "allow": []}]})",
            Code::kInvalidArgument, "CT1"},
           {R"({"version": 1, "nodes": [{"ae_title": "A_VERY_LONG_AE_TITLE", "hosts": ["10.0.0.1"], "allow": ["echo"]}]})",
            Code::kInvalidArgument, ""},
           {R"({"version": 1, "nodes": [{"ae_title": "CT1", "hosts": ["10.0.0.1"], "allow": ["echo"], "tls_cert_sha256": "xyz"}]})",
            Code::kInvalidArgument, ""},
           {R"({"version": 1, "nodes": [{"hosts": ["10.0.0.1"], "allow": ["echo"]}]})", Code::kInvalidArgument, ""},
       }) {
    test::WriteBytes(file, c.text);
    auto loaded = LoadNodes(file);
    ASSERT_FALSE(loaded.ok()) << "accepted: " << c.text;
    EXPECT_EQ(loaded.status().code(), c.code) << c.text << " -> " << loaded.status().ToString();
    EXPECT_NE(loaded.status().message().find(c.mentions), std::string::npos)
        << loaded.status().message() << " does not mention " << c.mentions;
  }
}

class NodeDirectoryTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::filesystem::path file_ = NodesPath(dir_.path());
};

TEST_F(NodeDirectoryTest, ReloadAndFind) {
  ASSERT_TRUE(SaveNodes(file_, {MakeNode("CT1", {"10.0.0.1"})}).ok());
  NodeDirectory nodes(file_);
  ASSERT_TRUE(nodes.Reload().ok());
  auto ct = nodes.Find("CT1");
  ASSERT_TRUE(ct.has_value());
  EXPECT_EQ(ct->hosts.at(0).ToString(), "10.0.0.1");
  EXPECT_FALSE(nodes.Find("CT2").has_value());
  EXPECT_FALSE(nodes.Find("ct1").has_value());  // AE titles are case-sensitive
  EXPECT_EQ(nodes.Snapshot().size(), 1u);
}

TEST_F(NodeDirectoryTest, NoFileIsAnEmptyRegistry) {
  NodeDirectory nodes(file_);
  ASSERT_TRUE(nodes.Reload().ok());
  EXPECT_TRUE(nodes.Snapshot().empty());
  EXPECT_FALSE(nodes.Find("CT1").has_value());
  // The file appearing later is picked up.
  ASSERT_TRUE(SaveNodes(file_, {MakeNode("CT1", {"10.0.0.1"})}).ok());
  EXPECT_TRUE(nodes.Find("CT1").has_value());
}

TEST_F(NodeDirectoryTest, SeesAChangedFileOnTheNextFindWithoutReload) {
  ASSERT_TRUE(SaveNodes(file_, {MakeNode("CT1", {"10.0.0.1"})}).ok());
  NodeDirectory nodes(file_);
  ASSERT_TRUE(nodes.Reload().ok());
  ASSERT_TRUE(nodes.Find("CT1").has_value());

  // `bastion node add` in another process.
  ASSERT_TRUE(SaveNodes(file_, {MakeNode("CT1", {"10.0.0.1"}), MakeNode("MR_SCANNER", {"10.0.0.2"})}).ok());
  auto mr = nodes.Find("MR_SCANNER");
  ASSERT_TRUE(mr.has_value());
  EXPECT_EQ(mr->hosts.at(0).ToString(), "10.0.0.2");

  // `bastion node remove`.
  ASSERT_TRUE(SaveNodes(file_, {MakeNode("MR_SCANNER", {"10.0.0.2"})}).ok());
  EXPECT_FALSE(nodes.Find("CT1").has_value());
  EXPECT_EQ(nodes.Snapshot().size(), 1u);
}

TEST_F(NodeDirectoryTest, SeesAReplacementWithTheSameSizeAndTimestamp) {
  // Two registry writes inside one file-system timestamp tick (Debian 12's
  // 6.1 kernel stamps files with a coarse clock, several ms per tick), or a
  // restore that keeps the modification time, can give the new file the same
  // size and mtime as the old. It is a different file (a new inode, new
  // ctime), and the server must not keep enforcing the old registry.
  ASSERT_TRUE(SaveNodes(file_, {MakeNode("CT1", {"10.0.0.1"}, "echo,find")}).ok());
  NodeDirectory nodes(file_);
  ASSERT_TRUE(nodes.Reload().ok());
  auto before = nodes.Find("CT1");
  ASSERT_TRUE(before.has_value());
  ASSERT_TRUE(before->permissions.Has(Permission::kFind));
  auto mtime = std::filesystem::last_write_time(file_);
  auto size = std::filesystem::file_size(file_);

  // Same length: "find" becomes "move" — a revoked permission.
  ASSERT_TRUE(SaveNodes(file_, {MakeNode("CT1", {"10.0.0.1"}, "echo,move")}).ok());
  std::filesystem::last_write_time(file_, mtime);
  ASSERT_EQ(std::filesystem::file_size(file_), size);

  auto after = nodes.Find("CT1");
  ASSERT_TRUE(after.has_value());
  EXPECT_FALSE(after->permissions.Has(Permission::kFind)) << "the old registry is still in force";
  EXPECT_TRUE(after->permissions.Has(Permission::kMove));
}

TEST_F(NodeDirectoryTest, BrokenFileKeepsTheLastGoodRegistry) {
  ASSERT_TRUE(SaveNodes(file_, {MakeNode("CT1", {"10.0.0.1"})}).ok());
  NodeDirectory nodes(file_);
  ASSERT_TRUE(nodes.Reload().ok());
  ASSERT_TRUE(WriteFileAtomic(file_, "{ this is not json").ok());
  auto ct = nodes.Find("CT1");
  EXPECT_TRUE(ct.has_value()) << "a broken edit must not empty the registry";
  EXPECT_FALSE(nodes.Reload().ok());
  EXPECT_TRUE(nodes.Find("CT1").has_value());
  // Fixed again: picked up.
  ASSERT_TRUE(SaveNodes(file_, {MakeNode("CT2", {"10.0.0.9"})}).ok());
  EXPECT_TRUE(nodes.Find("CT2").has_value());
  EXPECT_FALSE(nodes.Find("CT1").has_value());
}

TEST_F(NodeDirectoryTest, ReloadFailsOnAnInvalidFile) {
  ASSERT_TRUE(WriteFileAtomic(file_, R"({"version": 1, "nodes": [{"ae_title": "", "hosts": [], "allow": []}]})").ok());
  NodeDirectory nodes(file_);
  EXPECT_FALSE(nodes.Reload().ok());
}

TEST_F(NodeDirectoryTest, ValidatorVetsEveryReload) {
  // The server installs its self-check: a registry edit that would expose
  // PHI is not applied, and the last accepted registry stays in force.
  ASSERT_TRUE(SaveNodes(file_, {MakeNode("CT1", {"10.0.0.1"})}).ok());
  NodeDirectory nodes(file_);
  int calls = 0;
  nodes.SetValidator([&](const std::vector<Node>& candidate) {
    ++calls;
    for (const auto& n : candidate)
      if (!n.tls_only && !n.hosts.empty() && !n.hosts[0].IsSingleAddress())
        return Status(Code::kInsecureConfig, "range node " + n.ae_title + " on plain");
    return Status::Ok();
  });
  ASSERT_TRUE(nodes.Reload().ok());
  EXPECT_EQ(calls, 1);

  ASSERT_TRUE(SaveNodes(file_, {MakeNode("CT1", {"10.0.0.1"}), MakeNode("WARD", {"10.0.0.0/8"})}).ok());
  EXPECT_FALSE(nodes.Find("WARD").has_value()) << "a refused registry was applied";
  EXPECT_TRUE(nodes.Find("CT1").has_value());
  Status s = nodes.Reload();
  EXPECT_EQ(s.code(), Code::kInsecureConfig) << s.ToString();

  Node ward_tls = MakeNode("WARD", {"10.0.0.0/8"});
  ward_tls.tls_only = true;
  ASSERT_TRUE(SaveNodes(file_, {MakeNode("CT1", {"10.0.0.1"}), ward_tls}).ok());
  auto ward = nodes.Find("WARD");
  ASSERT_TRUE(ward.has_value());
  EXPECT_TRUE(ward->tls_only);
}

TEST(NodesPathTest, LockPath) {
  EXPECT_EQ(NodesLockPath("/data"), std::filesystem::path("/data/.nodes.lock"));
}

}  // namespace
}  // namespace bastion::security
