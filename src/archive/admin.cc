#include "archive/admin.h"

#include "archive/archive.h"
#include "security/association_policy.h"
#include "util/fs.h"
#include "util/net.h"
#include "util/text.h"

namespace bastion::archive {

Administration::Administration(const Config& config, security::UserStore& users, security::TokenStore& tokens,
                               audit::AuditLog& audit)
    : config_(config), users_(users), tokens_(tokens), audit_(audit) {}

Status Administration::Audit(const audit::Actor& by, const std::string& type, nlohmann::json details) {
  return audit_.Append(audit::AuditEvent{type, true, by, std::move(details)});
}

// --- People -----------------------------------------------------------------

std::vector<security::User> Administration::Users() {
  (void)users_.Reload();  // another process (the CLI, the server) may have changed the file
  return users_.Snapshot();
}

// The last-administrator check and the change it allows are one step, or two
// administrators disabling (or demoting) each other at the same moment would
// both pass the check and leave none. A lock file of its own: the UserStore's
// lock is taken inside each change, and flock does not nest.
Result<FileLock> Administration::LockAdministrators() {
  return FileLock::Acquire(config_.data_dir / ".admins.lock");
}

Status Administration::KeepAnAdministrator(std::string_view name, bool disabling,
                                           std::optional<security::Role> new_role) {
  BASTION_RETURN_IF_ERROR(users_.Reload());
  auto target = users_.Find(name);
  if (!target) return Status::Ok();  // the store reports kNotFound itself
  bool loses_admin = target->role == security::Role::kAdmin && !target->disabled &&
                     (disabling || (new_role && *new_role != security::Role::kAdmin));
  if (!loses_admin) return Status::Ok();
  for (const auto& u : users_.Snapshot())
    if (u.name != target->name && u.role == security::Role::kAdmin && !u.disabled) return Status::Ok();
  return Status(Code::kConflict, std::string(name) +
                                     " is the only enabled administrator; make another one first, or nobody could "
                                     "administer users, tokens and nodes any more");
}

Result<std::string> Administration::AddUser(const audit::Actor& by, std::string_view name, std::string_view role,
                                            std::optional<std::string> password) {
  BASTION_RETURN_IF_ERROR(security::ValidateUserName(name));
  auto parsed = security::ParseRole(role);
  if (!parsed) return Status(Code::kInvalidArgument, "the role must be one of admin, reader, uploader, auditor");
  const bool given = password.has_value();
  std::string secret = given ? std::move(*password) : security::GeneratePassword();
  BASTION_RETURN_IF_ERROR(users_.Add(name, *parsed, secret));
  BASTION_RETURN_IF_ERROR(Audit(by, "user.add", {{"user", std::string(name)}, {"role", security::RoleName(*parsed)},
                                                 {"password", given ? "given" : "generated"}}));
  return secret;
}

Status Administration::SetUserDisabled(const audit::Actor& by, std::string_view name, bool disabled) {
  BASTION_RETURN_IF_ERROR(security::ValidateUserName(name));
  std::optional<FileLock> guard;
  if (disabled && by.kind != "local-operator") {
    BASTION_ASSIGN_OR_RETURN(guard, LockAdministrators());
    BASTION_RETURN_IF_ERROR(KeepAnAdministrator(name, true, std::nullopt));
  }
  BASTION_RETURN_IF_ERROR(users_.SetDisabled(name, disabled));
  return Audit(by, disabled ? "user.disable" : "user.enable", {{"user", std::string(name)}});
}

Status Administration::SetUserRole(const audit::Actor& by, std::string_view name, std::string_view role) {
  BASTION_RETURN_IF_ERROR(security::ValidateUserName(name));
  auto parsed = security::ParseRole(role);
  if (!parsed) return Status(Code::kInvalidArgument, "the role must be one of admin, reader, uploader, auditor");
  std::optional<FileLock> guard;
  if (by.kind != "local-operator") {
    BASTION_ASSIGN_OR_RETURN(guard, LockAdministrators());
    BASTION_RETURN_IF_ERROR(KeepAnAdministrator(name, false, *parsed));
  }
  BASTION_RETURN_IF_ERROR(users_.SetRole(name, *parsed));
  return Audit(by, "user.role", {{"user", std::string(name)}, {"role", security::RoleName(*parsed)}});
}

Result<std::string> Administration::SetPassword(const audit::Actor& by, std::string_view name,
                                                std::optional<std::string> password) {
  BASTION_RETURN_IF_ERROR(security::ValidateUserName(name));
  const bool given = password.has_value();
  std::string secret = given ? std::move(*password) : security::GeneratePassword();
  BASTION_RETURN_IF_ERROR(users_.SetPassword(name, secret));
  BASTION_RETURN_IF_ERROR(
      Audit(by, "user.passwd", {{"user", std::string(name)}, {"password", given ? "given" : "generated"}}));
  return secret;
}

Result<std::string> Administration::EnableTotp(const audit::Actor& by, std::string_view name) {
  BASTION_RETURN_IF_ERROR(security::ValidateUserName(name));
  BASTION_RETURN_IF_ERROR(users_.Reload());
  bool rekey = false;
  if (auto before = users_.Find(name)) rekey = before->has_totp();
  auto secret = users_.EnableTotp(name);
  if (!secret.ok()) return secret.status();
  // The record says that it happened, never the secret.
  BASTION_RETURN_IF_ERROR(Audit(by, "user.totp.enable", {{"user", std::string(name)}, {"rekey", rekey}}));
  return secret;
}

Result<bool> Administration::DisableTotp(const audit::Actor& by, std::string_view name) {
  BASTION_RETURN_IF_ERROR(security::ValidateUserName(name));
  auto had = users_.DisableTotp(name);
  if (!had.ok()) return had.status();
  if (*had) BASTION_RETURN_IF_ERROR(Audit(by, "user.totp.disable", {{"user", std::string(name)}}));
  return had;
}

// --- API tokens -------------------------------------------------------------

std::vector<security::ApiToken> Administration::Tokens() {
  (void)tokens_.Reload();
  return tokens_.Snapshot();
}

Result<security::TokenStore::Issued> Administration::CreateToken(const audit::Actor& by, std::string_view user,
                                                                 std::string_view lifetime, std::string_view note) {
  BASTION_RETURN_IF_ERROR(security::ValidateUserName(user));
  auto seconds = security::ParseLifetime(lifetime);
  if (!seconds) return Status(Code::kInvalidArgument, "the lifetime takes a number and a unit: 12h, 30d or 8w (at most 365d)");
  BASTION_RETURN_IF_ERROR(users_.Reload());
  auto issued = tokens_.Create(user, *seconds, note);
  if (!issued.ok()) return issued.status();
  BASTION_RETURN_IF_ERROR(Audit(by, "token.create",
                                {{"token_id", issued->record.id},
                                 {"user", issued->record.user},
                                 {"expires", security::FormatUtc(issued->record.expires)},
                                 {"note", issued->record.note}}));
  return issued;
}

Result<std::string> Administration::RevokeToken(const audit::Actor& by, std::string_view id) {
  std::string owner;
  for (const auto& t : Tokens())
    if (t.id == id) owner = t.user;
  BASTION_RETURN_IF_ERROR(tokens_.Revoke(id));
  BASTION_RETURN_IF_ERROR(Audit(by, "token.revoke", {{"token_id", std::string(id)}, {"user", owner}}));
  return owner;
}

// --- The latest self-scan ---------------------------------------------------

Result<nlohmann::json> Administration::LatestSelfScan(const audit::Actor& by) {
  const auto file = config_.data_dir / "self-scan" / "latest.json";
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    BASTION_RETURN_IF_ERROR(Audit(by, "self_scan.read", {{"found", false}}));
    return Status(Code::kNotFound, "no self-scan yet: run bastion scan --self --data " + config_.data_dir.string());
  }
  auto text = ReadFile(file, 16u << 20);
  if (!text.ok()) return text.status();
  nlohmann::json report = nlohmann::json::parse(*text, nullptr, false);
  if (!report.is_object() || report.value("schema", "") != "bastion-scan/1")
    return Status(Code::kCorrupt, file.string() + " is not a bastion-scan/1 report");
  // Nothing is shown that is not on the record.
  BASTION_RETURN_IF_ERROR(Audit(by, "self_scan.read", {{"found", true}, {"finished", report.value("finished", "")}}));
  return report;
}

// --- DICOM nodes ------------------------------------------------------------

Result<std::vector<security::Node>> Administration::Nodes() const {
  return security::LoadNodes(security::NodesPath(config_.data_dir));
}

Result<security::Node> Administration::MakeNode(const NodeSpec& spec) {
  security::Node node;
  node.ae_title = std::string(Trim(spec.ae));
  for (const auto& h : Split(spec.hosts, ',')) {
    auto range = IpRange::Parse(h);
    if (!range)
      return Status(Code::kInvalidArgument, "host '" + h +
                                                "' is not an IP address or CIDR range (host names are not accepted: "
                                                "DNS is not an authentication)");
    node.hosts.push_back(*range);
  }
  node.port = spec.port;
  if (!spec.tls_cert_sha256.empty()) {
    auto fp = security::NormalizeFingerprint(spec.tls_cert_sha256);
    if (!fp)
      return Status(Code::kInvalidArgument,
                    "the certificate fingerprint must be a SHA-256 fingerprint: 64 hex digits, colons allowed");
    node.tls_cert_sha256 = *fp;
  }
  node.tls_only = spec.tls_only || !node.tls_cert_sha256.empty();
  node.require_user_identity = spec.require_user_identity;
  std::string bad;
  auto perms = security::PermissionSet::Parse(spec.allow, &bad);
  if (!perms)
    return Status(Code::kInvalidArgument, "unknown service '" + bad + "' (use echo,store,find,move,get,receive)");
  node.permissions = *perms;
  BASTION_RETURN_IF_ERROR(security::ValidateNode(node));
  return node;
}

namespace {

// Registry changes: read-modify-write under the registry lock, checked
// against the server's self-check, saved atomically.
Status ChangeNodes(const Config& config, const std::function<Status(std::vector<security::Node>&)>& change) {
  auto lock = FileLock::Acquire(security::NodesLockPath(config.data_dir));
  if (!lock.ok()) return lock.status();
  auto nodes = security::LoadNodes(security::NodesPath(config.data_dir));
  if (!nodes.ok()) return nodes.status();
  BASTION_RETURN_IF_ERROR(change(*nodes));
  if (Status s = security::SelfCheck(config, *nodes); !s.ok())
    return Status(Code::kInsecureConfig, "refused, the registry would become unsafe: " + s.message());
  return security::SaveNodes(security::NodesPath(config.data_dir), *nodes);
}

}  // namespace

Status Administration::AddNode(const audit::Actor& by, const security::Node& node) {
  BASTION_RETURN_IF_ERROR(security::ValidateNode(node));
  BASTION_RETURN_IF_ERROR(ChangeNodes(config_, [&](std::vector<security::Node>& nodes) {
    for (const auto& n : nodes)
      if (n.ae_title == node.ae_title)
        return Status(Code::kAlreadyExists,
                      "a node with AE title " + node.ae_title + " is already registered; remove it first");
    nodes.push_back(node);
    return Status::Ok();
  }));
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& h : node.hosts) hosts.push_back(h.ToString());
  return Audit(by, "node.add",
               {{"ae_title", node.ae_title}, {"hosts", hosts}, {"port", node.port}, {"tls_only", node.tls_only},
                {"tls_cert_sha256", node.tls_cert_sha256}, {"require_user_identity", node.require_user_identity},
                {"allow", node.permissions.Names()}});
}

Status Administration::RemoveNode(const audit::Actor& by, std::string_view ae) {
  std::string title(Trim(ae));
  BASTION_RETURN_IF_ERROR(ChangeNodes(config_, [&](std::vector<security::Node>& nodes) {
    auto n = std::erase_if(nodes, [&](const security::Node& x) { return x.ae_title == title; });
    if (n == 0) return Status(Code::kNotFound, "no node with AE title " + title + " is registered");
    return Status::Ok();
  }));
  return Audit(by, "node.remove", {{"ae_title", title}});
}

// --- Through the archive (the web UI) ----------------------------------------

Result<Administration> Archive::AdministerAs(const security::Principal& who) {
  if (!who.May(security::Permission::kAdmin)) {
    RecordAccessEvent("admin.refused", false, ActorOf(who), {{"reason", "the admin permission is required"}});
    return Status(Code::kPermissionDenied, "administration needs the admin role");
  }
  if (deps_.users == nullptr || deps_.tokens == nullptr)
    return Status(Code::kUnavailable, "this archive runs without a user store");
  return Administration(config_, *deps_.users, *deps_.tokens, *deps_.audit);
}

Result<audit::AuditPage> Archive::ReadAudit(const security::Principal& who, const audit::AuditQuery& query) {
  nlohmann::json filters = {{"type", query.type}, {"actor", query.actor}, {"text", query.text},
                            {"since", query.since}, {"until", query.until}, {"before", query.before_seq},
                            {"failures_only", query.failures_only}};
  if (!who.May(security::Permission::kAudit)) {
    RecordAccessEvent("audit.read", false, ActorOf(who),
                      {{"filters", filters}, {"reason", "the audit permission is required"}});
    return Status(Code::kPermissionDenied, "reading the audit trail needs the auditor or admin role");
  }
  auto page = deps_.audit->Read(query);
  if (!page.ok()) return page.status();
  // Recorded before the page is shown; if the record cannot be written, nothing is shown.
  BASTION_RETURN_IF_ERROR(Audit(audit::AuditEvent{
      "audit.read", true, ActorOf(who), {{"filters", filters}, {"records", page->records.size()}}}));
  return page;
}

}  // namespace bastion::archive
