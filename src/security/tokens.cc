#include "security/tokens.h"

#include <nlohmann/json.hpp>

#include <set>

#include "util/crypto.h"
#include "util/fs.h"
#include "util/log.h"

namespace bastion::security {
namespace {

constexpr const char* kNotAccepted = "token not accepted";
constexpr std::size_t kIdHexDigits = 16;
constexpr std::size_t kSecretHexDigits = 64;
constexpr std::size_t kTokenLength = kTokenPrefix.size() + kIdHexDigits + 1 + kSecretHexDigits;
constexpr std::size_t kMaxNoteLength = 200;
constexpr std::size_t kMaxTokensFileBytes = 64 << 20;

std::string TokenHash(std::string_view token) { return HexEncode(Sha256::Of(token)); }

nlohmann::json ToJson(const ApiToken& t) {
  nlohmann::json j = {{"id", t.id},
                      {"user", t.user},
                      {"token_sha256", t.token_sha256},
                      {"note", t.note},
                      {"created", FormatUtc(t.created)},
                      {"expires", FormatUtc(t.expires)},
                      {"revoked", t.revoked}};
  if (t.revoked) j["revoked_at"] = FormatUtc(t.revoked_at);
  return j;
}

}  // namespace

std::optional<std::chrono::seconds> ParseLifetime(std::string_view text) {
  if (text.size() < 2 || text.size() > 8) return std::nullopt;
  std::int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  switch (text.back()) {
    case 'h': return std::chrono::hours(n);
    case 'd': return std::chrono::hours(24 * n);
    case 'w': return std::chrono::hours(24 * 7 * n);
    default: return std::nullopt;
  }
}

std::filesystem::path TokensPath(const std::filesystem::path& data_dir) { return data_dir / "tokens.json"; }
std::filesystem::path TokensLockPath(const std::filesystem::path& data_dir) { return data_dir / ".tokens.lock"; }

Result<std::vector<ApiToken>> LoadTokens(const std::filesystem::path& file) {
  BASTION_ASSIGN_OR_RETURN(auto text, ReadPrivateFile(file, kMaxTokensFileBytes));
  if (!text) return std::vector<ApiToken>{};
  auto corrupt = [&](const std::string& what) {
    return Status(Code::kCorrupt, file.string() + " is not a valid token file (" + what +
                                      "); restore it from a backup or fix it by hand");
  };
  std::vector<ApiToken> out;
  try {
    auto doc = nlohmann::json::parse(*text);
    if (!doc.is_object() || doc.value("version", 0) != 1) return corrupt("missing or unknown \"version\"");
    std::set<std::string> seen;
    for (const auto& j : doc.at("tokens")) {
      ApiToken t;
      t.id = j.at("id").get<std::string>();
      if (!IsLowerHex(t.id, kIdHexDigits)) return corrupt("malformed token id");
      if (!seen.insert(t.id).second) return corrupt("token " + t.id + " appears twice");
      t.user = j.at("user").get<std::string>();
      if (!ValidateUserName(t.user).ok()) return corrupt("token " + t.id + " has an invalid user name");
      t.token_sha256 = j.at("token_sha256").get<std::string>();
      if (!IsLowerHex(t.token_sha256, 64)) return corrupt("token " + t.id + " has a malformed hash");
      t.note = j.value("note", std::string());
      auto created = ParseUtc(j.at("created").get<std::string>());
      auto expires = ParseUtc(j.at("expires").get<std::string>());
      if (!created || !expires) return corrupt("token " + t.id + " has a malformed time");
      t.created = *created;
      t.expires = *expires;
      t.revoked = j.at("revoked").get<bool>();
      if (t.revoked) {
        auto at = ParseUtc(j.value("revoked_at", std::string()));
        if (!at) return corrupt("token " + t.id + " has a malformed revocation time");
        t.revoked_at = *at;
      }
      out.push_back(std::move(t));
    }
  } catch (const nlohmann::json::parse_error& e) {
    // Not e.what(): it quotes the bytes it read, which may be secret material.
    return corrupt("JSON syntax error at byte " + std::to_string(e.byte));
  } catch (const nlohmann::json::exception& e) {
    return corrupt(e.what());
  }
  return out;
}

Status SaveTokens(const std::filesystem::path& file, const std::vector<ApiToken>& tokens) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& t : tokens) list.push_back(ToJson(t));
  nlohmann::json doc = {{"version", 1}, {"tokens", list}};
  return WriteFileAtomic(file, doc.dump(2) + "\n", 0600);
}

std::optional<std::string> TokenStore::IdOf(std::string_view token) {
  if (token.size() != kTokenLength || !token.starts_with(kTokenPrefix)) return std::nullopt;
  std::string_view id = token.substr(kTokenPrefix.size(), kIdHexDigits);
  std::string_view sep = token.substr(kTokenPrefix.size() + kIdHexDigits, 1);
  std::string_view secret = token.substr(kTokenPrefix.size() + kIdHexDigits + 1);
  if (sep != "_" || !IsLowerHex(id, kIdHexDigits) || !IsLowerHex(secret, kSecretHexDigits)) return std::nullopt;
  return std::string(id);
}

TokenStore::TokenStore(std::filesystem::path file, std::filesystem::path lock_file, UserStore& users, WallClock clock)
    : file_(std::move(file)), lock_file_(std::move(lock_file)), users_(users), clock_(std::move(clock)) {}

Status TokenStore::Reload() {
  FileIdentity identity = FileIdentity::Of(file_);
  BASTION_ASSIGN_OR_RETURN(auto tokens, LoadTokens(file_));
  std::lock_guard lock(mu_);
  tokens_ = std::move(tokens);
  loaded_ = identity;
  return Status::Ok();
}

void TokenStore::MaybeReload() {
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
      spdlog::info("API tokens reloaded ({} tokens)", tokens_.size());
  } else {
    refused_ = current;
    spdlog::error("API tokens not reloaded, keeping the previous ones: {}", s.ToString());
  }
}

std::vector<ApiToken> TokenStore::Snapshot() {
  MaybeReload();
  std::lock_guard lock(mu_);
  return tokens_;
}

Result<TokenStore::Issued> TokenStore::Create(std::string_view user, std::chrono::seconds lifetime,
                                              std::string_view note) {
  if (lifetime < kMinTokenLifetime || lifetime > kMaxTokenLifetime)
    return Status(Code::kInvalidArgument, "a token's lifetime must be between 1h and 365d");
  if (note.size() > kMaxNoteLength)
    return Status(Code::kInvalidArgument, "the note is at most " + std::to_string(kMaxNoteLength) + " characters");
  for (unsigned char c : note)
    if (c < 0x20 || c == 0x7F) return Status(Code::kInvalidArgument, "the note contains a control character");
  auto owner = users_.Find(user);
  if (!owner) return Status(Code::kNotFound, "no user named " + std::string(user));
  if (owner->disabled)
    return Status(Code::kInvalidArgument, "user " + owner->name + " is disabled; enable it first");

  BASTION_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(lock_file_));
  BASTION_ASSIGN_OR_RETURN(auto tokens, LoadTokens(file_));
  Issued issued;
  do {
    issued.record.id = RandomHex(kIdHexDigits / 2);
  } while (std::any_of(tokens.begin(), tokens.end(), [&](const ApiToken& t) { return t.id == issued.record.id; }));
  issued.token = std::string(kTokenPrefix) + issued.record.id + "_" + RandomHex(kSecretHexDigits / 2);
  issued.record.user = owner->name;
  issued.record.token_sha256 = TokenHash(issued.token);
  issued.record.note = std::string(note);
  // Whole seconds, as stored: what the caller sees is what the file says.
  issued.record.created = std::chrono::floor<std::chrono::seconds>(clock_());
  issued.record.expires = issued.record.created + lifetime;
  tokens.push_back(issued.record);
  BASTION_RETURN_IF_ERROR(SaveTokens(file_, tokens));
  BASTION_RETURN_IF_ERROR(Reload());
  return issued;
}

Status TokenStore::Revoke(std::string_view id) {
  BASTION_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(lock_file_));
  BASTION_ASSIGN_OR_RETURN(auto tokens, LoadTokens(file_));
  for (auto& t : tokens) {
    if (t.id != id) continue;
    if (t.revoked) return Status::Ok();
    t.revoked = true;
    t.revoked_at = std::chrono::floor<std::chrono::seconds>(clock_());
    BASTION_RETURN_IF_ERROR(SaveTokens(file_, tokens));
    return Reload();
  }
  return Status(Code::kNotFound, "no token with id " + std::string(id));
}

Result<Principal> TokenStore::Verify(std::string_view token, AuthFailure* why) {
  auto fail = [&](AuthFailure reason) -> Result<Principal> {
    if (why) *why = reason;
    return Status(Code::kUnauthenticated, kNotAccepted);
  };
  if (why) *why = AuthFailure::kNone;
  auto id = IdOf(token);
  if (!id) return fail(AuthFailure::kMalformed);
  std::optional<ApiToken> record;
  {
    MaybeReload();
    std::lock_guard lock(mu_);
    for (const auto& t : tokens_)
      if (t.id == *id) record = t;
  }
  // The id is public (it is listed and audited); only the comparison of the
  // secret's hash must not leak, so it is constant-time.
  if (!record) return fail(AuthFailure::kUnknownToken);
  if (!ConstantTimeEquals(TokenHash(token), record->token_sha256)) return fail(AuthFailure::kWrongSecret);
  if (record->revoked) return fail(AuthFailure::kRevoked);
  if (clock_() >= record->expires) return fail(AuthFailure::kExpired);
  auto owner = users_.Find(record->user);
  if (!owner) return fail(AuthFailure::kUnknownUser);
  if (owner->disabled) return fail(AuthFailure::kDisabled);

  Principal p;
  p.kind = PrincipalKind::kToken;
  p.id = record->id;
  p.user = owner->name;
  p.permissions = PermissionsFor(owner->role);
  return p;
}

}  // namespace bastion::security
