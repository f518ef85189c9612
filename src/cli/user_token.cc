// bastion user ... and bastion token ...: people and API tokens (docs/cli.md).
// Every change goes through archive::Administration (the same code as the web
// UI's admin pages, over the stores a running server reads) and is an audit
// record. Passwords and tokens
// are printed once, on stdout, alone; they never reach stderr, logs or the
// audit log.
#include <termios.h>
#include <unistd.h>

#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "archive/admin.h"
#include "audit/audit_log.h"
#include "cli/commands.h"
#include "cli/stack.h"
#include "security/principal.h"
#include "security/store_file.h"
#include "security/tokens.h"
#include "security/totp.h"
#include "security/users.h"
#include "util/config.h"
#include "util/log.h"

namespace bastion::cli {
namespace {

// stdout carries passwords and tokens alone: the ordinary log goes to stderr, warnings and worse only.
void QuietLogs() {
  if (!spdlog::get("bastion")) InitLogging("warn");
}

int ExitFor(const Status& s) {
  switch (s.code()) {
    case Code::kInvalidArgument: return kExitUsage;
    case Code::kInsecureConfig: return kExitInsecureConfig;
    default: return kExitFailed;
  }
}

int Fail(const Status& s) {
  PrintError(s.code() == Code::kInvalidArgument || s.code() == Code::kNotFound ||
                     s.code() == Code::kAlreadyExists
                 ? s.message()
                 : s.ToString());
  return ExitFor(s);
}

Status RequireDataDir(const std::filesystem::path& data) {
  std::error_code ec;
  if (!std::filesystem::exists(ConfigPath(data), ec))
    return Status(Code::kNotFound, data.string() + " is not a Bastion data directory (no bastion.toml); "
                                                   "create one with: bastion init --data " + data.string());
  return Status::Ok();
}

// One password from stdin: on a terminal, prompted without echo; otherwise
// the first line of what is piped in (a trailing newline is not part of it).
Result<std::string> ReadPassword() {
  constexpr std::size_t kMaxBytes = 4096;
  bool tty = ::isatty(STDIN_FILENO);
  termios saved{};
  if (tty) {
    std::cerr << "new password: " << std::flush;
    ::tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  bool got = static_cast<bool>(std::getline(std::cin, line));
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::cerr << "\n";
  }
  if (!got && line.empty()) return Status(Code::kInvalidArgument, "--password-stdin: no password on stdin");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > kMaxBytes) return Status(Code::kInvalidArgument, "--password-stdin: password too long");
  return line;
}

std::string Describe(security::Role role) {
  return std::string(security::RoleName(role)) + ": " + security::PermissionsFor(role).ToString();
}

// The data directory must exist (a clearer message than a missing config's).
Result<std::unique_ptr<AdminStack>> OpenAdmin(const std::filesystem::path& data) {
  BASTION_RETURN_IF_ERROR(RequireDataDir(data));
  return OpenAdministration(data);
}

}  // namespace

Result<std::string> CreateFirstAdmin(const std::filesystem::path& data) {
  std::string password = security::GeneratePassword();
  security::UserStore users(security::UsersPath(data), security::UsersLockPath(data));
  BASTION_RETURN_IF_ERROR(users.Add("admin", security::Role::kAdmin, password));
  return password;
}

int UserAdd(const std::filesystem::path& data, const UserAddOptions& o) {
  QuietLogs();
  if (Status s = security::ValidateUserName(o.name); !s.ok()) return Fail(s);
  auto role = security::ParseRole(o.role);
  if (!role) {
    PrintError("--role must be one of admin, reader, uploader, auditor");
    return kExitUsage;
  }
  auto ctx = OpenAdmin(data);
  if (!ctx.ok()) return Fail(ctx.status());
  std::optional<std::string> given;
  if (o.password_stdin) {
    auto read = ReadPassword();
    if (!read.ok()) return Fail(read.status());
    given = std::move(*read);
  }
  auto password = (*ctx)->admin->AddUser(Operator(), o.name, o.role, std::move(given));
  if (!password.ok()) return Fail(password.status());
  if (o.password_stdin) {
    std::cout << "created user " << o.name << " (" << Describe(*role) << ")\n";
  } else {
    std::cerr << "created user " << o.name << " (" << Describe(*role)
              << "); its password, shown only now, is on stdout\n";
    std::cout << *password << std::endl;
  }
  return kExitOk;
}

int UserList(const std::filesystem::path& data, bool json) {
  QuietLogs();
  if (Status s = RequireDataDir(data); !s.ok()) return Fail(s);
  auto users = security::LoadUsers(security::UsersPath(data));
  if (!users.ok()) return Fail(users.status());
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& u : *users)
      out.push_back({{"name", u.name},
                     {"role", security::RoleName(u.role)},
                     {"permissions", security::PermissionsFor(u.role).Names()},
                     {"disabled", u.disabled},
                     {"totp", u.has_totp()},
                     {"created", security::FormatUtc(u.created)},
                     {"changed", security::FormatUtc(u.changed)}});
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  if (users->empty()) {
    std::cout << "no users\n";
    return kExitOk;
  }
  std::cout << std::left << std::setw(33) << "NAME" << std::setw(10) << "ROLE" << std::setw(10) << "STATUS"
            << std::setw(6) << "TOTP" << std::setw(22) << "CREATED" << "CHANGED\n";
  for (const auto& u : *users)
    std::cout << std::left << std::setw(33) << u.name << std::setw(10) << security::RoleName(u.role) << std::setw(10)
              << (u.disabled ? "disabled" : "enabled") << std::setw(6) << (u.has_totp() ? "on" : "off")
              << std::setw(22) << security::FormatUtc(u.created)
              << security::FormatUtc(u.changed) << "\n";
  return kExitOk;
}

int UserSetDisabled(const std::filesystem::path& data, const std::string& name, bool disabled) {
  QuietLogs();
  if (Status s = security::ValidateUserName(name); !s.ok()) return Fail(s);
  auto ctx = OpenAdmin(data);
  if (!ctx.ok()) return Fail(ctx.status());
  if (Status s = (*ctx)->admin->SetUserDisabled(Operator(), name, disabled); !s.ok()) return Fail(s);
  std::cout << (disabled ? "disabled" : "enabled") << " user " << name
            << (disabled ? " (its API tokens stop working too)" : "") << "\n";
  return kExitOk;
}

int UserRole(const std::filesystem::path& data, const std::string& name, const std::string& role) {
  QuietLogs();
  if (Status s = security::ValidateUserName(name); !s.ok()) return Fail(s);
  auto parsed = security::ParseRole(role);
  if (!parsed) {
    PrintError("the role must be one of admin, reader, uploader, auditor");
    return kExitUsage;
  }
  auto ctx = OpenAdmin(data);
  if (!ctx.ok()) return Fail(ctx.status());
  if (Status s = (*ctx)->admin->SetUserRole(Operator(), name, role); !s.ok()) return Fail(s);
  std::cout << name << " is now " << Describe(*parsed) << " (existing sessions have ended)\n";
  return kExitOk;
}

int UserPasswd(const std::filesystem::path& data, const std::string& name, bool password_stdin) {
  QuietLogs();
  if (Status s = security::ValidateUserName(name); !s.ok()) return Fail(s);
  auto ctx = OpenAdmin(data);
  if (!ctx.ok()) return Fail(ctx.status());
  if (!(*ctx)->users->Find(name)) {
    // Before reading or generating anything.
    PrintError("no user named " + name);
    return kExitFailed;
  }
  std::optional<std::string> given;
  if (password_stdin) {
    auto read = ReadPassword();
    if (!read.ok()) return Fail(read.status());
    given = std::move(*read);
  }
  auto password = (*ctx)->admin->SetPassword(Operator(), name, std::move(given));
  if (!password.ok()) return Fail(password.status());
  if (password_stdin) {
    std::cout << "changed the password of " << name << "\n";
  } else {
    std::cerr << "changed the password of " << name << "; the new one, shown only now, is on stdout\n";
    std::cout << *password << std::endl;
  }
  return kExitOk;
}

int UserTotp(const std::filesystem::path& data, const std::string& name, bool disable) {
  QuietLogs();
  if (Status s = security::ValidateUserName(name); !s.ok()) return Fail(s);
  auto ctx = OpenAdmin(data);
  if (!ctx.ok()) return Fail(ctx.status());
  if (disable) {
    auto had = (*ctx)->admin->DisableTotp(Operator(), name);
    if (!had.ok()) return Fail(had.status());
    if (!*had) {
      std::cout << name << " has no second factor; nothing changed\n";
      return kExitOk;
    }
    std::cout << "removed the second factor of " << name
              << "; the password alone signs in again (existing sessions have ended)\n";
    return kExitOk;
  }
  bool rekey = false;
  if (auto before = (*ctx)->users->Find(name)) rekey = before->has_totp();
  auto secret = (*ctx)->admin->EnableTotp(Operator(), name);
  if (!secret.ok()) return Fail(secret.status());
  std::cerr << (rekey ? "replaced the second factor of " : "turned on a second factor for ") << name
            << ": add the secret (first line) or the otpauth:// URI (second line) to an authenticator app now; "
               "it is shown only this once. Web logins now also ask for the 6-digit code; on DICOM this "
               "user signs in with an API token. Existing sessions have ended.\n";
  std::cout << *secret << "\n" << security::TotpUri("Bastion", name, *secret) << std::endl;
  return kExitOk;
}

int TokenCreate(const std::filesystem::path& data, const TokenCreateOptions& o) {
  QuietLogs();
  if (Status s = security::ValidateUserName(o.user); !s.ok()) return Fail(s);
  if (!security::ParseLifetime(o.expires)) {
    PrintError("--expires takes a number and a unit: 12h, 30d or 8w (at most 365d)");
    return kExitUsage;
  }
  auto ctx = OpenAdmin(data);
  if (!ctx.ok()) return Fail(ctx.status());
  auto issued = (*ctx)->admin->CreateToken(Operator(), o.user, o.expires, o.note);
  if (!issued.ok()) return Fail(issued.status());
  std::cerr << "created API token " << issued->record.id << " for " << issued->record.user << ", expires "
            << security::FormatUtc(issued->record.expires) << "; it is shown only now, on stdout\n";
  std::cout << issued->token << std::endl;
  return kExitOk;
}

int TokenList(const std::filesystem::path& data, bool json) {
  QuietLogs();
  if (Status s = RequireDataDir(data); !s.ok()) return Fail(s);
  auto tokens = security::LoadTokens(security::TokensPath(data));
  if (!tokens.ok()) return Fail(tokens.status());
  auto now = std::chrono::system_clock::now();
  auto state = [&](const security::ApiToken& t) {
    return t.revoked ? "revoked" : now >= t.expires ? "expired" : "active";
  };
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& t : *tokens) {
      nlohmann::json j = {{"id", t.id},       {"user", t.user},
                          {"state", state(t)}, {"created", security::FormatUtc(t.created)},
                          {"expires", security::FormatUtc(t.expires)}, {"note", t.note}};
      if (t.revoked) j["revoked_at"] = security::FormatUtc(t.revoked_at);
      out.push_back(std::move(j));
    }
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  if (tokens->empty()) {
    std::cout << "no API tokens\n";
    return kExitOk;
  }
  std::cout << std::left << std::setw(18) << "ID" << std::setw(33) << "USER" << std::setw(9) << "STATE"
            << std::setw(22) << "EXPIRES" << "NOTE\n";
  for (const auto& t : *tokens)
    std::cout << std::left << std::setw(18) << t.id << std::setw(33) << t.user << std::setw(9) << state(t)
              << std::setw(22) << security::FormatUtc(t.expires) << t.note << "\n";
  return kExitOk;
}

int TokenRevoke(const std::filesystem::path& data, const std::string& id) {
  QuietLogs();
  auto ctx = OpenAdmin(data);
  if (!ctx.ok()) return Fail(ctx.status());
  auto owner = (*ctx)->admin->RevokeToken(Operator(), id);
  if (!owner.ok()) return Fail(owner.status());
  std::cout << "revoked API token " << id << (owner->empty() ? "" : " of " + *owner) << "\n";
  return kExitOk;
}

}  // namespace bastion::cli
