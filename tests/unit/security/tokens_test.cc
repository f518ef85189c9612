#include "security/tokens.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "../temp_dir.h"

namespace bastion::security {
namespace {

using test::TempDir;
using namespace std::chrono_literals;

const std::string kPassword = "violet-anchor-tundra-42";

// A user store and a token store over one directory, with a clock the test moves.
struct Fixture {
  Fixture()
      : now(std::chrono::system_clock::from_time_t(1790000000)),
        users(UsersPath(dir.path()), UsersLockPath(dir.path()), Options()),
        tokens(TokensPath(dir.path()), TokensLockPath(dir.path()), users, [this] { return now; }) {
    EXPECT_TRUE(users.Add("alice", Role::kReader, kPassword).ok());
    EXPECT_TRUE(users.Add("ulla", Role::kUploader, kPassword).ok());
  }
  UserStore::Options Options() {
    UserStore::Options o;
    o.hashing = PasswordHashing::CheapForTests();
    o.clock = [this] { return now; };
    return o;
  }
  TempDir dir;
  std::chrono::system_clock::time_point now;
  UserStore users;
  TokenStore tokens;
};

TEST(LifetimeTest, Parse) {
  EXPECT_EQ(ParseLifetime("30d"), std::chrono::seconds(30 * 86400));
  EXPECT_EQ(ParseLifetime("12h"), std::chrono::seconds(12 * 3600));
  EXPECT_EQ(ParseLifetime("2w"), std::chrono::seconds(14 * 86400));
  for (const char* bad : {"", "d", "30", "30s", "-1d", "1.5d", "30 d", "999999999d", "d30"})
    EXPECT_FALSE(ParseLifetime(bad).has_value()) << bad;
}

TEST(TokenTest, CreateAndVerify) {
  Fixture f;
  auto issued = f.tokens.Create("alice", 30 * 24h, "nightly export");
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  const std::string& token = issued->token;
  EXPECT_EQ(token.rfind("bst_", 0), 0u) << token;
  EXPECT_EQ(token.size(), 4u + 16 + 1 + 64);
  EXPECT_EQ(TokenStore::IdOf(token), issued->record.id);
  EXPECT_EQ(issued->record.expires - issued->record.created, 30 * 24h);

  AuthFailure why = AuthFailure::kMalformed;
  auto p = f.tokens.Verify(token, &why);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(why, AuthFailure::kNone);
  EXPECT_EQ(p->kind, PrincipalKind::kToken);
  EXPECT_EQ(p->id, issued->record.id);
  EXPECT_EQ(p->user, "alice");
  EXPECT_EQ(p->permissions, PermissionsFor(Role::kReader));
}

TEST(TokenTest, OnlyAHashIsStoredInAPrivateFile) {
  Fixture f;
  auto issued = f.tokens.Create("alice", 24h);
  ASSERT_TRUE(issued.ok());
  auto file = TokensPath(f.dir.path());
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::string text = test::ReadBytes(file);
  std::string secret = issued->token.substr(4 + 16 + 1);
  EXPECT_EQ(text.find(secret), std::string::npos);
  EXPECT_EQ(text.find(issued->token), std::string::npos);
  EXPECT_NE(text.find(issued->record.id), std::string::npos);
  for (const auto& t : f.tokens.Snapshot()) EXPECT_EQ(t.token_sha256.size(), 64u);
}

TEST(TokenTest, WrongSecretsAndMalformedTokensRefused) {
  Fixture f;
  auto issued = f.tokens.Create("alice", 24h);
  ASSERT_TRUE(issued.ok());
  std::string token = issued->token;
  AuthFailure why{};
  std::string wrong = token;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(f.tokens.Verify(wrong, &why).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(why, AuthFailure::kWrongSecret);
  std::string other_id = "bst_0000000000000000_" + token.substr(4 + 16 + 1);
  EXPECT_FALSE(f.tokens.Verify(other_id, &why).ok());
  EXPECT_EQ(why, AuthFailure::kUnknownToken);
  for (const std::string& bad : std::vector<std::string>{std::string(), std::string("bst_"), token.substr(1), token + "0", "Bearer " + token,
                          std::string("bst_ABCDEF0123456789_") + token.substr(21)}) {
    EXPECT_EQ(f.tokens.Verify(bad, &why).status().code(), Code::kUnauthenticated) << bad;
    EXPECT_EQ(why, AuthFailure::kMalformed) << bad;
  }
  // Every failure reads the same.
  EXPECT_EQ(f.tokens.Verify(wrong).status().message(), f.tokens.Verify("garbage").status().message());
}

TEST(TokenTest, ExpiresWithTheInjectedClock) {
  Fixture f;
  auto issued = f.tokens.Create("alice", 2h);
  ASSERT_TRUE(issued.ok());
  f.now += 2h - 1s;
  EXPECT_TRUE(f.tokens.Verify(issued->token).ok());
  f.now += 1s;
  AuthFailure why{};
  EXPECT_FALSE(f.tokens.Verify(issued->token, &why).ok());
  EXPECT_EQ(why, AuthFailure::kExpired);
}

TEST(TokenTest, LifetimeIsRequiredToBeBounded) {
  Fixture f;
  EXPECT_EQ(f.tokens.Create("alice", 0s).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(f.tokens.Create("alice", 59min).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(f.tokens.Create("alice", 366 * 24h).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(f.tokens.Create("alice", 365 * 24h).ok());
  EXPECT_TRUE(f.tokens.Create("alice", 1h).ok());
}

TEST(TokenTest, OwnerMustExistAndBeEnabled) {
  Fixture f;
  EXPECT_EQ(f.tokens.Create("nobody", 24h).status().code(), Code::kNotFound);
  ASSERT_TRUE(f.users.SetDisabled("ulla", true).ok());
  EXPECT_EQ(f.tokens.Create("ulla", 24h).status().code(), Code::kInvalidArgument);
}

TEST(TokenTest, RevokedTokenRefusedAndKeptForTheRecord) {
  Fixture f;
  auto a = f.tokens.Create("alice", 24h);
  auto b = f.tokens.Create("alice", 24h);
  ASSERT_TRUE(a.ok() && b.ok());
  f.now += 1min;
  ASSERT_TRUE(f.tokens.Revoke(a->record.id).ok());
  ASSERT_TRUE(f.tokens.Revoke(a->record.id).ok());  // twice is fine
  AuthFailure why{};
  EXPECT_FALSE(f.tokens.Verify(a->token, &why).ok());
  EXPECT_EQ(why, AuthFailure::kRevoked);
  EXPECT_TRUE(f.tokens.Verify(b->token).ok());  // only that one
  auto list = f.tokens.Snapshot();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_TRUE(list[0].revoked);
  EXPECT_EQ(list[0].revoked_at, f.now);
  EXPECT_EQ(f.tokens.Revoke("0123456789abcdef").code(), Code::kNotFound);
}

TEST(TokenTest, DisabledOwnerStopsTheTokenAndRoleChangesApply) {
  Fixture f;
  auto issued = f.tokens.Create("ulla", 24h);
  ASSERT_TRUE(issued.ok());
  auto p = f.tokens.Verify(issued->token);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->permissions, PermissionsFor(Role::kUploader));
  ASSERT_TRUE(f.users.SetRole("ulla", Role::kReader).ok());
  EXPECT_EQ(f.tokens.Verify(issued->token)->permissions, PermissionsFor(Role::kReader));
  ASSERT_TRUE(f.users.SetDisabled("ulla", true).ok());
  AuthFailure why{};
  EXPECT_FALSE(f.tokens.Verify(issued->token, &why).ok());
  EXPECT_EQ(why, AuthFailure::kDisabled);
}

TEST(TokenTest, SeesTokensCreatedAndRevokedByAnotherProcess) {
  Fixture f;
  TokenStore cli(TokensPath(f.dir.path()), TokensLockPath(f.dir.path()), f.users, [&] { return f.now; });
  ASSERT_TRUE(f.tokens.Reload().ok());
  auto issued = cli.Create("alice", 24h);
  ASSERT_TRUE(issued.ok());
  EXPECT_TRUE(f.tokens.Verify(issued->token).ok());
  ASSERT_TRUE(cli.Revoke(issued->record.id).ok());
  EXPECT_FALSE(f.tokens.Verify(issued->token).ok());
}

TEST(TokenTest, CorruptOrExposedFileGivesAClearError) {
  Fixture f;
  auto file = TokensPath(f.dir.path());
  test::WriteBytes(file, "{\"version\": 1, \"tokens\": [{\"id\": \"XYZ\"}]}");
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  auto loaded = LoadTokens(file);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kCorrupt);
  EXPECT_NE(loaded.status().message().find("tokens.json"), std::string::npos);
  EXPECT_EQ(f.tokens.Reload().code(), Code::kCorrupt);
  EXPECT_EQ(f.tokens.Create("alice", 24h).status().code(), Code::kCorrupt);
  ASSERT_TRUE(SaveTokens(file, {}).ok());
  ASSERT_EQ(::chmod(file.c_str(), 0640), 0);
  EXPECT_EQ(LoadTokens(file).status().code(), Code::kInsecureConfig);
}

TEST(TokenTest, RoundTripThroughTheFile) {
  Fixture f;
  auto issued = f.tokens.Create("alice", 48h, "backup job");
  ASSERT_TRUE(issued.ok());
  auto loaded = LoadTokens(TokensPath(f.dir.path()));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 1u);
  const ApiToken& t = loaded->front();
  EXPECT_EQ(t.id, issued->record.id);
  EXPECT_EQ(t.user, "alice");
  EXPECT_EQ(t.note, "backup job");
  EXPECT_EQ(t.created, issued->record.created);
  EXPECT_EQ(t.expires, issued->record.expires);
  EXPECT_FALSE(t.revoked);
}

}  // namespace
}  // namespace bastion::security
