#include "util/config.h"

#include <gtest/gtest.h>

#include <string>

#include "../temp_dir.h"

namespace bastion {
namespace {

using test::TempDir;

class ConfigTest : public ::testing::Test {
 protected:
  void Write(const std::string& text) { test::WriteBytes(ConfigPath(dir_.path()), text); }

  // The rendered default config with one piece of text replaced.
  std::string DefaultWith(const std::string& from, const std::string& to) {
    std::string text = RenderConfig(InitOptions{});
    std::size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << "'" << from << "' is not in the rendered config";
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
  }

  Result<Config> LoadWith(const std::string& from, const std::string& to) {
    Write(DefaultWith(from, to));
    return LoadConfig(dir_.path());
  }

  void ExpectRejected(const std::string& from, const std::string& to, const std::string& mentions) {
    auto c = LoadWith(from, to);
    ASSERT_FALSE(c.ok()) << "accepted: " << to;
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument) << to;
    EXPECT_NE(c.status().message().find(mentions), std::string::npos)
        << "message '" << c.status().message() << "' does not mention '" << mentions << "'";
  }

  TempDir dir_;
};

void ExpectDefaults(const Config& c, const std::filesystem::path& data_dir) {
  const Config defaults;
  EXPECT_EQ(c.data_dir, data_dir);
  EXPECT_EQ(c.dicom.ae_title, defaults.dicom.ae_title);
  ASSERT_EQ(c.dicom.tls_listen.size(), 1u);
  EXPECT_EQ(c.dicom.tls_listen[0].ToString(), "0.0.0.0:2762");
  ASSERT_EQ(c.dicom.plain_listen.size(), 1u);
  EXPECT_EQ(c.dicom.plain_listen[0].ToString(), "127.0.0.1:11112");
  EXPECT_TRUE(c.dicom.plain_listen[0].address.IsLoopback());
  EXPECT_EQ(c.dicom.max_associations, defaults.dicom.max_associations);
  EXPECT_EQ(c.dicom.max_associations_per_node, defaults.dicom.max_associations_per_node);
  EXPECT_EQ(c.dicom.max_pending_connections, defaults.dicom.max_pending_connections);
  EXPECT_EQ(c.dicom.max_pending_per_address, defaults.dicom.max_pending_per_address);
  EXPECT_EQ(c.dicom.max_pdu_bytes, defaults.dicom.max_pdu_bytes);
  EXPECT_EQ(c.dicom.acse_timeout_seconds, defaults.dicom.acse_timeout_seconds);
  EXPECT_EQ(c.dicom.dimse_timeout_seconds, defaults.dicom.dimse_timeout_seconds);
  const ThrottleOptions t;
  EXPECT_EQ(c.dicom.throttle.window_seconds, t.window_seconds);
  EXPECT_EQ(c.dicom.throttle.failures_before_slowdown, t.failures_before_slowdown);
  EXPECT_EQ(c.dicom.throttle.failures_before_lockout, t.failures_before_lockout);
  EXPECT_EQ(c.dicom.throttle.lockout_seconds, t.lockout_seconds);
  EXPECT_EQ(c.dicom.throttle.max_delay_ms, t.max_delay_ms);
  EXPECT_EQ(c.tls.certificate, data_dir / "tls/server.pem");
  EXPECT_EQ(c.tls.private_key, data_dir / "tls/server-key.pem");
  EXPECT_EQ(c.tls.client_ca, data_dir / "tls/ca.pem");
  EXPECT_EQ(c.storage.max_object_bytes, defaults.storage.max_object_bytes);
  EXPECT_EQ(c.storage.on_conflict, ConflictPolicy::kKeepFirst);
  EXPECT_EQ(c.storage.min_free_mib, defaults.storage.min_free_mib);
  EXPECT_EQ(c.storage.min_free_mib, 1024u);
  EXPECT_EQ(c.log_level, "info");
}

TEST_F(ConfigTest, RenderedDefaultRoundTripsToTheDefaults) {
  Write(RenderConfig(InitOptions{}));
  auto c = LoadConfig(dir_.path());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ExpectDefaults(*c, dir_.path());
}

TEST_F(ConfigTest, EmptyFileGivesTheSameDefaults) {
  Write("");
  auto c = LoadConfig(dir_.path());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ExpectDefaults(*c, dir_.path());
}

TEST_F(ConfigTest, RenderedCustomInitOptionsRoundTrip) {
  InitOptions o;
  o.ae_title = "MAIN_PACS";
  o.tls_bind = "::";
  o.tls_port = 2763;
  o.plain_bind = "10.0.0.5";
  o.plain_port = 104;
  Write(RenderConfig(o));
  auto c = LoadConfig(dir_.path());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dicom.ae_title, "MAIN_PACS");
  ASSERT_EQ(c->dicom.tls_listen.size(), 1u);
  EXPECT_EQ(c->dicom.tls_listen[0].ToString(), "[::]:2763");
  ASSERT_EQ(c->dicom.plain_listen.size(), 1u);
  EXPECT_EQ(c->dicom.plain_listen[0].ToString(), "10.0.0.5:104");
}

TEST_F(ConfigTest, MissingFileIsAnError) {
  EXPECT_FALSE(LoadConfig(dir_.path()).ok());
}

TEST_F(ConfigTest, SyntaxErrorIsReportedWithLine) {
  Write("[dicom]\nae_title = \"X\"\nmax_associations = = 3\n");
  auto c = LoadConfig(dir_.path());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find("line 3"), std::string::npos) << c.status().message();
}

TEST_F(ConfigTest, UnknownKeysAreRejectedByName) {
  ExpectRejected("max_pdu_bytes = 131072", "max_pdu_byte = 131072", "max_pdu_byte");
  ExpectRejected("max_delay_ms = 2000", "max_delay_msec = 2000", "max_delay_msec");
  ExpectRejected("on_conflict = \"keep-first\"", "on_conflict = \"keep-first\"\nallow_everyone = true",
                 "allow_everyone");
  ExpectRejected("level = \"info\"", "level = \"info\"\nfile = \"x.log\"", "file");
  ExpectRejected("client_ca = \"tls/ca.pem\"", "client_ca = \"tls/ca.pem\"\nverify_peer = false", "verify_peer");
  ExpectRejected("[log]", "[logging]", "logging");
}

TEST_F(ConfigTest, BadAeTitles) {
  for (const char* bad : {"\"THIS_TITLE_IS_TOO_LONG\"", "\"\"", "\"   \"", "\"A\\\\B\"", "\"A\\tB\"", "42"}) {
    auto c = LoadWith("ae_title = \"BASTION\"", std::string("ae_title = ") + bad);
    EXPECT_FALSE(c.ok()) << "accepted ae_title = " << bad;
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
    }
  }
}

TEST_F(ConfigTest, AeTitleIsTrimmed) {
  auto c = LoadWith("ae_title = \"BASTION\"", "ae_title = \" PACS2 \"");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dicom.ae_title, "PACS2");
}

TEST_F(ConfigTest, BadEndpoints) {
  ExpectRejected("tls_listen = [\"0.0.0.0:2762\"]", "tls_listen = [\"localhost:2762\"]", "tls_listen");
  ExpectRejected("plain_listen = [\"127.0.0.1:11112\"]", "plain_listen = [\"127.0.0.1:0\"]", "plain_listen");
  ExpectRejected("plain_listen = [\"127.0.0.1:11112\"]", "plain_listen = [\"127.0.0.1:70000\"]", "plain_listen");
  ExpectRejected("plain_listen = [\"127.0.0.1:11112\"]", "plain_listen = \"127.0.0.1:11112\"", "plain_listen");
  ExpectRejected("plain_listen = [\"127.0.0.1:11112\"]", "plain_listen = [11112]", "plain_listen");
}

TEST_F(ConfigTest, SeveralAndNoEndpoints) {
  auto c = LoadWith("plain_listen = [\"127.0.0.1:11112\"]", "plain_listen = []");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->dicom.plain_listen.empty());

  auto two = LoadWith("tls_listen = [\"0.0.0.0:2762\"]", "tls_listen = [\"0.0.0.0:2762\", \"[::]:2762\"]");
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  ASSERT_EQ(two->dicom.tls_listen.size(), 2u);
  EXPECT_EQ(two->dicom.tls_listen[1].ToString(), "[::]:2762");
}

TEST_F(ConfigTest, OnConflictValues) {
  auto reject = LoadWith("on_conflict = \"keep-first\"", "on_conflict = \"reject\"");
  ASSERT_TRUE(reject.ok()) << reject.status().ToString();
  EXPECT_EQ(reject->storage.on_conflict, ConflictPolicy::kReject);

  auto keep = LoadWith("on_conflict = \"keep-first\"", "on_conflict = \"keep-first\"");
  ASSERT_TRUE(keep.ok());
  EXPECT_EQ(keep->storage.on_conflict, ConflictPolicy::kKeepFirst);

  ExpectRejected("on_conflict = \"keep-first\"", "on_conflict = \"overwrite\"", "on_conflict");
  ExpectRejected("on_conflict = \"keep-first\"", "on_conflict = \"Reject\"", "on_conflict");
  ExpectRejected("on_conflict = \"keep-first\"", "on_conflict = 1", "on_conflict");
}

TEST_F(ConfigTest, ThrottleLockoutBelowSlowdownIsRejected) {
  ExpectRejected("failures_before_lockout = 20", "failures_before_lockout = 4", "failures_before_lockout");
  auto equal = LoadWith("failures_before_lockout = 20", "failures_before_lockout = 5");
  ASSERT_TRUE(equal.ok()) << equal.status().ToString();
  EXPECT_EQ(equal->dicom.throttle.failures_before_lockout, 5);
}

TEST_F(ConfigTest, IntegerRanges) {
  ExpectRejected("max_associations = 64", "max_associations = 0", "max_associations");
  ExpectRejected("max_associations = 64", "max_associations = \"64\"", "max_associations");
  ExpectRejected("max_pending_connections = 32", "max_pending_connections = 0", "max_pending_connections");
  ExpectRejected("max_pending_per_address = 8", "max_pending_per_address = 0", "max_pending_per_address");
  ExpectRejected("max_pdu_bytes = 131072", "max_pdu_bytes = 4095", "max_pdu_bytes");
  ExpectRejected("max_object_bytes = 2147483648", "max_object_bytes = 1023", "max_object_bytes");
  ExpectRejected("max_object_bytes = 2147483648", "max_object_bytes = -1", "max_object_bytes");
  ExpectRejected("min_free_mib = 1024", "min_free_mib = -1", "min_free_mib");
  ExpectRejected("min_free_mib = 1024", "min_free_mib = \"1G\"", "min_free_mib");
  ExpectRejected("window_seconds = 60", "window_seconds = 0", "window_seconds");
  ExpectRejected("max_delay_ms = 2000", "max_delay_ms = -5", "max_delay_ms");

  auto pending = LoadWith("max_pending_per_address = 8", "max_pending_per_address = 2");
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  EXPECT_EQ(pending->dicom.max_pending_per_address, 2);

  auto small = LoadWith("max_object_bytes = 2147483648", "max_object_bytes = 1024");
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(small->storage.max_object_bytes, 1024u);

  auto big = LoadWith("max_object_bytes = 2147483648", "max_object_bytes = 10000000000");
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  EXPECT_EQ(big->storage.max_object_bytes, 10000000000u);

  auto no_reserve = LoadWith("min_free_mib = 1024", "min_free_mib = 0");
  ASSERT_TRUE(no_reserve.ok()) << no_reserve.status().ToString();
  EXPECT_EQ(no_reserve->storage.min_free_mib, 0u);
}

TEST_F(ConfigTest, LogLevel) {
  auto debug = LoadWith("level = \"info\"", "level = \"debug\"");
  ASSERT_TRUE(debug.ok());
  EXPECT_EQ(debug->log_level, "debug");
  ExpectRejected("level = \"info\"", "level = \"verbose\"", "level");
}

TEST_F(ConfigTest, TlsRelativePathsAreResolvedAgainstTheDataDir) {
  std::string text = DefaultWith("certificate = \"tls/server.pem\"", "certificate = \"certs/site.pem\"");
  std::size_t at = text.find("client_ca = \"tls/ca.pem\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, std::string("client_ca = \"tls/ca.pem\"").size(), "client_ca = \"/etc/ssl/site-ca.pem\"");
  Write(text);
  auto c = LoadConfig(dir_.path());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->tls.certificate, dir_.path() / "certs/site.pem");
  EXPECT_TRUE(c->tls.certificate.is_absolute());
  EXPECT_EQ(c->tls.private_key, dir_.path() / "tls/server-key.pem");
  EXPECT_EQ(c->tls.client_ca, std::filesystem::path("/etc/ssl/site-ca.pem"));
}

TEST_F(ConfigTest, EmptyTlsPathRejected) {
  ExpectRejected("private_key = \"tls/server-key.pem\"", "private_key = \"\"", "private_key");
}

TEST(ConfigPathTest, IsBastionTomlInTheDataDir) {
  EXPECT_EQ(ConfigPath("/var/lib/bastion"), std::filesystem::path("/var/lib/bastion/bastion.toml"));
}

}  // namespace
}  // namespace bastion
