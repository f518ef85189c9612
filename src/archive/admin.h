// Administration: the changes an administrator makes to who may do what —
// people, their API tokens, and the DICOM node registry. One implementation
// for every front end (the CLI's `bastion user|token|node`, the web UI's
// admin pages), so each change gets the same checks and the same audit
// record whichever way it was made.
//
// Passwords and tokens are returned to the caller to show once; they never
// reach a log or the audit trail.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_log.h"
#include "security/nodes.h"
#include "security/tokens.h"
#include "security/users.h"
#include "util/config.h"
#include "util/fs.h"
#include "util/status.h"

namespace bastion::archive {

class Administration {
 public:
  // `config` is the data directory's configuration (node changes are checked
  // against it); the stores and the log outlive this object.
  Administration(const Config& config, security::UserStore& users, security::TokenStore& tokens,
                 audit::AuditLog& audit);

  // --- People ---
  std::vector<security::User> Users();
  // Creates a user. With no `password`, one is generated; either way the
  // password is returned (to be shown once). Audited as "user.add".
  Result<std::string> AddUser(const audit::Actor& by, std::string_view name, std::string_view role,
                              std::optional<std::string> password);
  // "user.disable" / "user.enable". From the web, disabling the last enabled
  // administrator is refused (nobody could administer the archive from the
  // web any more); the local operator at the shell may, and can undo it.
  Status SetUserDisabled(const audit::Actor& by, std::string_view name, bool disabled);
  // "user.role"; from the web, the last enabled administrator keeps the admin role.
  Status SetUserRole(const audit::Actor& by, std::string_view name, std::string_view role);
  // "user.passwd"; returns the new password (generated when none is given).
  Result<std::string> SetPassword(const audit::Actor& by, std::string_view name, std::optional<std::string> password);

  // "user.totp.enable" (with whether it replaced one): a new TOTP secret,
  // returned to be shown once; the user's sessions end.
  Result<std::string> EnableTotp(const audit::Actor& by, std::string_view name);
  // "user.totp.disable"; false (and no record) when the user had none.
  Result<bool> DisableTotp(const audit::Actor& by, std::string_view name);

  // --- API tokens ---
  std::vector<security::ApiToken> Tokens();
  // "token.create"; `lifetime` as the CLI takes it ("30d", "12h", "8w").
  Result<security::TokenStore::Issued> CreateToken(const audit::Actor& by, std::string_view user,
                                                   std::string_view lifetime, std::string_view note);
  // "token.revoke"; returns the token's owner (empty when unknown).
  Result<std::string> RevokeToken(const audit::Actor& by, std::string_view id);

  // --- The latest self-scan ---
  // The report `bastion scan --self` saved (DIR/self-scan/latest.json,
  // schema bastion-scan/1); kNotFound when none was run yet. It describes
  // the server's weak spots, so every reading is recorded: "self_scan.read".
  Result<nlohmann::json> LatestSelfScan(const audit::Actor& by);

  // --- DICOM nodes ---
  Result<std::vector<security::Node>> Nodes() const;
  // What a node entry is made from, as an operator types it.
  struct NodeSpec {
    std::string ae;
    std::string hosts;            // "10.0.0.5,10.0.1.0/24"
    int port = 0;                 // 0: not a C-MOVE/send destination
    std::string allow;            // "echo,store,find"
    std::string tls_cert_sha256;  // pins the node's certificate (implies TLS only)
    bool tls_only = false;
    bool require_user_identity = false;
  };
  // Validates a spec into a node: kInvalidArgument with a message that names the field.
  static Result<security::Node> MakeNode(const NodeSpec& spec);
  // "node.add": read-modify-write under the registry lock; refused with
  // kInsecureConfig when the registry would fail the server's self-check.
  Status AddNode(const audit::Actor& by, const security::Node& node);
  Status RemoveNode(const audit::Actor& by, std::string_view ae);

 private:
  Status Audit(const audit::Actor& by, const std::string& type, nlohmann::json details);
  // Held from KeepAnAdministrator's check until the change is saved.
  Result<FileLock> LockAdministrators();
  // kConflict when the change would leave no enabled administrator.
  Status KeepAnAdministrator(std::string_view name, bool disabling, std::optional<security::Role> new_role);

  const Config& config_;
  security::UserStore& users_;
  security::TokenStore& tokens_;
  audit::AuditLog& audit_;
};

}  // namespace bastion::archive
