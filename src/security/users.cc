#include "security/users.h"

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <set>

#include "security/common_passwords.h"
#include "security/totp.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/log.h"

namespace bastion::security {
namespace {

// Every failure answers the same, whatever the reason (no user enumeration).
constexpr const char* kNotAccepted = "user name or password not accepted";
constexpr std::size_t kMaxUsersFileBytes = 16 << 20;
// Version 2 added the per-user "totp" object; version 1 files are read as is.
constexpr int kUsersFileVersion = 2;

void EnsureSodium() {
  // sodium_init is thread-safe and idempotent; < 0 means no usable randomness.
  if (::sodium_init() < 0) {
    spdlog::critical("libsodium failed to initialise");
    std::abort();
  }
}

struct RoleRow {
  Role role;
  std::string_view name;
  std::initializer_list<Permission> permissions;  // empty for admin: everything
};
// The one table from role to permissions.
const RoleRow kRoles[] = {
    {Role::kAdmin, "admin", {}},
    {Role::kReader, "reader", {Permission::kFind, Permission::kMove, Permission::kGet, Permission::kView}},
    {Role::kUploader, "uploader", {Permission::kStore}},
    {Role::kAuditor, "auditor", {Permission::kAudit}},
};

std::size_t CodePoints(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// "Password123!" -> "password"; digits and symbols around the word are the
// usual way of meeting composition rules and add almost nothing.
std::string_view StripAround(std::string_view s) {
  while (!s.empty() && !IsAsciiLetter(s.front())) s.remove_prefix(1);
  while (!s.empty() && !IsAsciiLetter(s.back())) s.remove_suffix(1);
  return s;
}

// "p@55w0rd" -> "password"; `one` is what "1" stands for ('i' or 'l').
std::string Unleet(std::string_view lower, char one) {
  std::string out(lower);
  for (char& c : out) {
    switch (c) {
      case '@': case '4': c = 'a'; break;
      case '3': c = 'e'; break;
      case '0': c = 'o'; break;
      case '$': case '5': c = 's'; break;
      case '7': c = 't'; break;
      case '!': c = 'i'; break;
      case '1': c = one; break;
      default: break;
    }
  }
  return out;
}

// A common word, or one repeated ("monkeymonkey").
bool IsCommonOrRepeated(std::string_view word) {
  if (word.empty()) return false;
  if (IsCommonPassword(word)) return true;
  for (std::size_t d = 1; d < word.size(); ++d) {
    if (word.size() % d != 0) continue;
    bool repeated = true;
    for (std::size_t i = d; i < word.size() && repeated; ++i) repeated = word[i] == word[i - d];
    if (repeated) return IsCommonPassword(word.substr(0, d));
  }
  return false;
}

bool IsCommonVariant(std::string_view password) {
  std::string lower = Lower(password);
  if (IsCommonOrRepeated(lower) || IsCommonOrRepeated(StripAround(lower))) return true;
  for (char one : {'i', 'l'}) {
    std::string plain = Unleet(lower, one);
    if (IsCommonOrRepeated(plain) || IsCommonOrRepeated(StripAround(plain))) return true;
  }
  return false;
}

// The whole password is a run along the alphabet, the digits or a keyboard row.
bool IsSequence(std::string_view lower) {
  static const std::array<std::string, 4> kWalks = [] {
    std::string alpha = "abcdefghijklmnopqrstuvwxyz", digits = "0123456789";
    std::string rows = "qwertyuiopasdfghjklzxcvbnm", columns = "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p";
    std::array<std::string, 4> w;
    int i = 0;
    for (const auto& base : {alpha, digits, rows, columns}) {
      std::string repeated;
      while (repeated.size() < kMaxPasswordLength * 2) repeated += base;
      w[i++] = repeated;
    }
    return w;
  }();
  for (const auto& walk : kWalks) {
    if (walk.find(lower) != std::string::npos) return true;
    std::string backwards(walk.rbegin(), walk.rend());
    if (backwards.find(lower) != std::string::npos) return true;
  }
  return false;
}

Status Rejected(std::string message) { return Status(Code::kInvalidArgument, std::move(message)); }

nlohmann::json ToJson(const User& u) {
  nlohmann::json j = {{"name", u.name},
                      {"role", RoleName(u.role)},
                      {"password_hash", u.password_hash},
                      {"disabled", u.disabled},
                      {"created", FormatUtc(u.created)},
                      {"changed", FormatUtcMillis(u.changed)}};
  if (u.has_totp()) j["totp"] = {{"secret", u.totp_secret}, {"last_step", u.totp_last_step}};
  return j;
}

// A secret we would have generated, or at least one an app can use: base32
// of 16 to 64 bytes.
bool IsUsableTotpSecret(std::string_view secret) {
  auto key = Base32Decode(secret);
  return key && key->size() >= 16 && key->size() <= 64;
}

}  // namespace

// ---------------------------------------------------------------------------

std::string_view RoleName(Role role) {
  for (const auto& r : kRoles)
    if (r.role == role) return r.name;
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (const auto& r : kRoles)
    if (r.name == name) return r.role;
  return std::nullopt;
}

PermissionSet PermissionsFor(Role role) {
  for (const auto& r : kRoles) {
    if (r.role != role) continue;
    if (r.role == Role::kAdmin) return PermissionSet::All();
    PermissionSet s;
    for (Permission p : r.permissions) s.Add(p);
    return s;
  }
  return PermissionSet();
}

Status ValidateUserName(std::string_view name) {
  if (name.empty() || name.size() > 64)
    return Rejected("a user name is 1-64 characters: letters, digits and . _ - @");
  for (char c : name) {
    bool ok = IsAsciiLetter(c) || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '@';
    if (!ok) return Rejected("a user name may contain only letters, digits and . _ - @");
  }
  return Status::Ok();
}

Status CheckPasswordPolicy(std::string_view password, std::string_view user_name) {
  std::size_t length = CodePoints(password);
  if (length < kMinPasswordLength)
    return Rejected("password too short: it needs at least " + std::to_string(kMinPasswordLength) +
                    " characters (it has " + std::to_string(length) + "); a few unrelated words make a good one");
  if (length > kMaxPasswordLength)
    return Rejected("password too long: at most " + std::to_string(kMaxPasswordLength) + " characters");
  for (unsigned char c : password)
    if (c < 0x20 || c == 0x7F) return Rejected("password contains a control character (tab, newline, ...)");
  std::string lower = Lower(password);
  std::set<char> distinct(lower.begin(), lower.end());
  if (distinct.size() == 1) return Rejected("password is one character repeated");
  if (IsSequence(lower)) return Rejected("password is a keyboard, alphabet or digit sequence");
  if (IsCommonVariant(password))
    return Rejected("password is too common: it is, or is built on, one of the most used passwords");
  if (!user_name.empty() && lower.find(Lower(user_name)) != std::string::npos)
    return Rejected("password must not contain the user name");
  if (distinct.size() < 5) return Rejected("password uses fewer than 5 different characters");
  return Status::Ok();
}

std::string GeneratePassword() {
  // No look-alikes (0/O/o, 1/l/I, 5/S, 2/Z): it may be read off a screen and typed.
  static constexpr std::string_view kAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRTUVWXY346789";
  std::string out;
  while (true) {
    out.clear();
    for (int group = 0; group < 4; ++group) {
      if (group) out += '-';
      for (int i = 0; i < 5; ++i) {
        // Rejection sampling: uniform over the alphabet.
        std::uint8_t b = 0;
        do RandomBytes(std::span(&b, 1));
        while (b >= 256 - (256 % kAlphabet.size()));
        out += kAlphabet[b % kAlphabet.size()];
      }
    }
    if (CheckPasswordPolicy(out, "").ok()) return out;  // (virtually always at once)
  }
}

PasswordHashing PasswordHashing::Default() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

PasswordHashing PasswordHashing::CheapForTests() {
  return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

Result<std::string> HashPassword(std::string_view password, const PasswordHashing& cost) {
  EnsureSodium();
  char out[crypto_pwhash_STRBYTES];
  if (::crypto_pwhash_str_alg(out, password.data(), password.size(), cost.ops_limit, cost.mem_limit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Status(Code::kUnavailable, "not enough memory to hash the password");
  return std::string(out);
}

bool VerifyPasswordHash(std::string_view hash, std::string_view password) {
  EnsureSodium();
  // libsodium wants a NUL-terminated hash string; reject anything that cannot be one.
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES || hash.find('\0') != std::string_view::npos)
    return false;
  std::string h(hash);
  return ::crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

std::string_view AuthFailureName(AuthFailure failure) {
  switch (failure) {
    case AuthFailure::kNone: return "none";
    case AuthFailure::kMalformed: return "malformed";
    case AuthFailure::kUnknownUser: return "unknown_user";
    case AuthFailure::kWrongPassword: return "wrong_password";
    case AuthFailure::kDisabled: return "disabled";
    case AuthFailure::kUnknownToken: return "unknown_token";
    case AuthFailure::kWrongSecret: return "wrong_secret";
    case AuthFailure::kExpired: return "expired";
    case AuthFailure::kRevoked: return "revoked";
    case AuthFailure::kBusy: return "busy";
    case AuthFailure::kTotpMissing: return "totp_missing";
    case AuthFailure::kTotpWrong: return "totp_wrong";
    case AuthFailure::kTotpReplayed: return "totp_replayed";
    case AuthFailure::kStoreFailed: return "store_failed";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// The file

std::filesystem::path UsersPath(const std::filesystem::path& data_dir) { return data_dir / "users.json"; }
std::filesystem::path UsersLockPath(const std::filesystem::path& data_dir) { return data_dir / ".users.lock"; }

Result<std::vector<User>> LoadUsers(const std::filesystem::path& file) {
  BASTION_ASSIGN_OR_RETURN(auto text, ReadPrivateFile(file, kMaxUsersFileBytes));
  if (!text) return std::vector<User>{};
  auto corrupt = [&](const std::string& what) {
    return Status(Code::kCorrupt, file.string() + " is not a valid user file (" + what +
                                      "); restore it from a backup or fix it by hand");
  };
  std::vector<User> out;
  try {
    auto doc = nlohmann::json::parse(*text);
    if (!doc.is_object()) return corrupt("not a JSON object");
    int version = doc.value("version", 0);
    if (version != 1 && version != kUsersFileVersion) return corrupt("missing or unknown \"version\"");
    std::set<std::string> seen;
    for (const auto& j : doc.at("users")) {
      User u;
      u.name = j.at("name").get<std::string>();
      if (!ValidateUserName(u.name).ok()) return corrupt("invalid user name");
      if (!seen.insert(u.name).second) return corrupt("user " + u.name + " appears twice");
      auto role = ParseRole(j.at("role").get<std::string>());
      if (!role) return corrupt("user " + u.name + " has an unknown role");
      u.role = *role;
      u.password_hash = j.at("password_hash").get<std::string>();
      if (u.password_hash.rfind("$argon2id$", 0) != 0)
        return corrupt("user " + u.name + " has no Argon2id password hash");
      u.disabled = j.at("disabled").get<bool>();
      auto created = ParseUtc(j.at("created").get<std::string>());
      auto changed = ParseUtc(j.at("changed").get<std::string>());
      if (!created || !changed) return corrupt("user " + u.name + " has a malformed time");
      u.created = *created;
      u.changed = *changed;
      if (version >= 2 && j.contains("totp")) {
        const auto& totp = j.at("totp");
        u.totp_secret = totp.at("secret").get<std::string>();
        u.totp_last_step = totp.at("last_step").get<std::int64_t>();
        if (!IsUsableTotpSecret(u.totp_secret) || u.totp_last_step < 0)
          return corrupt("user " + u.name + " has a malformed second factor");
      }
      out.push_back(std::move(u));
    }
  } catch (const nlohmann::json::parse_error& e) {
    // Not e.what(): it quotes the bytes it read, which may be secret material.
    return corrupt("JSON syntax error at byte " + std::to_string(e.byte));
  } catch (const nlohmann::json::exception& e) {
    return corrupt(e.what());
  }
  return out;
}

Status SaveUsers(const std::filesystem::path& file, const std::vector<User>& users) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& u : users) list.push_back(ToJson(u));
  nlohmann::json doc = {{"version", kUsersFileVersion}, {"users", list}};
  return WriteFileAtomic(file, doc.dump(2) + "\n", 0600);
}

// ---------------------------------------------------------------------------
// UserStore

UserStore::UserStore(std::filesystem::path file, std::filesystem::path lock_file)
    : UserStore(std::move(file), std::move(lock_file), Options{}) {}

UserStore::UserStore(std::filesystem::path file, std::filesystem::path lock_file, Options options)
    : file_(std::move(file)),
      lock_file_(std::move(lock_file)),
      options_(std::move(options)),
      free_slots_(std::max(options_.max_concurrent_hashes, 1)) {}

UserStore::~UserStore() = default;

Status UserStore::Reload() {
  FileIdentity identity = FileIdentity::Of(file_);
  BASTION_ASSIGN_OR_RETURN(auto users, LoadUsers(file_));
  std::lock_guard lock(mu_);
  users_ = std::move(users);
  loaded_ = identity;
  return Status::Ok();
}

void UserStore::MaybeReload() {
  FileIdentity current = FileIdentity::Of(file_);
  bool first;
  {
    std::lock_guard lock(mu_);
    if (current == loaded_ || current == refused_) return;
    first = loaded_ == FileIdentity{};
  }
  Status s = Reload();
  std::lock_guard lock(mu_);
  if (s.ok()) {
    if (!first)
      spdlog::info("user accounts reloaded ({} users)", users_.size());
  } else {
    refused_ = current;  // said once, not on every login
    spdlog::error("user accounts not reloaded, keeping the previous ones: {}", s.ToString());
  }
}

std::optional<User> UserStore::Find(std::string_view name) {
  MaybeReload();
  std::lock_guard lock(mu_);
  for (const auto& u : users_)
    if (u.name == name) return u;
  return std::nullopt;
}

std::vector<User> UserStore::Snapshot() {
  MaybeReload();
  std::lock_guard lock(mu_);
  return users_;
}

bool UserStore::AcquireHashSlot() {
  std::unique_lock lock(slots_mu_);
  if (!slots_cv_.wait_for(lock, options_.hash_wait, [&] { return free_slots_ > 0; })) return false;
  --free_slots_;
  return true;
}

void UserStore::ReleaseHashSlot() {
  {
    std::lock_guard lock(slots_mu_);
    ++free_slots_;
  }
  slots_cv_.notify_one();
}

std::optional<bool> UserStore::BoundedVerify(std::string_view hash, std::string_view password) {
  if (!AcquireHashSlot()) return std::nullopt;
  ++hash_verifications_;
  bool ok = VerifyPasswordHash(hash, password);
  ReleaseHashSlot();
  return ok;
}

Result<std::string> UserStore::BoundedHash(std::string_view password) {
  if (!AcquireHashSlot()) return Status(Code::kUnavailable, "too many password checks at once; try again");
  auto hash = HashPassword(password, options_.hashing);
  ReleaseHashSlot();
  return hash;
}

Result<Principal> UserStore::Verify(std::string_view name, std::string_view password, AuthFailure* why) {
  return VerifyWithCode(name, password, std::nullopt, why);
}

Result<Principal> UserStore::VerifyWithCode(std::string_view name, std::string_view password,
                                            std::optional<std::string_view> code, AuthFailure* why) {
  auto fail = [&](AuthFailure reason) -> Result<Principal> {
    if (why) *why = reason;
    if (reason == AuthFailure::kBusy) return Status(Code::kUnavailable, "too many logins at once; try again");
    if (reason == AuthFailure::kStoreFailed)
      return Status(Code::kUnavailable, "the login could not be recorded; try again");
    return Status(Code::kUnauthenticated, kNotAccepted);
  };
  if (why) *why = AuthFailure::kNone;
  // Bounds before any work: an over-long password must not buy a long hash.
  if (name.empty() || name.size() > 64 || password.empty() || password.size() > 4 * kMaxPasswordLength)
    return fail(AuthFailure::kMalformed);

  std::optional<User> user = Find(name);
  std::call_once(dummy_once_, [&] {
    // Same cost as real hashes, so an unknown user takes as long as a known one.
    auto dummy = HashPassword(RandomHex(16), options_.hashing);
    dummy_hash_ = dummy.ok() ? *dummy : std::string();
  });
  std::optional<bool> match = BoundedVerify(user ? user->password_hash : dummy_hash_, password);
  if (!match) return fail(AuthFailure::kBusy);
  if (!user) return fail(AuthFailure::kUnknownUser);
  if (!*match) return fail(AuthFailure::kWrongPassword);
  if (user->disabled) return fail(AuthFailure::kDisabled);
  if (user->has_totp()) {
    AuthFailure second = CheckSecondFactor(*user, code);
    if (second != AuthFailure::kNone) return fail(second);
  }

  Principal p;
  p.kind = PrincipalKind::kUser;
  p.id = user->name;
  p.user = user->name;
  p.permissions = PermissionsFor(user->role);
  return p;
}

AuthFailure UserStore::CheckSecondFactor(const User& user, std::optional<std::string_view> code) {
  if (!code) return AuthFailure::kTotpMissing;
  auto key = Base32Decode(user.totp_secret);
  if (!key) return AuthFailure::kTotpWrong;  // LoadUsers refuses such a file; never reached
  // A step recorded by another process since the last reload is caught below, under the lock.
  TotpCheck check = CheckTotp(*key, *code, options_.clock(), user.totp_last_step);
  ::sodium_memzero(key->data(), key->size());
  if (check.outcome == TotpOutcome::kWrong) return AuthFailure::kTotpWrong;
  if (check.outcome == TotpOutcome::kReplayed) return AuthFailure::kTotpReplayed;
  // Record the step before saying yes: two logins racing with one code (in
  // this process or another) are decided by the file, and only one wins.
  bool replayed = false;
  Status recorded = Change([&](std::vector<User>& users) {
    for (auto& u : users) {
      if (u.name != user.name) continue;
      // Re-keyed or removed since we read it: the code was for the old secret.
      if (u.totp_secret != user.totp_secret) break;
      if (u.totp_last_step >= check.step) {
        replayed = true;
        return Status(Code::kUnauthenticated, "code already used");
      }
      u.totp_last_step = check.step;
      return Status::Ok();
    }
    replayed = true;  // treated as a used code: the code no longer belongs to this account
    return Status(Code::kUnauthenticated, "second factor changed");
  });
  if (recorded.ok()) return AuthFailure::kNone;
  if (replayed) return AuthFailure::kTotpReplayed;
  spdlog::error("a second-factor login for {} could not be recorded: {}", user.name, recorded.ToString());
  return AuthFailure::kStoreFailed;
}

Status UserStore::Change(const std::function<Status(std::vector<User>&)>& change) {
  BASTION_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(lock_file_));
  BASTION_ASSIGN_OR_RETURN(auto users, LoadUsers(file_));
  BASTION_RETURN_IF_ERROR(change(users));
  BASTION_RETURN_IF_ERROR(SaveUsers(file_, users));
  return Reload();
}

Status UserStore::Add(std::string_view name, Role role, std::string_view password) {
  BASTION_RETURN_IF_ERROR(ValidateUserName(name));
  BASTION_RETURN_IF_ERROR(CheckPasswordPolicy(password, name));
  BASTION_ASSIGN_OR_RETURN(std::string hash, BoundedHash(password));
  auto now = options_.clock();
  return Change([&](std::vector<User>& users) {
    for (const auto& u : users)
      if (u.name == name)
        return Status(Code::kAlreadyExists, "a user named " + std::string(name) + " already exists");
    User user;
    user.name = std::string(name);
    user.role = role;
    user.password_hash = hash;
    user.created = now;
    user.changed = now;
    users.push_back(std::move(user));
    return Status::Ok();
  });
}

namespace {
Status NoSuchUser(std::string_view name) {
  return Status(Code::kNotFound, "no user named " + std::string(name));
}
}  // namespace

Status UserStore::SetPassword(std::string_view name, std::string_view password) {
  BASTION_RETURN_IF_ERROR(ValidateUserName(name));
  BASTION_RETURN_IF_ERROR(CheckPasswordPolicy(password, name));
  BASTION_ASSIGN_OR_RETURN(std::string hash, BoundedHash(password));
  auto now = options_.clock();
  return Change([&](std::vector<User>& users) {
    for (auto& u : users) {
      if (u.name != name) continue;
      u.password_hash = hash;
      u.changed = now;
      return Status::Ok();
    }
    return NoSuchUser(name);
  });
}

Status UserStore::SetDisabled(std::string_view name, bool disabled) {
  BASTION_RETURN_IF_ERROR(ValidateUserName(name));
  auto now = options_.clock();
  return Change([&](std::vector<User>& users) {
    for (auto& u : users) {
      if (u.name != name) continue;
      if (u.disabled != disabled) u.changed = now;
      u.disabled = disabled;
      return Status::Ok();
    }
    return NoSuchUser(name);
  });
}

Status UserStore::SetRole(std::string_view name, Role role) {
  BASTION_RETURN_IF_ERROR(ValidateUserName(name));
  auto now = options_.clock();
  return Change([&](std::vector<User>& users) {
    for (auto& u : users) {
      if (u.name != name) continue;
      if (u.role != role) u.changed = now;
      u.role = role;
      return Status::Ok();
    }
    return NoSuchUser(name);
  });
}

Result<std::string> UserStore::EnableTotp(std::string_view name) {
  BASTION_RETURN_IF_ERROR(ValidateUserName(name));
  std::string secret = GenerateTotpSecret();
  auto now = options_.clock();
  BASTION_RETURN_IF_ERROR(Change([&](std::vector<User>& users) {
    for (auto& u : users) {
      if (u.name != name) continue;
      u.totp_secret = secret;
      u.totp_last_step = 0;  // a new secret's codes were never used
      u.changed = now;
      return Status::Ok();
    }
    return NoSuchUser(name);
  }));
  return secret;
}

Result<bool> UserStore::DisableTotp(std::string_view name) {
  BASTION_RETURN_IF_ERROR(ValidateUserName(name));
  auto now = options_.clock();
  bool had = false;
  BASTION_RETURN_IF_ERROR(Change([&](std::vector<User>& users) {
    for (auto& u : users) {
      if (u.name != name) continue;
      had = u.has_totp();
      if (had) u.changed = now;
      u.totp_secret.clear();
      u.totp_last_step = 0;
      return Status::Ok();
    }
    return NoSuchUser(name);
  }));
  return had;
}

}  // namespace bastion::security
