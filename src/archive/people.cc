// People on the web front end: password logins, API tokens and live
// sessions, each decided here and audited.
#include <spdlog/spdlog.h>

#include "archive/archive.h"

namespace bastion::archive {

using security::AuthFailure;
using security::Principal;

Result<Principal> Archive::LoginWithPassword(std::string_view user, std::string_view password,
                                             std::optional<std::string_view> code, const std::string& address,
                                             std::string_view channel, AuthFailure* why) {
  AuthFailure reason = AuthFailure::kNone;
  if (deps_.users == nullptr) return Status(Code::kUnauthenticated, "user name or password not accepted");
  auto principal = deps_.users->VerifyWithCode(user, password, code, &reason);
  if (why) *why = reason;
  // The name as typed is recorded (an attacker's guesses are evidence), bounded in length.
  std::string name(user.substr(0, 64));
  if (!principal.ok()) {
    (void)Audit(audit::AuditEvent{"login", false, audit::Actor{"anonymous", name, address},
                                  {{"channel", channel}, {"reason", security::AuthFailureName(reason)}}});
    return principal.status();
  }
  principal->address = address;
  nlohmann::json details = {{"channel", channel}};
  // Which factors were checked (never the code itself).
  if (auto account = deps_.users->Find(principal->user); account && account->has_totp())
    details["second_factor"] = "totp";
  (void)Audit(audit::AuditEvent{"login", true, ActorOf(*principal), std::move(details)});
  return principal;
}

Result<Principal> Archive::AuthenticateToken(std::string_view token, const std::string& address,
                                             std::string_view channel) {
  AuthFailure reason = AuthFailure::kNone;
  if (deps_.tokens == nullptr) return Status(Code::kUnauthenticated, "token not accepted");
  auto principal = deps_.tokens->Verify(token, &reason);
  if (!principal.ok()) {
    (void)Audit(audit::AuditEvent{
        "token.refused", false,
        audit::Actor{"anonymous", security::TokenStore::IdOf(token).value_or("(malformed)"), address},
        {{"channel", channel}, {"reason", security::AuthFailureName(reason)}}});
    return principal.status();
  }
  principal->address = address;
  return principal;
}

Result<Principal> Archive::CurrentUser(std::string_view user, std::chrono::system_clock::time_point since,
                                       const std::string& address) {
  if (deps_.users == nullptr) return Status(Code::kUnauthenticated, "session ended");
  auto account = deps_.users->Find(user);
  // users.json keeps milliseconds: a change in the millisecond the session
  // began counts as after it (the safe side: log in again).
  auto since_ms = std::chrono::floor<std::chrono::milliseconds>(since);
  if (!account || account->disabled || account->changed >= since_ms)
    return Status(Code::kUnauthenticated, "the session ended because the account changed; log in again");
  Principal p;
  p.kind = security::PrincipalKind::kUser;
  p.id = account->name;
  p.user = account->name;
  p.address = address;
  p.permissions = security::PermissionsFor(account->role);
  return p;
}

void Archive::RecordAccessEvent(const std::string& type, bool success, const audit::Actor& actor,
                                nlohmann::json details) {
  (void)Audit(audit::AuditEvent{type, success, actor, std::move(details)});
}

}  // namespace bastion::archive
