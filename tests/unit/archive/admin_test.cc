#include "archive/admin.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "../temp_dir.h"
#include "archive/archive.h"
#include "security/association_policy.h"

namespace bastion::archive {
namespace {

using security::Permission;
using security::Principal;
using security::Role;
using test::TempDir;

const audit::Actor kWebAdmin{"user", "admin", "127.0.0.1"};
const audit::Actor kOperator{"local-operator", "root", ""};

// Strong enough for the password policy; never expected in the audit log.
constexpr const char* kAdminPassword = "umber-falcon-quill-5521";
constexpr const char* kGivenPassword = "velvet-comet-harbor-8807";

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_.path();
    config_.dicom.ae_title = "BASTION";
    config_.dicom.tls_listen = {*Endpoint::Parse("0.0.0.0:2762")};
    config_.dicom.plain_listen = {*Endpoint::Parse("127.0.0.1:11112")};
    security::UserStore::Options options;
    options.hashing = security::PasswordHashing::CheapForTests();
    users_ = std::make_unique<security::UserStore>(security::UsersPath(dir_.path()),
                                                   security::UsersLockPath(dir_.path()), options);
    ASSERT_TRUE(users_->Reload().ok());
    ASSERT_TRUE(users_->Add("admin", Role::kAdmin, kAdminPassword).ok());
    tokens_ = std::make_unique<security::TokenStore>(security::TokensPath(dir_.path()),
                                                     security::TokensLockPath(dir_.path()), *users_);
    ASSERT_TRUE(tokens_->Reload().ok());
    OpenAudit();
  }

  void TearDown() override {
    admin_.reset();
    auto report = audit::VerifyAuditLog(audit_path_);
    if (!report.ok()) return;  // a test that wrote nothing
    EXPECT_TRUE(report->intact) << report->reason << " at line " << report->broken_line;
  }

  void OpenAudit() {
    admin_.reset();
    auto log = audit::OpenAuditLog(audit_path_);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    audit_ = std::move(log).value();
    admin_ = std::make_unique<Administration>(config_, *users_, *tokens_, *audit_);
  }

  std::vector<nlohmann::json> AuditRecords() {
    std::vector<nlohmann::json> out;
    for (const auto& l : test::ReadLines(audit_path_)) out.push_back(nlohmann::json::parse(l));
    return out;
  }
  std::string AuditText() { return test::ReadBytes(audit_path_); }

  // The one record a change wrote: exactly one more than `before`.
  nlohmann::json OnlyNewRecord(std::size_t before) {
    auto records = AuditRecords();
    EXPECT_EQ(records.size(), before + 1) << "expected exactly one new audit record";
    return records.empty() ? nlohmann::json() : records.back();
  }

  static void ExpectRecord(const nlohmann::json& rec, const std::string& type, const audit::Actor& by,
                           const nlohmann::json& details) {
    EXPECT_EQ(rec["type"], type);
    EXPECT_EQ(rec["outcome"], "success");
    EXPECT_EQ(rec["actor"]["kind"], by.kind);
    EXPECT_EQ(rec["actor"]["id"], by.id);
    EXPECT_EQ(rec["actor"]["address"], by.address);
    EXPECT_EQ(rec["details"], details) << rec.dump();
  }

  std::optional<security::User> User(const std::string& name) {
    EXPECT_TRUE(users_->Reload().ok());
    return users_->Find(name);
  }

  std::vector<security::Node> SavedNodes() {
    auto nodes = security::LoadNodes(security::NodesPath(dir_.path()));
    EXPECT_TRUE(nodes.ok()) << nodes.status().ToString();
    return nodes.ok() ? *nodes : std::vector<security::Node>{};
  }

  static security::Node Node(const std::string& ae, const std::string& hosts, const std::string& allow = "echo,store",
                             bool tls_only = false) {
    Administration::NodeSpec spec;
    spec.ae = ae;
    spec.hosts = hosts;
    spec.allow = allow;
    spec.tls_only = tls_only;
    auto node = Administration::MakeNode(spec);
    EXPECT_TRUE(node.ok()) << node.status().ToString();
    return node.ok() ? *node : security::Node{};
  }

  TempDir dir_;
  std::filesystem::path audit_path_ = dir_ / "audit.log";
  Config config_;
  std::unique_ptr<security::UserStore> users_;
  std::unique_ptr<security::TokenStore> tokens_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<Administration> admin_;
};

// --- People ------------------------------------------------------------------

TEST_F(AdminTest, AddUserWithAGeneratedPassword) {
  auto password = admin_->AddUser(kWebAdmin, "alice", "reader", std::nullopt);
  ASSERT_TRUE(password.ok()) << password.status().ToString();
  EXPECT_TRUE(security::CheckPasswordPolicy(*password, "alice").ok());
  auto alice = User("alice");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->role, Role::kReader);
  EXPECT_FALSE(alice->disabled);
  EXPECT_TRUE(users_->Verify("alice", *password).ok()) << "the returned password is the one set";
  ExpectRecord(OnlyNewRecord(0), "user.add", kWebAdmin,
               {{"user", "alice"}, {"role", "reader"}, {"password", "generated"}});
  EXPECT_EQ(AuditText().find(*password), std::string::npos) << "the password reached the audit log";
  EXPECT_EQ(admin_->Users().size(), 2u);
}

TEST_F(AdminTest, AddUserWithAGivenPassword) {
  auto password = admin_->AddUser(kOperator, "bob", "auditor", std::string(kGivenPassword));
  ASSERT_TRUE(password.ok()) << password.status().ToString();
  EXPECT_EQ(*password, kGivenPassword);
  EXPECT_TRUE(users_->Verify("bob", kGivenPassword).ok());
  EXPECT_EQ(User("bob")->role, Role::kAuditor);
  ExpectRecord(OnlyNewRecord(0), "user.add", kOperator, {{"user", "bob"}, {"role", "auditor"}, {"password", "given"}});
  EXPECT_EQ(AuditText().find(kGivenPassword), std::string::npos);
}

TEST_F(AdminTest, AddUserRefusals) {
  struct Case {
    std::string name, role;
    std::optional<std::string> password;
    Code code;
  };
  const std::vector<Case> cases = {
      {"", "reader", std::nullopt, Code::kInvalidArgument},
      {"../etc", "reader", std::nullopt, Code::kInvalidArgument},
      {"a b", "reader", std::nullopt, Code::kInvalidArgument},
      {std::string(65, 'a'), "reader", std::nullopt, Code::kInvalidArgument},
      {"carol", "superuser", std::nullopt, Code::kInvalidArgument},
      {"carol", "Admin", std::nullopt, Code::kInvalidArgument},
      {"carol", "", std::nullopt, Code::kInvalidArgument},
      {"carol", "reader", std::string("password1234"), Code::kInvalidArgument},  // the policy
      {"admin", "reader", std::nullopt, Code::kAlreadyExists},
  };
  for (const auto& c : cases) {
    auto r = admin_->AddUser(kWebAdmin, c.name, c.role, c.password);
    EXPECT_EQ(r.status().code(), c.code) << c.name << "/" << c.role << ": " << r.status().ToString();
  }
  EXPECT_EQ(admin_->Users().size(), 1u) << "a refused add left a user behind";
  EXPECT_FALSE(std::filesystem::exists(audit_path_) && !AuditRecords().empty()) << "a refusal was recorded as a change";
}

TEST_F(AdminTest, DisableEnableRolePassword) {
  ASSERT_TRUE(admin_->AddUser(kWebAdmin, "dave", "reader", std::string(kGivenPassword)).ok());
  std::size_t n = AuditRecords().size();

  ASSERT_TRUE(admin_->SetUserDisabled(kWebAdmin, "dave", true).ok());
  EXPECT_TRUE(User("dave")->disabled);
  EXPECT_FALSE(users_->Verify("dave", kGivenPassword).ok()) << "a disabled user logged in";
  ExpectRecord(OnlyNewRecord(n++), "user.disable", kWebAdmin, {{"user", "dave"}});

  ASSERT_TRUE(admin_->SetUserDisabled(kWebAdmin, "dave", false).ok());
  EXPECT_FALSE(User("dave")->disabled);
  EXPECT_TRUE(users_->Verify("dave", kGivenPassword).ok());
  ExpectRecord(OnlyNewRecord(n++), "user.enable", kWebAdmin, {{"user", "dave"}});

  auto before = User("dave")->changed;
  ASSERT_TRUE(admin_->SetUserRole(kWebAdmin, "dave", "uploader").ok());
  EXPECT_EQ(User("dave")->role, Role::kUploader);
  EXPECT_GE(User("dave")->changed, before);
  ExpectRecord(OnlyNewRecord(n++), "user.role", kWebAdmin, {{"user", "dave"}, {"role", "uploader"}});

  auto generated = admin_->SetPassword(kWebAdmin, "dave", std::nullopt);
  ASSERT_TRUE(generated.ok()) << generated.status().ToString();
  EXPECT_TRUE(users_->Verify("dave", *generated).ok());
  EXPECT_FALSE(users_->Verify("dave", kGivenPassword).ok()) << "the old password still works";
  ExpectRecord(OnlyNewRecord(n++), "user.passwd", kWebAdmin, {{"user", "dave"}, {"password", "generated"}});

  const std::string chosen = "saffron-meadow-piano-3141";
  auto given = admin_->SetPassword(kOperator, "dave", chosen);
  ASSERT_TRUE(given.ok());
  EXPECT_EQ(*given, chosen);
  EXPECT_TRUE(users_->Verify("dave", chosen).ok());
  ExpectRecord(OnlyNewRecord(n++), "user.passwd", kOperator, {{"user", "dave"}, {"password", "given"}});

  const std::string text = AuditText();
  for (const std::string& secret : {std::string(kGivenPassword), *generated, chosen})
    EXPECT_EQ(text.find(secret), std::string::npos) << "a password reached the audit log";
}

TEST_F(AdminTest, ChangesToUnknownOrMalformedUsersAreRefusedAndNotRecorded) {
  EXPECT_EQ(admin_->SetUserDisabled(kWebAdmin, "ghost", true).code(), Code::kNotFound);
  EXPECT_EQ(admin_->SetUserDisabled(kWebAdmin, "ghost", false).code(), Code::kNotFound);
  EXPECT_EQ(admin_->SetUserRole(kWebAdmin, "ghost", "reader").code(), Code::kNotFound);
  EXPECT_EQ(admin_->SetPassword(kWebAdmin, "ghost", std::nullopt).status().code(), Code::kNotFound);
  EXPECT_EQ(admin_->EnableTotp(kWebAdmin, "ghost").status().code(), Code::kNotFound);
  EXPECT_EQ(admin_->DisableTotp(kWebAdmin, "ghost").status().code(), Code::kNotFound);
  EXPECT_EQ(admin_->SetUserDisabled(kWebAdmin, "../admin", true).code(), Code::kInvalidArgument);
  EXPECT_EQ(admin_->SetUserRole(kWebAdmin, "admin/x", "reader").code(), Code::kInvalidArgument);
  EXPECT_EQ(admin_->SetUserRole(kWebAdmin, "admin", "root").code(), Code::kInvalidArgument);
  EXPECT_EQ(admin_->SetPassword(kWebAdmin, "admin", std::string("short")).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(users_->Verify("admin", kAdminPassword).ok()) << "a refused password change changed it";
  EXPECT_EQ(User("admin")->role, Role::kAdmin);
  EXPECT_TRUE(!std::filesystem::exists(audit_path_) || AuditRecords().empty());
}

TEST_F(AdminTest, TotpEnableAndDisable) {
  ASSERT_TRUE(admin_->AddUser(kOperator, "erin", "reader", std::string(kGivenPassword)).ok());
  std::size_t n = AuditRecords().size();
  auto secret = admin_->EnableTotp(kWebAdmin, "erin");
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_TRUE(User("erin")->has_totp());
  ExpectRecord(OnlyNewRecord(n++), "user.totp.enable", kWebAdmin, {{"user", "erin"}, {"rekey", false}});
  auto again = admin_->EnableTotp(kWebAdmin, "erin");
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*again, *secret);
  ExpectRecord(OnlyNewRecord(n++), "user.totp.enable", kWebAdmin, {{"user", "erin"}, {"rekey", true}});
  for (const auto& s : {*secret, *again}) EXPECT_EQ(AuditText().find(s), std::string::npos) << "a TOTP secret leaked";

  auto had = admin_->DisableTotp(kWebAdmin, "erin");
  ASSERT_TRUE(had.ok());
  EXPECT_TRUE(*had);
  EXPECT_FALSE(User("erin")->has_totp());
  ExpectRecord(OnlyNewRecord(n++), "user.totp.disable", kWebAdmin, {{"user", "erin"}});
  had = admin_->DisableTotp(kWebAdmin, "erin");
  ASSERT_TRUE(had.ok());
  EXPECT_FALSE(*had);
  EXPECT_EQ(AuditRecords().size(), n) << "disabling a second factor the user did not have was recorded";
}

// --- The last administrator ---------------------------------------------------

TEST_F(AdminTest, TheWebCannotDisableOrDemoteTheLastEnabledAdministrator) {
  ASSERT_TRUE(admin_->AddUser(kOperator, "reader1", "reader", std::nullopt).ok());
  std::size_t n = AuditRecords().size();
  const audit::Actor token_admin{"token", "0123456789abcdef", "127.0.0.1"};
  for (const auto& by : {kWebAdmin, token_admin}) {
    EXPECT_EQ(admin_->SetUserDisabled(by, "admin", true).code(), Code::kConflict);
    for (const char* role : {"reader", "uploader", "auditor"})
      EXPECT_EQ(admin_->SetUserRole(by, "admin", role).code(), Code::kConflict) << role;
  }
  EXPECT_FALSE(User("admin")->disabled);
  EXPECT_EQ(User("admin")->role, Role::kAdmin);
  EXPECT_EQ(AuditRecords().size(), n) << "a refused change was recorded as done";
  // Changes that keep an administrator are fine.
  EXPECT_TRUE(admin_->SetUserRole(kWebAdmin, "admin", "admin").ok());
  EXPECT_TRUE(admin_->SetUserDisabled(kWebAdmin, "admin", false).ok());
  EXPECT_TRUE(admin_->SetUserDisabled(kWebAdmin, "reader1", true).ok());

  // With a second enabled administrator, one of them may go; then the other is the last.
  ASSERT_TRUE(admin_->AddUser(kWebAdmin, "admin2", "admin", std::nullopt).ok());
  EXPECT_TRUE(admin_->SetUserRole(kWebAdmin, "admin2", "reader").ok());
  EXPECT_EQ(admin_->SetUserDisabled(kWebAdmin, "admin", true).code(), Code::kConflict);
  ASSERT_TRUE(admin_->SetUserRole(kWebAdmin, "admin2", "admin").ok());
  EXPECT_TRUE(admin_->SetUserDisabled(kWebAdmin, "admin", true).ok());
  EXPECT_EQ(admin_->SetUserDisabled(kWebAdmin, "admin2", true).code(), Code::kConflict);
  EXPECT_EQ(admin_->SetUserRole(kWebAdmin, "admin2", "auditor").code(), Code::kConflict);
  // A disabled administrator does not count, and may be demoted.
  EXPECT_TRUE(admin_->SetUserRole(kWebAdmin, "admin", "reader").ok());
  EXPECT_FALSE(User("admin2")->disabled);
  EXPECT_EQ(User("admin2")->role, Role::kAdmin);
}

TEST_F(AdminTest, TheLocalOperatorMayDisableAndDemoteTheLastAdministrator) {
  std::size_t n = AuditRecords().size();
  ASSERT_TRUE(admin_->SetUserDisabled(kOperator, "admin", true).ok());
  EXPECT_TRUE(User("admin")->disabled);
  ExpectRecord(OnlyNewRecord(n++), "user.disable", kOperator, {{"user", "admin"}});
  ASSERT_TRUE(admin_->SetUserDisabled(kOperator, "admin", false).ok());
  ASSERT_TRUE(admin_->SetUserRole(kOperator, "admin", "reader").ok());
  EXPECT_EQ(User("admin")->role, Role::kReader);
  ASSERT_TRUE(admin_->SetUserRole(kOperator, "admin", "admin").ok());
  EXPECT_EQ(AuditRecords().size(), n + 3);
}

// Two administrators on the web, each disabling the other at the same moment:
// one of them must stay. The check and the change are one step.
TEST_F(AdminTest, ConcurrentWebChangesKeepAnAdministrator) {
  ASSERT_TRUE(admin_->AddUser(kOperator, "admin2", "admin", std::nullopt).ok());
  const audit::Actor by_admin{"user", "admin", "127.0.0.1"};
  const audit::Actor by_admin2{"user", "admin2", "127.0.0.1"};
  for (int round = 0; round < 40; ++round) {
    // Each thread has its own Administration (as each web request does).
    Administration a(config_, *users_, *tokens_, *audit_);
    Administration b(config_, *users_, *tokens_, *audit_);
    std::atomic<int> ready{0};
    Status sa, sb;
    bool demote = round % 2 == 1;
    std::thread ta([&] {
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      sa = demote ? a.SetUserRole(by_admin, "admin2", "reader") : a.SetUserDisabled(by_admin, "admin2", true);
    });
    std::thread tb([&] {
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      sb = demote ? b.SetUserRole(by_admin2, "admin", "reader") : b.SetUserDisabled(by_admin2, "admin", true);
    });
    ta.join();
    tb.join();
    int enabled_admins = 0;
    for (const auto& u : admin_->Users())
      if (u.role == Role::kAdmin && !u.disabled) ++enabled_admins;
    ASSERT_GE(enabled_admins, 1) << "round " << round << ": both changes went through (" << sa.ToString() << ", "
                                 << sb.ToString() << ")";
    EXPECT_TRUE(sa.ok() != sb.ok()) << sa.ToString() << " / " << sb.ToString();
    for (const char* name : {"admin", "admin2"}) {
      ASSERT_TRUE(admin_->SetUserDisabled(kOperator, name, false).ok());
      ASSERT_TRUE(admin_->SetUserRole(kOperator, name, "admin").ok());
    }
  }
}

// --- API tokens ----------------------------------------------------------------

TEST_F(AdminTest, CreateAndRevokeToken) {
  ASSERT_TRUE(admin_->AddUser(kOperator, "script", "uploader", std::nullopt).ok());
  std::size_t n = AuditRecords().size();
  auto issued = admin_->CreateToken(kWebAdmin, "script", "30d", "nightly upload");
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  EXPECT_EQ(issued->record.user, "script");
  EXPECT_EQ(issued->record.note, "nightly upload");
  auto lifetime = issued->record.expires - issued->record.created;
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::hours>(lifetime).count(), 30 * 24);
  auto principal = tokens_->Verify(issued->token);
  ASSERT_TRUE(principal.ok());
  EXPECT_TRUE(principal->May(Permission::kStore));
  EXPECT_FALSE(principal->May(Permission::kFind));
  ExpectRecord(OnlyNewRecord(n++), "token.create", kWebAdmin,
               {{"token_id", issued->record.id},
                {"user", "script"},
                {"expires", security::FormatUtc(issued->record.expires)},
                {"note", "nightly upload"}});
  const std::string secret = issued->token.substr(issued->token.rfind('_') + 1);
  ASSERT_EQ(secret.size(), 64u);
  EXPECT_EQ(AuditText().find(secret), std::string::npos) << "the token's secret reached the audit log";
  ASSERT_EQ(admin_->Tokens().size(), 1u);

  auto owner = admin_->RevokeToken(kWebAdmin, issued->record.id);
  ASSERT_TRUE(owner.ok()) << owner.status().ToString();
  EXPECT_EQ(*owner, "script");
  EXPECT_FALSE(tokens_->Verify(issued->token).ok()) << "a revoked token still works";
  EXPECT_TRUE(admin_->Tokens()[0].revoked);
  ExpectRecord(OnlyNewRecord(n++), "token.revoke", kWebAdmin, {{"token_id", issued->record.id}, {"user", "script"}});
}

TEST_F(AdminTest, TokenRefusals) {
  ASSERT_TRUE(admin_->AddUser(kOperator, "script", "uploader", std::nullopt).ok());
  ASSERT_TRUE(admin_->AddUser(kOperator, "gone", "reader", std::nullopt).ok());
  ASSERT_TRUE(admin_->SetUserDisabled(kOperator, "gone", true).ok());
  std::size_t n = AuditRecords().size();
  for (const char* lifetime : {"", "30", "d", "30x", "0h", "366d", "53w", "-1d", "1.5d", "99999999d"})
    EXPECT_EQ(admin_->CreateToken(kWebAdmin, "script", lifetime, "").status().code(), Code::kInvalidArgument)
        << "lifetime '" << lifetime << "'";
  EXPECT_EQ(admin_->CreateToken(kWebAdmin, "nobody", "1d", "").status().code(), Code::kNotFound);
  EXPECT_EQ(admin_->CreateToken(kWebAdmin, "../x", "1d", "").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(admin_->CreateToken(kWebAdmin, "gone", "1d", "").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(admin_->CreateToken(kWebAdmin, "script", "1d", "bad\nnote").status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(admin_->Tokens().empty());
  EXPECT_EQ(admin_->RevokeToken(kWebAdmin, "0123456789abcdef").status().code(), Code::kNotFound);
  EXPECT_EQ(admin_->RevokeToken(kWebAdmin, "../../tokens.json").status().code(), Code::kNotFound);
  EXPECT_EQ(AuditRecords().size(), n) << "a refused token change was recorded";
}

// --- DICOM nodes ---------------------------------------------------------------

TEST_F(AdminTest, ReadingTheSelfScanIsRecorded) {
  // The report lists the server's weak spots: every reading is on the record,
  // also when there is nothing to show yet.
  std::size_t before = AuditRecords().size();
  auto none = admin_->LatestSelfScan(kWebAdmin);
  EXPECT_EQ(none.status().code(), Code::kNotFound);
  ExpectRecord(OnlyNewRecord(before), "self_scan.read", kWebAdmin, {{"found", false}});

  std::filesystem::create_directory(dir_.path() / "self-scan");
  test::WriteBytes(dir_.path() / "self-scan" / "latest.json", "{\"schema\": \"something-else\"}");
  before = AuditRecords().size();
  EXPECT_EQ(admin_->LatestSelfScan(kWebAdmin).status().code(), Code::kCorrupt);
  EXPECT_EQ(AuditRecords().size(), before);  // nothing was shown

  test::WriteBytes(dir_.path() / "self-scan" / "latest.json",
                   R"({"schema": "bastion-scan/1", "finished": "2026-11-22T12:00:00Z", "findings": []})");
  auto report = admin_->LatestSelfScan(kWebAdmin);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ((*report)["finished"], "2026-11-22T12:00:00Z");
  ExpectRecord(OnlyNewRecord(before), "self_scan.read", kWebAdmin,
               {{"found", true}, {"finished", "2026-11-22T12:00:00Z"}});
}

TEST_F(AdminTest, MakeNodeValidates) {
  auto spec = [](std::string ae, std::string hosts, std::string allow, std::string fp = "") {
    Administration::NodeSpec s;
    s.ae = std::move(ae);
    s.hosts = std::move(hosts);
    s.allow = std::move(allow);
    s.tls_cert_sha256 = std::move(fp);
    return s;
  };
  struct Case {
    Administration::NodeSpec spec;
    std::string mentions;
  };
  const std::vector<Case> bad = {
      {spec("CT1", "ct.example.org", "echo"), "ct.example.org"},
      {spec("CT1", "10.0.0.1/33", "echo"), "10.0.0.1/33"},
      {spec("CT1", "10.0.0.999", "echo"), "10.0.0.999"},
      {spec("CT1", "", "echo"), "host"},
      {spec("CT1", "10.0.0.1", "echo,fly"), "fly"},
      {spec("CT1", "10.0.0.1", ""), "allow"},
      {spec("", "10.0.0.1", "echo"), "AE title"},
      {spec("SEVENTEEN_CHARS_X", "10.0.0.1", "echo"), "AE title"},
      {spec("BAD\\AE", "10.0.0.1", "echo"), "AE title"},
      {spec("CT1", "10.0.0.1", "echo", "abc"), "fingerprint"},
  };
  for (const auto& c : bad) {
    auto node = Administration::MakeNode(c.spec);
    ASSERT_FALSE(node.ok()) << c.spec.ae << " " << c.spec.hosts << " " << c.spec.allow;
    EXPECT_EQ(node.status().code(), Code::kInvalidArgument);
    EXPECT_NE(node.status().message().find(c.mentions), std::string::npos) << node.status().message();
  }
  auto ok = Administration::MakeNode(spec(" CT1 ", "10.0.0.5, 10.0.1.0/24", "echo,store,find",
                                          std::string(64, 'A')));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->ae_title, "CT1");
  ASSERT_EQ(ok->hosts.size(), 2u);
  EXPECT_EQ(ok->hosts[1].ToString(), "10.0.1.0/24");
  EXPECT_TRUE(ok->tls_only) << "a pinned certificate means TLS only";
  EXPECT_EQ(ok->tls_cert_sha256, std::string(64, 'a'));
  EXPECT_TRUE(ok->permissions.Has(Permission::kFind));
  EXPECT_FALSE(ok->permissions.Has(Permission::kGet));
}

TEST_F(AdminTest, AddAndRemoveNode) {
  Administration::NodeSpec spec;
  spec.ae = "CT1";
  spec.hosts = "10.1.2.3";
  spec.port = 104;
  spec.allow = "echo,store";
  spec.require_user_identity = true;
  auto node = Administration::MakeNode(spec);
  ASSERT_TRUE(node.ok());
  ASSERT_TRUE(admin_->AddNode(kWebAdmin, *node).ok());
  auto saved = SavedNodes();
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_EQ(saved[0].ae_title, "CT1");
  EXPECT_EQ(saved[0].port, 104);
  EXPECT_TRUE(saved[0].require_user_identity);
  ASSERT_TRUE(admin_->Nodes().ok());
  EXPECT_EQ(admin_->Nodes()->size(), 1u);
  ExpectRecord(OnlyNewRecord(0), "node.add", kWebAdmin,
               {{"ae_title", "CT1"},
                {"hosts", nlohmann::json::array({"10.1.2.3"})},
                {"port", 104},
                {"tls_only", false},
                {"tls_cert_sha256", ""},
                {"require_user_identity", true},
                {"allow", node->permissions.Names()}});

  EXPECT_EQ(admin_->AddNode(kWebAdmin, Node("CT1", "10.9.9.9")).code(), Code::kAlreadyExists);
  EXPECT_EQ(SavedNodes()[0].hosts[0].ToString(), "10.1.2.3") << "a duplicate replaced the node";
  EXPECT_EQ(admin_->RemoveNode(kWebAdmin, "CT2").code(), Code::kNotFound);
  EXPECT_EQ(admin_->RemoveNode(kWebAdmin, "../nodes.json").code(), Code::kNotFound);
  EXPECT_EQ(AuditRecords().size(), 1u) << "a refused node change was recorded";

  ASSERT_TRUE(admin_->RemoveNode(kOperator, "CT1").ok());
  EXPECT_TRUE(SavedNodes().empty());
  ExpectRecord(OnlyNewRecord(1), "node.remove", kOperator, {{"ae_title", "CT1"}});
  EXPECT_EQ(admin_->RemoveNode(kOperator, "CT1").code(), Code::kNotFound);
}

TEST_F(AdminTest, AddNodeRefusesAnInvalidNodeBuiltByHand) {
  security::Node node;
  node.ae_title = "NOHOSTS";
  node.permissions = *security::PermissionSet::Parse("echo", nullptr);
  EXPECT_EQ(admin_->AddNode(kWebAdmin, node).code(), Code::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(security::NodesPath(dir_.path())));
}

// With plain DICOM on a network interface, the registry may only hold plain
// nodes registered by exact address: a change that breaks this is refused
// (kInsecureConfig), and nothing is saved or recorded.
TEST_F(AdminTest, NodeChangesThatFailTheSelfCheckAreRefused) {
  config_.dicom.plain_listen = {*Endpoint::Parse("0.0.0.0:11112")};
  OpenAudit();
  ASSERT_TRUE(admin_->AddNode(kOperator, Node("LEGACY", "10.1.2.3")).ok());
  const std::string before = test::ReadBytes(security::NodesPath(dir_.path()));
  const std::size_t n = AuditRecords().size();

  Status s = admin_->AddNode(kWebAdmin, Node("RANGE", "10.1.0.0/16"));
  EXPECT_EQ(s.code(), Code::kInsecureConfig) << s.ToString();
  EXPECT_NE(s.message().find("RANGE"), std::string::npos) << s.message();
  // The local operator gets the same answer: the server would not start.
  EXPECT_EQ(admin_->AddNode(kOperator, Node("RANGE", "10.1.0.0/16")).code(), Code::kInsecureConfig);
  // Removing the only plain node would leave a network listener nobody may use.
  EXPECT_EQ(admin_->RemoveNode(kWebAdmin, "LEGACY").code(), Code::kInsecureConfig);
  EXPECT_EQ(test::ReadBytes(security::NodesPath(dir_.path())), before) << "a refused change was saved";
  EXPECT_EQ(AuditRecords().size(), n) << "a refused change was recorded";

  // The same range, TLS only, is fine.
  EXPECT_TRUE(admin_->AddNode(kWebAdmin, Node("RANGE", "10.1.0.0/16", "echo", true)).ok());
  EXPECT_EQ(SavedNodes().size(), 2u);
}

// --- Through the archive ---------------------------------------------------------

class ArchiveAdminTest : public AdminTest {
 protected:
  void SetUp() override {
    AdminTest::SetUp();
    auto catalog = index::NewMemoryCatalog();
    ASSERT_TRUE(catalog.ok());
    catalog_ = std::move(catalog).value();
    blobs_ = blobs::OpenLocalBlobStore(dir_ / "blobs");
    staging_ = std::make_unique<blobs::StagingArea>(dir_ / "blobs" / "staging");
    ASSERT_TRUE(staging_->Prepare().ok());
    nodes_ = std::make_unique<security::NodeDirectory>(security::NodesPath(dir_.path()));
    archive_ = std::make_unique<Archive>(config_, Archive::Dependencies{catalog_.get(), blobs_.get(), staging_.get(),
                                                                        audit_.get(), nodes_.get(), users_.get(),
                                                                        tokens_.get()});
  }
  void TearDown() override {
    archive_.reset();
    AdminTest::TearDown();
  }

  static Principal Person(const std::string& name, Role role) {
    Principal p;
    p.kind = security::PrincipalKind::kUser;
    p.id = name;
    p.user = name;
    p.address = "127.0.0.1";
    p.permissions = security::PermissionsFor(role);
    return p;
  }

  std::unique_ptr<index::Catalog> catalog_;
  std::unique_ptr<blobs::BlobStore> blobs_;
  std::unique_ptr<blobs::StagingArea> staging_;
  std::unique_ptr<security::NodeDirectory> nodes_;
  std::unique_ptr<Archive> archive_;
};

TEST_F(ArchiveAdminTest, AdministerAsNeedsTheAdminPermission) {
  for (Role role : {Role::kReader, Role::kUploader, Role::kAuditor}) {
    std::size_t n = AuditRecords().size();
    const std::string name = std::string(security::RoleName(role)) + "1";
    auto admin = archive_->AdministerAs(Person(name, role));
    EXPECT_EQ(admin.status().code(), Code::kPermissionDenied);
    nlohmann::json rec = OnlyNewRecord(n);
    EXPECT_EQ(rec["type"], "admin.refused");
    EXPECT_EQ(rec["outcome"], "failure");
    EXPECT_EQ(rec["actor"]["kind"], "user");
    EXPECT_EQ(rec["actor"]["id"], name);
  }
  auto admin = archive_->AdministerAs(Person("admin", Role::kAdmin));
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  std::size_t n = AuditRecords().size();
  ASSERT_TRUE(admin->AddUser(Archive::ActorOf(Person("admin", Role::kAdmin)), "frank", "reader", std::nullopt).ok());
  ExpectRecord(OnlyNewRecord(n), "user.add", kWebAdmin,
               {{"user", "frank"}, {"role", "reader"}, {"password", "generated"}});
  EXPECT_TRUE(User("frank"));
}

TEST_F(ArchiveAdminTest, AdministerAsWithoutStoresIsUnavailable) {
  Archive bare(config_, Archive::Dependencies{catalog_.get(), blobs_.get(), staging_.get(), audit_.get(),
                                              nodes_.get()});
  EXPECT_EQ(bare.AdministerAs(Person("admin", Role::kAdmin)).status().code(), Code::kUnavailable);
}

TEST_F(ArchiveAdminTest, ReadAuditIsItselfRecorded) {
  ASSERT_TRUE(admin_->AddUser(kWebAdmin, "gina", "auditor", std::nullopt).ok());
  ASSERT_TRUE(admin_->AddUser(kWebAdmin, "hank", "reader", std::nullopt).ok());
  audit::AuditQuery q;
  q.type = "user.";
  q.text = "gina";
  q.limit = 50;
  auto page = archive_->ReadAudit(Person("gina", Role::kAuditor), q);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->records.size(), 1u);
  EXPECT_EQ(page->records[0]["details"]["user"], "gina");
  auto records = AuditRecords();
  ASSERT_EQ(records.size(), 3u);
  nlohmann::json rec = records.back();
  EXPECT_EQ(rec["type"], "audit.read");
  EXPECT_EQ(rec["outcome"], "success");
  EXPECT_EQ(rec["actor"]["id"], "gina");
  EXPECT_EQ(rec["details"]["records"], 1);
  EXPECT_EQ(rec["details"]["filters"]["type"], "user.");
  EXPECT_EQ(rec["details"]["filters"]["text"], "gina");
  EXPECT_EQ(rec["details"]["filters"]["before"], 0);
  EXPECT_EQ(rec["details"]["filters"]["failures_only"], false);

  // The admin may read too; the earlier reading is on the trail.
  q = audit::AuditQuery{};
  q.type = "audit.read";
  page = archive_->ReadAudit(Person("admin", Role::kAdmin), q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->records.size(), 1u);
  EXPECT_EQ(page->records[0]["actor"]["id"], "gina");

  // Without the audit permission: refused, and the attempt recorded with its filters.
  for (Role role : {Role::kReader, Role::kUploader}) {
    std::size_t n = AuditRecords().size();
    q = audit::AuditQuery{};
    q.text = "PAT-7";
    auto refused = archive_->ReadAudit(Person("hank", role), q);
    EXPECT_EQ(refused.status().code(), Code::kPermissionDenied);
    rec = OnlyNewRecord(n);
    EXPECT_EQ(rec["type"], "audit.read");
    EXPECT_EQ(rec["outcome"], "failure");
    EXPECT_EQ(rec["actor"]["id"], "hank");
    EXPECT_EQ(rec["details"]["filters"]["text"], "PAT-7");
    EXPECT_FALSE(rec["details"].contains("records"));
  }
  // An invalid query is refused before anything is read.
  q = audit::AuditQuery{};
  q.limit = 0;
  EXPECT_EQ(archive_->ReadAudit(Person("gina", Role::kAuditor), q).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace bastion::archive
