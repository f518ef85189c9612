// API tokens for scripts and machines acting for a user: DIR/tokens.json.
// Format: docs/security.md ("API tokens").
//
// A token is "bst_<id>_<secret>": id = 16 lower-case hex digits (public: it
// names the token in lists, audit records and `token revoke`), secret = 64
// lower-case hex digits (32 random bytes). Only SHA-256 of the whole token is
// stored; a fast hash is enough because the secret has 256 bits of entropy,
// and the comparison is constant-time. A token acts with its owner's current
// role, and stops working when it expires, is revoked, or its owner is
// disabled or removed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "security/store_file.h"
#include "security/principal.h"
#include "security/users.h"
#include "util/status.h"

namespace bastion::security {

inline constexpr std::string_view kTokenPrefix = "bst_";
inline constexpr std::chrono::hours kMaxTokenLifetime{24 * 365};
inline constexpr std::chrono::hours kMinTokenLifetime{1};

struct ApiToken {
  std::string id;             // 16 hex digits
  std::string user;           // owner
  std::string token_sha256;   // SHA-256 of the whole token string, lower-case hex
  std::string note;           // what it is for (free text, optional, at most 200 characters)
  std::chrono::system_clock::time_point created{};
  std::chrono::system_clock::time_point expires{};
  bool revoked = false;
  std::chrono::system_clock::time_point revoked_at{};
};

// "30d", "12h", "2w" -> a duration; nullopt if malformed. Bounds are checked by TokenStore::Create.
std::optional<std::chrono::seconds> ParseLifetime(std::string_view text);

std::filesystem::path TokensPath(const std::filesystem::path& data_dir);      // DIR/tokens.json
std::filesystem::path TokensLockPath(const std::filesystem::path& data_dir);  // DIR/.tokens.lock

// Same contract as LoadUsers/SaveUsers: missing = empty, mode 0600 enforced.
Result<std::vector<ApiToken>> LoadTokens(const std::filesystem::path& file);
Status SaveTokens(const std::filesystem::path& file, const std::vector<ApiToken>& tokens);

// tokens.json as the server and the CLI see it. Thread-safe, reloaded when the
// file changes, writers serialised by DIR/.tokens.lock — as UserStore.
// `users` must outlive the TokenStore.
class TokenStore {
 public:
  TokenStore(std::filesystem::path file, std::filesystem::path lock_file, UserStore& users,
             WallClock clock = std::chrono::system_clock::now);
  TokenStore(const TokenStore&) = delete;
  TokenStore& operator=(const TokenStore&) = delete;

  Status Reload();

  struct Issued {
    std::string token;  // shown once; not stored anywhere
    ApiToken record;
  };
  // For an existing, enabled user; lifetime between kMinTokenLifetime and
  // kMaxTokenLifetime (kInvalidArgument otherwise).
  Result<Issued> Create(std::string_view user, std::chrono::seconds lifetime, std::string_view note = {});
  // Marks it revoked (kept for the record); kNotFound for an unknown id. Revoking twice is ok.
  Status Revoke(std::string_view id);

  // Checks a presented token. On success a kToken Principal: id = token id,
  // user = owner, permissions = the owner's role's permissions now. Every
  // failure is kUnauthenticated with the same message; `why` receives the
  // reason for the audit record. Cheap (one SHA-256), so no concurrency bound.
  Result<Principal> Verify(std::string_view token, AuthFailure* why = nullptr);

  std::vector<ApiToken> Snapshot();
  // The id of a token string, if it is in bst_ form (for audit records of failures).
  static std::optional<std::string> IdOf(std::string_view token);

 private:
  void MaybeReload();

  const std::filesystem::path file_;
  const std::filesystem::path lock_file_;
  UserStore& users_;
  const WallClock clock_;

  std::mutex mu_;
  std::vector<ApiToken> tokens_;  // guarded by mu_
  FileIdentity loaded_;           // guarded by mu_
  FileIdentity refused_;          // guarded by mu_
};

}  // namespace bastion::security
