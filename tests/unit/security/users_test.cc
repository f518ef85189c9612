#include "security/users.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include <string>
#include <thread>
#include <vector>

#include "../temp_dir.h"
#include "security/common_passwords.h"
#include "security/totp.h"

namespace bastion::security {
namespace {

using test::TempDir;
using namespace std::chrono_literals;

const std::string kGood = "violet-anchor-tundra-42";

UserStore::Options Cheap() {
  UserStore::Options o;
  o.hashing = PasswordHashing::CheapForTests();
  return o;
}

struct Store {
  explicit Store(const TempDir& dir, UserStore::Options o = Cheap())
      : store(UsersPath(dir.path()), UsersLockPath(dir.path()), std::move(o)) {}
  UserStore store;
};

int ModeOf(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return static_cast<int>(st.st_mode & 07777);
}

// --- roles

TEST(RolesTest, OneTableFromRoleToPermissions) {
  PermissionSet reader = PermissionsFor(Role::kReader);
  for (Permission p : {Permission::kFind, Permission::kMove, Permission::kGet, Permission::kView})
    EXPECT_TRUE(reader.Has(p));
  for (Permission p : {Permission::kStore, Permission::kAdmin, Permission::kAudit}) EXPECT_FALSE(reader.Has(p));

  PermissionSet uploader = PermissionsFor(Role::kUploader);
  EXPECT_EQ(uploader.ToString(), "store");
  EXPECT_EQ(PermissionsFor(Role::kAuditor).ToString(), "audit");
  EXPECT_EQ(PermissionsFor(Role::kAdmin), PermissionSet::All());
  EXPECT_TRUE(PermissionsFor(Role::kAdmin).Has(Permission::kAudit));
}

TEST(RolesTest, NamesRoundTrip) {
  for (Role r : {Role::kAdmin, Role::kReader, Role::kUploader, Role::kAuditor}) EXPECT_EQ(ParseRole(RoleName(r)), r);
  EXPECT_FALSE(ParseRole("root").has_value());
  EXPECT_FALSE(ParseRole("Admin").has_value());
  EXPECT_FALSE(ParseRole("").has_value());
}

// --- names

TEST(UserNameTest, Validation) {
  for (const std::string& ok : std::vector<std::string>{"a", "alice", "dr.smith", "j_doe-2", "alice@example.org", std::string(64, 'x')})
    EXPECT_TRUE(ValidateUserName(ok).ok()) << ok;
  for (const std::string& bad : std::vector<std::string>{"", std::string(65, 'x'), "al ice", "a/b", "../etc", "a\\b", "émile", "a\nb", "a:b"})
    EXPECT_EQ(ValidateUserName(bad).code(), Code::kInvalidArgument) << bad;
}

// --- password policy

TEST(PasswordPolicyTest, AcceptsGoodPasswords) {
  for (const std::string& ok : std::vector<std::string>{kGood, std::string("correct horse battery staple"), std::string("Tr0ub4dor&3-extended"),
                         std::string("Zürich-Lagos-Oslo!"), GeneratePassword()})
    EXPECT_TRUE(CheckPasswordPolicy(ok, "alice").ok()) << ok << ": " << CheckPasswordPolicy(ok, "alice").message();
}

TEST(PasswordPolicyTest, LengthBounds) {
  Status s = CheckPasswordPolicy("x7#kQ9!pZ2a", "alice");  // 11
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("at least 12"), std::string::npos) << s.message();
  EXPECT_TRUE(CheckPasswordPolicy("x7#kQ9!pZ2aw", "alice").ok());  // 12
  // Counted in characters, not bytes: 11 two-byte characters are still too short.
  EXPECT_EQ(CheckPasswordPolicy("ééééééééééé", "alice").code(), Code::kInvalidArgument);
  std::string longest;
  while (longest.size() < kMaxPasswordLength) longest += "abcdefghij";
  longest.resize(kMaxPasswordLength);
  EXPECT_TRUE(CheckPasswordPolicy(longest.substr(0, kMaxPasswordLength - 3) + "Q9!", "alice").ok());
  Status too_long = CheckPasswordPolicy(longest + "x", "alice");
  EXPECT_NE(too_long.message().find("too long"), std::string::npos) << too_long.message();
}

TEST(PasswordPolicyTest, RejectsCommonPasswordsAndVariants) {
  EXPECT_GE(CommonPasswordCount(), 300u);
  for (const std::string& weak : std::vector<std::string>{"password1234", "Password1234", "PASSWORD1234!", "Welcome2024!!", "P@ssw0rd2024!",
                           "123456789012", "qwertyuiop123", "iloveyou2024", "monkeymonkey", "1qaz2wsx3edc",
                           "changeme12345", "Radiology2025!", "hospital-2026", "!!letmein!!!!"})
    EXPECT_EQ(CheckPasswordPolicy(weak, "alice").code(), Code::kInvalidArgument) << weak;
  Status s = CheckPasswordPolicy("Password1234", "alice");
  EXPECT_NE(s.message().find("common"), std::string::npos) << s.message();
}

TEST(PasswordPolicyTest, RejectsRepeatsSequencesAndTheUserName) {
  Status same = CheckPasswordPolicy("aaaaaaaaaaaaaa", "alice");
  EXPECT_NE(same.message().find("repeated"), std::string::npos) << same.message();
  Status seq = CheckPasswordPolicy("abcdefghijklmn", "alice");
  EXPECT_NE(seq.message().find("sequence"), std::string::npos) << seq.message();
  EXPECT_EQ(CheckPasswordPolicy("9876543210987", "alice").code(), Code::kInvalidArgument);
  EXPECT_EQ(CheckPasswordPolicy("asdfghjklzxcv", "alice").code(), Code::kInvalidArgument);
  Status name = CheckPasswordPolicy("xyz-Dr.Smith-2026", "dr.smith");
  EXPECT_NE(name.message().find("user name"), std::string::npos) << name.message();
  Status few = CheckPasswordPolicy("abababababababab", "alice");
  EXPECT_EQ(few.code(), Code::kInvalidArgument);
  EXPECT_EQ(CheckPasswordPolicy("good-length\tpass", "alice").code(), Code::kInvalidArgument);
}

TEST(PasswordPolicyTest, MessagesNeverContainThePassword) {
  for (const std::string& weak : std::vector<std::string>{"Password1234", "short7", "aaaaaaaaaaaaaa", "abcdefghijklmn", "zz-alice-zz-zz"}) {
    Status s = CheckPasswordPolicy(weak, "alice");
    ASSERT_FALSE(s.ok()) << weak;
    EXPECT_EQ(s.message().find(weak), std::string::npos) << s.message();
  }
}

TEST(GeneratePasswordTest, StrongAndDifferentEachTime) {
  std::string a = GeneratePassword(), b = GeneratePassword();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 23u);
  EXPECT_TRUE(CheckPasswordPolicy(a, "admin").ok());
  for (char c : a) EXPECT_EQ(std::string("0O1lI5S2Z").find(c), std::string::npos) << a;
}

// --- hashing

TEST(PasswordHashTest, RoundTripWithArgon2id) {
  auto hash = HashPassword(kGood, PasswordHashing::CheapForTests());
  ASSERT_TRUE(hash.ok()) << hash.status().ToString();
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u) << *hash;
  EXPECT_EQ(hash->find(kGood), std::string::npos);
  EXPECT_TRUE(VerifyPasswordHash(*hash, kGood));
  EXPECT_FALSE(VerifyPasswordHash(*hash, kGood + "x"));
  EXPECT_FALSE(VerifyPasswordHash(*hash, ""));
  auto again = HashPassword(kGood, PasswordHashing::CheapForTests());
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*hash, *again);  // salted
  EXPECT_FALSE(VerifyPasswordHash("", kGood));
  EXPECT_FALSE(VerifyPasswordHash("$argon2id$garbage", kGood));
}

TEST(PasswordHashTest, DefaultCostIsLibsodiumInteractive) {
  auto cost = PasswordHashing::Default();
  EXPECT_GE(cost.ops_limit, 2u);
  EXPECT_GE(cost.mem_limit, std::size_t{64} << 20);
}

// --- the store

TEST(UserStoreTest, AddVerifyAndPrincipal) {
  TempDir dir;
  Store s(dir);
  ASSERT_TRUE(s.store.Reload().ok());
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  AuthFailure why = AuthFailure::kMalformed;
  auto p = s.store.Verify("alice", kGood, &why);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(why, AuthFailure::kNone);
  EXPECT_EQ(p->kind, PrincipalKind::kUser);
  EXPECT_EQ(p->id, "alice");
  EXPECT_EQ(p->user, "alice");
  EXPECT_EQ(p->permissions, PermissionsFor(Role::kReader));
  EXPECT_TRUE(p->May(Permission::kFind));
  EXPECT_FALSE(p->May(Permission::kStore));
}

TEST(UserStoreTest, FailuresLookAlikeAndSayWhyOnlyToTheCaller) {
  TempDir dir;
  Store s(dir);
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  AuthFailure why{};
  auto wrong = s.store.Verify("alice", kGood + "!", &why);
  EXPECT_EQ(why, AuthFailure::kWrongPassword);
  auto unknown = s.store.Verify("mallory", kGood, &why);
  EXPECT_EQ(why, AuthFailure::kUnknownUser);
  ASSERT_FALSE(wrong.ok());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(wrong.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(unknown.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(wrong.status().message(), unknown.status().message());
  EXPECT_EQ(s.store.Verify("", kGood, &why).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(why, AuthFailure::kMalformed);
  EXPECT_EQ(s.store.Verify("alice", "", &why).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(why, AuthFailure::kMalformed);
}

TEST(UserStoreTest, UnknownUserCostsOneHashLikeAKnownOne) {
  // The timing-independent path, checked without measuring time: an unknown
  // user is verified against a dummy hash of the same cost.
  TempDir dir;
  Store s(dir);
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  auto before = s.store.hash_verifications();
  (void)s.store.Verify("alice", "wrong-but-long-enough", nullptr);
  EXPECT_EQ(s.store.hash_verifications(), before + 1);
  (void)s.store.Verify("nobody-at-all", "wrong-but-long-enough", nullptr);
  EXPECT_EQ(s.store.hash_verifications(), before + 2);
  (void)s.store.Verify("nobody-at-all", kGood, nullptr);
  EXPECT_EQ(s.store.hash_verifications(), before + 3);
}

TEST(UserStoreTest, DisabledUserRefusedEvenWithTheRightPassword) {
  TempDir dir;
  Store s(dir);
  ASSERT_TRUE(s.store.Add("bob", Role::kUploader, kGood).ok());
  ASSERT_TRUE(s.store.SetDisabled("bob", true).ok());
  EXPECT_TRUE(s.store.Find("bob")->disabled);
  AuthFailure why{};
  auto p = s.store.Verify("bob", kGood, &why);
  EXPECT_EQ(p.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(why, AuthFailure::kDisabled);
  ASSERT_TRUE(s.store.SetDisabled("bob", false).ok());
  EXPECT_TRUE(s.store.Verify("bob", kGood, &why).ok());
  EXPECT_EQ(s.store.SetDisabled("nobody", true).code(), Code::kNotFound);
}

TEST(UserStoreTest, AddRefusesDuplicatesBadNamesAndWeakPasswords) {
  TempDir dir;
  Store s(dir);
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  EXPECT_EQ(s.store.Add("alice", Role::kAdmin, kGood + "x").code(), Code::kAlreadyExists);
  EXPECT_EQ(s.store.Add("al ice", Role::kAdmin, kGood).code(), Code::kInvalidArgument);
  EXPECT_EQ(s.store.Add("carol", Role::kAdmin, "password1234").code(), Code::kInvalidArgument);
  EXPECT_EQ(s.store.Snapshot().size(), 1u);
  EXPECT_EQ(s.store.Find("alice")->role, Role::kReader);  // not replaced
}

TEST(UserStoreTest, PasswordChange) {
  TempDir dir;
  Store s(dir);
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  std::string next = "saffron-glacier-meadow-7";
  EXPECT_EQ(s.store.SetPassword("alice", "short").code(), Code::kInvalidArgument);
  EXPECT_TRUE(s.store.Verify("alice", kGood).ok());  // unchanged by the refused attempt
  ASSERT_TRUE(s.store.SetPassword("alice", next).ok());
  EXPECT_FALSE(s.store.Verify("alice", kGood).ok());
  EXPECT_TRUE(s.store.Verify("alice", next).ok());
  EXPECT_EQ(s.store.SetPassword("nobody", next).code(), Code::kNotFound);
}

TEST(UserStoreTest, RoleChangeAppliesToTheNextLogin) {
  TempDir dir;
  Store s(dir);
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  ASSERT_TRUE(s.store.SetRole("alice", Role::kAuditor).ok());
  auto p = s.store.Verify("alice", kGood);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->permissions, PermissionsFor(Role::kAuditor));
}

TEST(UserStoreTest, TimesComeFromTheInjectedClock) {
  TempDir dir;
  auto t0 = std::chrono::system_clock::from_time_t(1790000000);
  auto now = t0;
  UserStore::Options o = Cheap();
  o.clock = [&] { return now; };
  Store s(dir, o);
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  now += 1h;
  ASSERT_TRUE(s.store.SetDisabled("alice", true).ok());
  auto u = s.store.Find("alice");
  EXPECT_EQ(u->created, t0);
  EXPECT_EQ(u->changed, t0 + 1h);
  // And they survive the file.
  Store other(dir);
  EXPECT_EQ(other.store.Find("alice")->created, t0);
}

TEST(UsersFileTest, PrivateModeAndNoPlaintext) {
  TempDir dir;
  Store s(dir);
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  auto file = UsersPath(dir.path());
  EXPECT_EQ(ModeOf(file), 0600);
  std::string text = test::ReadBytes(file);
  EXPECT_EQ(text.find(kGood), std::string::npos);
  EXPECT_NE(text.find("$argon2id$"), std::string::npos);
  EXPECT_NE(text.find("\"role\": \"reader\""), std::string::npos) << text;
}

TEST(UsersFileTest, MissingFileIsEmpty) {
  TempDir dir;
  auto users = LoadUsers(UsersPath(dir.path()));
  ASSERT_TRUE(users.ok());
  EXPECT_TRUE(users->empty());
}

TEST(UsersFileTest, GroupOrWorldReadableFileRefused) {
  TempDir dir;
  Store s(dir);
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  auto file = UsersPath(dir.path());
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  auto users = LoadUsers(file);
  ASSERT_FALSE(users.ok());
  EXPECT_EQ(users.status().code(), Code::kInsecureConfig);
  EXPECT_NE(users.status().message().find("chmod 600"), std::string::npos) << users.status().message();
}

TEST(UsersFileTest, CorruptFileGivesAClearError) {
  TempDir dir;
  auto file = UsersPath(dir.path());
  for (const std::string& bad : std::vector<std::string>{"{not json", "{\"version\": 3, \"users\": []}", "[]",
                          R"({"version":1,"users":[{"name":"a b","role":"reader","password_hash":"$argon2id$x",)"
                          R"("disabled":false,"created":"2026-01-01T00:00:00Z","changed":"2026-01-01T00:00:00Z"}]})",
                          R"({"version":1,"users":[{"name":"ab","role":"root","password_hash":"$argon2id$x",)"
                          R"("disabled":false,"created":"2026-01-01T00:00:00Z","changed":"2026-01-01T00:00:00Z"}]})",
                          R"({"version":1,"users":[{"name":"ab","role":"reader","password_hash":"hunter2",)"
                          R"("disabled":false,"created":"2026-01-01T00:00:00Z","changed":"2026-01-01T00:00:00Z"}]})"}) {
    test::WriteBytes(file, bad);
    ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
    auto users = LoadUsers(file);
    ASSERT_FALSE(users.ok()) << bad;
    EXPECT_EQ(users.status().code(), Code::kCorrupt) << bad;
    EXPECT_NE(users.status().message().find("users.json"), std::string::npos) << users.status().message();
    EXPECT_NE(users.status().message().find("not a valid user file"), std::string::npos);
    UserStore store(file, UsersLockPath(dir.path()), Cheap());
    EXPECT_EQ(store.Reload().code(), Code::kCorrupt);
    // A writer refuses too, rather than overwrite what it cannot read.
    EXPECT_EQ(store.Add("alice", Role::kReader, kGood).code(), Code::kCorrupt);
  }
}

TEST(UserStoreTest, SeesChangesMadeByAnotherProcess) {
  // Two stores on one file stand for `serve` and the CLI.
  TempDir dir;
  Store server(dir), cli(dir);
  ASSERT_TRUE(server.store.Reload().ok());
  EXPECT_FALSE(server.store.Verify("alice", kGood).ok());
  ASSERT_TRUE(cli.store.Add("alice", Role::kReader, kGood).ok());
  EXPECT_TRUE(server.store.Verify("alice", kGood).ok());
  ASSERT_TRUE(cli.store.SetDisabled("alice", true).ok());
  AuthFailure why{};
  EXPECT_FALSE(server.store.Verify("alice", kGood, &why).ok());
  EXPECT_EQ(why, AuthFailure::kDisabled);
}

TEST(UserStoreTest, KeepsTheLastGoodVersionWhenTheFileGoesBad) {
  TempDir dir;
  Store server(dir), cli(dir);
  ASSERT_TRUE(cli.store.Add("alice", Role::kReader, kGood).ok());
  ASSERT_TRUE(server.store.Reload().ok());
  auto file = UsersPath(dir.path());
  auto tmp = dir / "users.json.new";
  test::WriteBytes(tmp, "{broken");
  ASSERT_EQ(::chmod(tmp.c_str(), 0600), 0);
  std::filesystem::rename(tmp, file);
  EXPECT_TRUE(server.store.Verify("alice", kGood).ok());
  EXPECT_EQ(server.store.Snapshot().size(), 1u);
}

TEST(UserStoreTest, ConcurrentWritersLoseNothing) {
  TempDir dir;
  Store a(dir), b(dir);
  std::thread t1([&] {
    for (int i = 0; i < 8; ++i) EXPECT_TRUE(a.store.Add("a" + std::to_string(i), Role::kReader, kGood).ok());
  });
  std::thread t2([&] {
    for (int i = 0; i < 8; ++i) EXPECT_TRUE(b.store.Add("b" + std::to_string(i), Role::kUploader, kGood).ok());
  });
  t1.join();
  t2.join();
  Store check(dir);
  EXPECT_EQ(check.store.Snapshot().size(), 16u);
}

TEST(UserStoreTest, ConcurrentVerifiesAreSafe) {
  TempDir dir;
  UserStore::Options o = Cheap();
  o.max_concurrent_hashes = 2;
  Store s(dir, o);
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        bool right = (i + t) % 2 == 0;
        auto p = s.store.Verify("alice", right ? kGood : kGood + "?");
        (p.ok() ? ok : refused)++;
        EXPECT_EQ(p.ok(), right);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 30);
  EXPECT_EQ(refused.load(), 30);
}

// --- second factor (TOTP)

// The code an authenticator app shows for `secret` at `t`.
std::string CodeAt(const std::string& secret, std::chrono::system_clock::time_point t) {
  auto key = Base32Decode(secret);
  EXPECT_TRUE(key);
  return Hotp(*key, static_cast<std::uint64_t>(TotpStep(t)));
}

struct TotpFixture {
  TempDir dir;
  std::chrono::system_clock::time_point now = std::chrono::system_clock::from_time_t(1790000000);
  UserStore::Options Options() {
    UserStore::Options o = Cheap();
    o.clock = [this] { return now; };
    return o;
  }
};

TEST(UserTotpTest, PasswordAloneNoLongerEnoughThenCodeWorksOnce) {
  TotpFixture f;
  Store s(f.dir, f.Options());
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  auto secret = s.store.EnableTotp("alice");
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_EQ(secret->size(), 32u);
  EXPECT_TRUE(s.store.Find("alice")->has_totp());

  AuthFailure why{};
  auto alone = s.store.Verify("alice", kGood, &why);
  EXPECT_EQ(alone.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(why, AuthFailure::kTotpMissing);

  std::string code = CodeAt(*secret, f.now);
  auto p = s.store.VerifyWithCode("alice", kGood, code, &why);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(why, AuthFailure::kNone);
  EXPECT_EQ(p->user, "alice");

  // The same code, 10 s later (still its step): refused as replayed.
  f.now += 10s;
  EXPECT_FALSE(s.store.VerifyWithCode("alice", kGood, code, &why).ok());
  EXPECT_EQ(why, AuthFailure::kTotpReplayed);
  // The next step's code works.
  f.now += 30s;
  EXPECT_TRUE(s.store.VerifyWithCode("alice", kGood, CodeAt(*secret, f.now), &why).ok());
}

TEST(UserTotpTest, WrongCodeAndWrongPassword) {
  TotpFixture f;
  Store s(f.dir, f.Options());
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  auto secret = s.store.EnableTotp("alice");
  ASSERT_TRUE(secret.ok());
  std::string code = CodeAt(*secret, f.now);
  std::string wrong = code == "000000" ? "000001" : "000000";
  AuthFailure why{};
  auto refused = s.store.VerifyWithCode("alice", kGood, wrong, &why);
  EXPECT_EQ(why, AuthFailure::kTotpWrong);
  // The answer is the one every failure gets.
  EXPECT_EQ(refused.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(refused.status().message(), s.store.Verify("alice", kGood + "!").status().message());
  // A right code with a wrong password says nothing about the code, and does not use it up.
  EXPECT_FALSE(s.store.VerifyWithCode("alice", kGood + "!", code, &why).ok());
  EXPECT_EQ(why, AuthFailure::kWrongPassword);
  EXPECT_TRUE(s.store.VerifyWithCode("alice", kGood, code, &why).ok());
  // Codes two steps away are outside the window.
  f.now += 90s;
  EXPECT_FALSE(s.store.VerifyWithCode("alice", kGood, CodeAt(*secret, f.now - 60s), &why).ok());
  EXPECT_EQ(why, AuthFailure::kTotpWrong);
  EXPECT_TRUE(s.store.VerifyWithCode("alice", kGood, CodeAt(*secret, f.now - 30s), &why).ok());
}

TEST(UserTotpTest, ReplayGuardSurvivesARestartAndIsSharedBetweenProcesses) {
  TotpFixture f;
  std::string secret, code;
  {
    Store server(f.dir, f.Options());
    ASSERT_TRUE(server.store.Add("alice", Role::kReader, kGood).ok());
    secret = *server.store.EnableTotp("alice");
    code = CodeAt(secret, f.now);
    ASSERT_TRUE(server.store.VerifyWithCode("alice", kGood, code).ok());
  }
  // A new store on the same file: a restarted server.
  Store restarted(f.dir, f.Options());
  AuthFailure why{};
  EXPECT_FALSE(restarted.store.VerifyWithCode("alice", kGood, code, &why).ok());
  EXPECT_EQ(why, AuthFailure::kTotpReplayed);
  EXPECT_EQ(LoadUsers(UsersPath(f.dir.path()))->at(0).totp_last_step, TotpStep(f.now));

  // Two stores that both loaded the file before either used the next code:
  // only the first login with it wins.
  f.now += 30s;
  Store a(f.dir, f.Options()), b(f.dir, f.Options());
  ASSERT_TRUE(a.store.Reload().ok());
  ASSERT_TRUE(b.store.Reload().ok());
  std::string next = CodeAt(secret, f.now);
  EXPECT_TRUE(a.store.VerifyWithCode("alice", kGood, next).ok());
  EXPECT_FALSE(b.store.VerifyWithCode("alice", kGood, next, &why).ok());
  EXPECT_EQ(why, AuthFailure::kTotpReplayed);
}

TEST(UserTotpTest, ConcurrentLoginsWithOneCodeOnlyOneWins) {
  TotpFixture f;
  Store s(f.dir, f.Options());
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  std::string secret = *s.store.EnableTotp("alice");
  std::string code = CodeAt(secret, f.now);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      if (s.store.VerifyWithCode("alice", kGood, code).ok()) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
}

TEST(UserTotpTest, EnableAndDisableChangeTheAccountAndRekeyReplacesTheSecret) {
  TotpFixture f;
  Store s(f.dir, f.Options());
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  auto created = s.store.Find("alice")->changed;
  f.now += 1min;
  std::string first = *s.store.EnableTotp("alice");
  EXPECT_EQ(s.store.Find("alice")->changed, f.now);  // ends existing sessions
  EXPECT_GT(s.store.Find("alice")->changed, created);
  f.now += 1min;
  std::string second = *s.store.EnableTotp("alice");
  EXPECT_NE(first, second);
  AuthFailure why{};
  EXPECT_FALSE(s.store.VerifyWithCode("alice", kGood, CodeAt(first, f.now), &why).ok());
  EXPECT_EQ(why, AuthFailure::kTotpWrong);
  EXPECT_TRUE(s.store.VerifyWithCode("alice", kGood, CodeAt(second, f.now)).ok());

  f.now += 1min;
  auto had = s.store.DisableTotp("alice");
  ASSERT_TRUE(had.ok());
  EXPECT_TRUE(*had);
  EXPECT_EQ(s.store.Find("alice")->changed, f.now);
  EXPECT_FALSE(s.store.Find("alice")->has_totp());
  EXPECT_TRUE(s.store.Verify("alice", kGood).ok());
  // Again: nothing to remove, nothing changes.
  auto stamp = s.store.Find("alice")->changed;
  f.now += 1min;
  EXPECT_FALSE(*s.store.DisableTotp("alice"));
  EXPECT_EQ(s.store.Find("alice")->changed, stamp);

  EXPECT_EQ(s.store.EnableTotp("nobody").status().code(), Code::kNotFound);
  EXPECT_EQ(s.store.DisableTotp("nobody").status().code(), Code::kNotFound);
  EXPECT_EQ(s.store.EnableTotp("a b").status().code(), Code::kInvalidArgument);
}

TEST(UserTotpTest, DisabledAccountRefusedBeforeTheCodeIsLookedAt) {
  TotpFixture f;
  Store s(f.dir, f.Options());
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  std::string secret = *s.store.EnableTotp("alice");
  ASSERT_TRUE(s.store.SetDisabled("alice", true).ok());
  AuthFailure why{};
  EXPECT_FALSE(s.store.VerifyWithCode("alice", kGood, CodeAt(secret, f.now), &why).ok());
  EXPECT_EQ(why, AuthFailure::kDisabled);
  EXPECT_EQ(LoadUsers(UsersPath(f.dir.path()))->at(0).totp_last_step, 0);
}

TEST(UsersFileTest, Version1IsReadAndWrittenBackAsVersion2) {
  TempDir dir;
  auto file = UsersPath(dir.path());
  Store s(dir);
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  std::string hash = s.store.Find("alice")->password_hash;
  // A file as the previous release wrote it.
  nlohmann::json alice = {{"name", "alice"},
                          {"role", "reader"},
                          {"password_hash", hash},
                          {"disabled", false},
                          {"created", "2026-01-01T00:00:00Z"},
                          {"changed", "2026-01-02T03:04:05.678Z"}};
  nlohmann::json v1 = {{"version", 1}, {"users", nlohmann::json::array({alice})}};
  test::WriteBytes(file, v1.dump(2));
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  auto users = LoadUsers(file);
  ASSERT_TRUE(users.ok()) << users.status().ToString();
  ASSERT_EQ(users->size(), 1u);
  EXPECT_FALSE(users->at(0).has_totp());
  EXPECT_EQ(FormatUtcMillis(users->at(0).changed), "2026-01-02T03:04:05.678Z");
  // Reading leaves it alone; the password still works.
  Store reader(dir);
  EXPECT_TRUE(reader.store.Verify("alice", kGood).ok());
  EXPECT_EQ(nlohmann::json::parse(test::ReadBytes(file))["version"], 1);
  // The next change writes version 2, with everything kept.
  ASSERT_TRUE(reader.store.SetRole("alice", Role::kUploader).ok());
  auto doc = nlohmann::json::parse(test::ReadBytes(file));
  EXPECT_EQ(doc["version"], 2);
  EXPECT_EQ(doc["users"][0]["password_hash"], hash);
  EXPECT_EQ(doc["users"][0]["created"], "2026-01-01T00:00:00Z");
  EXPECT_FALSE(doc["users"][0].contains("totp"));
  EXPECT_EQ(ModeOf(file), 0600);
}

TEST(UsersFileTest, Version2RoundTripsTheSecondFactor) {
  TotpFixture f;
  Store s(f.dir, f.Options());
  ASSERT_TRUE(s.store.Add("alice", Role::kReader, kGood).ok());
  ASSERT_TRUE(s.store.Add("bob", Role::kUploader, kGood).ok());
  std::string secret = *s.store.EnableTotp("alice");
  ASSERT_TRUE(s.store.VerifyWithCode("alice", kGood, CodeAt(secret, f.now)).ok());
  auto file = UsersPath(f.dir.path());
  EXPECT_EQ(ModeOf(file), 0600);
  auto doc = nlohmann::json::parse(test::ReadBytes(file));
  EXPECT_EQ(doc["version"], 2);
  EXPECT_EQ(doc["users"][0]["totp"]["secret"], secret);
  EXPECT_EQ(doc["users"][0]["totp"]["last_step"], TotpStep(f.now));
  EXPECT_FALSE(doc["users"][1].contains("totp"));

  auto users = LoadUsers(file);
  ASSERT_TRUE(users.ok());
  ASSERT_TRUE(SaveUsers(file, *users).ok());
  auto again = LoadUsers(file);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->at(0).totp_secret, secret);
  EXPECT_EQ(again->at(0).totp_last_step, TotpStep(f.now));
  EXPECT_FALSE(again->at(1).has_totp());
  EXPECT_EQ(test::ReadBytes(file), doc.dump(2) + "\n");
}

TEST(UsersFileTest, MalformedSecondFactorIsCorrupt) {
  TempDir dir;
  auto file = UsersPath(dir.path());
  auto user = [](nlohmann::json totp) {
    nlohmann::json alice = {{"name", "alice"},
                            {"role", "reader"},
                            {"password_hash", "$argon2id$x"},
                            {"disabled", false},
                            {"created", "2026-01-01T00:00:00Z"},
                            {"changed", "2026-01-01T00:00:00Z"},
                            {"totp", totp}};
    return nlohmann::json{{"version", 2}, {"users", nlohmann::json::array({alice})}};
  };
  for (const auto& bad : {nlohmann::json{{"secret", "not base32!"}, {"last_step", 0}},
                          nlohmann::json{{"secret", "MZXW6YTB"}, {"last_step", 0}},  // 5 bytes: too short
                          nlohmann::json{{"secret", GenerateTotpSecret()}, {"last_step", -1}},
                          nlohmann::json{{"secret", GenerateTotpSecret()}},
                          nlohmann::json{{"last_step", 3}}}) {
    test::WriteBytes(file, user(bad).dump());
    ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
    auto users = LoadUsers(file);
    ASSERT_FALSE(users.ok()) << bad;
    EXPECT_EQ(users.status().code(), Code::kCorrupt) << bad;
    // The message never quotes the secret.
    if (bad.contains("secret")) {
      EXPECT_EQ(users.status().message().find(bad["secret"].get<std::string>()), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace bastion::security
