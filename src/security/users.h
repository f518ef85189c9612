// People: user accounts, roles and passwords, kept in DIR/users.json.
// Format and policy: docs/security.md ("People, passwords and tokens").
//
// The front ends (DICOM User Identity Negotiation, the web login) call
// UserStore::Verify and get a Principal carrying the role's permissions; the
// CLI changes accounts through the same UserStore. Knows nothing of DICOM
// networking or HTTP.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <condition_variable>
#include <string>
#include <string_view>
#include <vector>

#include "security/store_file.h"
#include "security/principal.h"
#include "util/status.h"

namespace bastion::security {

// ---------------------------------------------------------------------------
// Roles: the one table from role to permissions (DESIGN: security model).

enum class Role { kAdmin, kReader, kUploader, kAuditor };

std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);  // "admin", "reader", "uploader", "auditor"
// admin: everything; reader: find, move, get, view; uploader: store; auditor: audit.
PermissionSet PermissionsFor(Role role);

// ---------------------------------------------------------------------------
// Names and passwords

// 1-64 characters from letters, digits and . _ - @ (so an e-mail address works).
Status ValidateUserName(std::string_view name);

inline constexpr std::size_t kMinPasswordLength = 12;   // characters (UTF-8 code points)
inline constexpr std::size_t kMaxPasswordLength = 256;  // characters

// The password policy: length within bounds, no control characters, not a
// commonly used password (an embedded list, also after lower-casing,
// undoing common letter substitutions and stripping leading/trailing digits
// and symbols), not one repeated character or a keyboard/alphabet sequence,
// at least 5 different characters, and not containing the user name.
// kInvalidArgument with a message that says which rule, never the password.
Status CheckPasswordPolicy(std::string_view password, std::string_view user_name);

// A random password that passes the policy: 4 groups of 5 characters from a
// 52-character alphabet without look-alikes, e.g. "k7Qpx-Rm4tz-..." (~114 bits).
std::string GeneratePassword();

// Argon2id cost (libsodium crypto_pwhash_str). Every hash records its own
// parameters, so changing these affects new hashes only.
struct PasswordHashing {
  unsigned long long ops_limit;
  std::size_t mem_limit;  // bytes
  // libsodium's INTERACTIVE limits: t=2, 64 MiB (measured verify time: docs/security.md).
  static PasswordHashing Default();
  // The cheapest libsodium allows, for unit tests only: never for stored passwords.
  static PasswordHashing CheapForTests();
};

// The PHC string "$argon2id$v=19$m=...,t=...,p=1$salt$hash".
Result<std::string> HashPassword(std::string_view password, const PasswordHashing& cost);
// Constant-time in the password; false for a malformed hash.
bool VerifyPasswordHash(std::string_view hash, std::string_view password);

// ---------------------------------------------------------------------------
// Accounts

struct User {
  std::string name;
  Role role = Role::kReader;
  std::string password_hash;  // Argon2id PHC string; never the password
  bool disabled = false;
  std::chrono::system_clock::time_point created{};
  std::chrono::system_clock::time_point changed{};  // last change of role, password, disabled flag or second factor
  // The optional second factor (security/totp.h): the RFC 4648 base32 TOTP
  // secret, empty when the user has none; and the last time step a code was
  // accepted for, so a code works once (kept across restarts).
  std::string totp_secret;
  std::int64_t totp_last_step = 0;
  bool has_totp() const { return !totp_secret.empty(); }
};

std::filesystem::path UsersPath(const std::filesystem::path& data_dir);      // DIR/users.json
std::filesystem::path UsersLockPath(const std::filesystem::path& data_dir);  // DIR/.users.lock

// The file as a whole (docs/security.md: version 2; version 1, without the
// second factor, is read as is and written as version 2 on the next change).
// A missing file is an empty list. A file readable or
// writable by group/others, or one that does not parse, is an error that
// names the file and says how to fix it (kCorrupt for content, kInsecureConfig for mode).
Result<std::vector<User>> LoadUsers(const std::filesystem::path& file);
// Atomic, durable, mode 0600. Callers hold the lock file across read-modify-write.
Status SaveUsers(const std::filesystem::path& file, const std::vector<User>& users);

// Why an authentication failed: for the audit record and the server log only.
// Front ends answer every failure the same way ("user name or password not
// accepted"), so a guesser cannot tell an unknown user from a wrong password.
enum class AuthFailure {
  kNone,
  kMalformed,      // empty or over-long name/password, or a token not in bst_ form
  kUnknownUser,
  kWrongPassword,
  kDisabled,       // the password (or token) was right, but the account is disabled
  kUnknownToken,
  kWrongSecret,
  kExpired,
  kRevoked,
  kBusy,           // too many password checks at once; try later (kUnavailable)
  kTotpMissing,    // the password was right; the user has a second factor and no code was sent
  kTotpWrong,      // the password was right; the code is not the current one
  kTotpReplayed,   // the password was right; the code was already used (or is older than one that was)
  kStoreFailed,    // the code was right but could not be recorded as used; refused (kUnavailable)
};
std::string_view AuthFailureName(AuthFailure failure);  // "unknown_user", ...

// The clock for timestamps and token expiry; injectable for tests.
using WallClock = std::function<std::chrono::system_clock::time_point()>;

// users.json as a running server and the CLI see it.
//
// Thread-safe: any number of threads may call Verify, Find and Snapshot
// concurrently with each other and with the writers. The file is re-read when
// it changes (checked by stat on every call; an atomic replacement changes the
// inode), so accounts changed with the CLI apply to the very next login. If
// the changed file no longer loads, the last good version stays in force and
// the error is logged once.
//
// Writers (Add, SetPassword, SetDisabled, SetRole, the TOTP calls, and
// VerifyWithCode when it records a used code) take DIR/.users.lock
// (flock) across read-modify-write of the file, so several processes (serve,
// the CLI) and several threads may change accounts at once without losing an
// update. They hash outside the lock.
class UserStore {
 public:
  struct Options {
    PasswordHashing hashing = PasswordHashing::Default();
    // At most this many Argon2id computations at once (each takes mem_limit
    // bytes); further callers wait up to hash_wait, then get kUnavailable.
    int max_concurrent_hashes = 4;
    std::chrono::milliseconds hash_wait{5000};
    WallClock clock = std::chrono::system_clock::now;
  };

  UserStore(std::filesystem::path file, std::filesystem::path lock_file);
  UserStore(std::filesystem::path file, std::filesystem::path lock_file, Options options);
  ~UserStore();
  UserStore(const UserStore&) = delete;
  UserStore& operator=(const UserStore&) = delete;

  // Loads now; fails if the file is unreadable or invalid. Call once at start-up.
  Status Reload();

  // Checks a user name and password. On success a kUser Principal with the
  // role's permissions (address left empty: the front end fills it in).
  // Every failure is kUnauthenticated with the same message ("user name or
  // password not accepted"), except kUnavailable when too many checks are
  // running; `why`, if given, receives the reason for the audit record.
  // Takes the same time whether or not the user exists: an unknown user is
  // checked against a dummy hash of the same cost. A disabled user is refused
  // even with the right password.
  //
  // A user with a second factor also needs `code`, the current TOTP code
  // (checked only once the password is right): without one, kTotpMissing;
  // a wrong one, kTotpWrong; one already used, kTotpReplayed. An accepted
  // code's time step is written to the file under the lock before the
  // login succeeds, so the same code is refused from then on, also by
  // another process and after a restart.
  Result<Principal> Verify(std::string_view name, std::string_view password, AuthFailure* why = nullptr);
  Result<Principal> VerifyWithCode(std::string_view name, std::string_view password,
                                   std::optional<std::string_view> code, AuthFailure* why = nullptr);

  std::optional<User> Find(std::string_view name);
  std::vector<User> Snapshot();

  // Writers. Each validates the name and (for passwords) the policy first:
  // kInvalidArgument with a clear message; kAlreadyExists / kNotFound as
  // the names say.
  Status Add(std::string_view name, Role role, std::string_view password);
  Status SetPassword(std::string_view name, std::string_view password);
  Status SetDisabled(std::string_view name, bool disabled);
  Status SetRole(std::string_view name, Role role);
  // Gives the user a new random TOTP secret (replacing any earlier one) and
  // returns it, base32: show it once, never store it elsewhere.
  Result<std::string> EnableTotp(std::string_view name);
  // Removes the second factor; false if the user had none (nothing changes).
  Result<bool> DisableTotp(std::string_view name);
  // Both change the user's `changed` time, which ends their sessions.

  // How many Argon2id verifications this store has run (tests check that an
  // unknown user costs one, like a known one, without measuring time).
  std::uint64_t hash_verifications() const { return hash_verifications_.load(); }

 private:
  void MaybeReload();
  // Runs one Argon2id verification under the concurrency bound; nullopt when busy.
  std::optional<bool> BoundedVerify(std::string_view hash, std::string_view password);
  Result<std::string> BoundedHash(std::string_view password);
  // Checks a code for `user` (whose password was right) and records its step.
  AuthFailure CheckSecondFactor(const User& user, std::optional<std::string_view> code);
  // Read-modify-write under the lock file; `change` edits the list.
  Status Change(const std::function<Status(std::vector<User>&)>& change);

  const std::filesystem::path file_;
  const std::filesystem::path lock_file_;
  const Options options_;
  // A counting semaphore for Argon2id computations, as a mutex and a
  // condition variable (plain, and with a timed wait whose behaviour is certain).
  bool AcquireHashSlot();
  void ReleaseHashSlot();
  std::mutex slots_mu_;
  std::condition_variable slots_cv_;
  int free_slots_;  // guarded by slots_mu_
  std::once_flag dummy_once_;
  std::string dummy_hash_;  // a hash of a random password at the configured cost; set once, on first Verify

  std::mutex mu_;
  std::vector<User> users_;  // guarded by mu_
  FileIdentity loaded_;      // guarded by mu_
  FileIdentity refused_;     // last version that failed to load; guarded by mu_
  std::atomic<std::uint64_t> hash_verifications_{0};
};

}  // namespace bastion::security
