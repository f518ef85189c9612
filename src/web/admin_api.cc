// The admin and auditor APIs behind the web UI's pages. Every change goes
// through archive::Administration, the code the CLI uses, so it is checked
// and audited the same way; the acting person is the audit record's actor.
#include <nlohmann/json.hpp>

#include "web/app.h"
#include "web/qido.h"

namespace bastion::web {
namespace {

// A JSON object body, or the problem to answer.
std::variant<nlohmann::json, Response> JsonBody(const Request& request, bool may_be_empty = false) {
  if (may_be_empty && request.body.empty()) return nlohmann::json::object();
  auto type = request.headers.Get("Content-Type").value_or("");
  if (type.substr(0, 16) != "application/json")
    return Response::Problem(415, "Unsupported Media Type", "send the request as application/json");
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object()) return Response::Problem(400, "Bad Request", "the body must be a JSON object");
  return body;
}

// A string member: absent is nullopt, a non-string is an error (`bad` set).
std::optional<std::string> StringMember(const nlohmann::json& body, const char* key, bool& bad) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) {
    bad = true;
    return std::nullopt;
  }
  return it->get<std::string>();
}

// "a=1&b=x%20y" as decoded pairs; nullopt for a bad escape.
std::optional<std::vector<std::pair<std::string, std::string>>> ParseQueryString(std::string_view raw) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!raw.empty()) {
    std::size_t amp = raw.find('&');
    std::string_view piece = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (piece.empty()) continue;
    std::size_t eq = piece.find('=');
    auto key = DecodeQueryComponent(piece.substr(0, eq));
    auto value = DecodeQueryComponent(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1));
    if (!key.ok() || !value.ok()) return std::nullopt;
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

std::string Utc(std::chrono::system_clock::time_point t) { return security::FormatUtc(t); }

nlohmann::json UserJson(const security::User& u) {
  return {{"name", u.name},
          {"role", security::RoleName(u.role)},
          {"permissions", security::PermissionsFor(u.role).Names()},
          {"disabled", u.disabled},
          {"created", Utc(u.created)},
          {"changed", Utc(u.changed)}};
}

nlohmann::json TokenJson(const security::ApiToken& t, std::chrono::system_clock::time_point now) {
  nlohmann::json j = {{"id", t.id},
                      {"user", t.user},
                      {"state", t.revoked ? "revoked" : now >= t.expires ? "expired" : "active"},
                      {"created", Utc(t.created)},
                      {"expires", Utc(t.expires)},
                      {"note", t.note}};
  if (t.revoked) j["revoked_at"] = Utc(t.revoked_at);
  return j;
}

nlohmann::json NodeJson(const security::Node& n) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& h : n.hosts) hosts.push_back(h.ToString());
  return {{"ae_title", n.ae_title},
          {"hosts", hosts},
          {"port", n.port},
          {"tls_only", n.tls_only},
          {"tls_cert_sha256", n.tls_cert_sha256},
          {"require_user_identity", n.require_user_identity},
          {"allow", n.permissions.Names()}};
}

// Administration failures as problem documents. A change the self-check
// refuses is the caller's to fix (409 with the reason), not a server fault.
Response Failure(const Status& s) {
  if (s.code() == Code::kInsecureConfig) return Response::Problem(409, "Conflict", s.message());
  return Response::FromStatus(s);
}

}  // namespace

#define BASTION_ADMIN_OR_ANSWER(admin)                 \
  auto admin = archive_.AdministerAs(*request.principal); \
  if (!admin.ok()) return Failure(admin.status())

Response WebApp::ListUsers(Request& request) {
  BASTION_ADMIN_OR_ANSWER(admin);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& u : admin->Users()) out.push_back(UserJson(u));
  return Response::Json(200, {{"users", out}});
}

Response WebApp::AddUser(Request& request) {
  auto body = JsonBody(request);
  if (auto* r = std::get_if<Response>(&body)) return std::move(*r);
  const auto& json = std::get<nlohmann::json>(body);
  bool bad = false;
  auto name = StringMember(json, "name", bad);
  auto role = StringMember(json, "role", bad);
  auto password = StringMember(json, "password", bad);
  if (bad || !name || !role)
    return Response::Problem(400, "Bad Request", "send {\"name\": ..., \"role\": ..., \"password\"?: ...}");
  if (password && password->empty()) password.reset();  // an empty field: generate one
  BASTION_ADMIN_OR_ANSWER(admin);
  const bool generated = !password;
  auto secret = admin->AddUser(archive::Archive::ActorOf(*request.principal), *name, *role, std::move(password));
  if (!secret.ok()) return Failure(secret.status());
  nlohmann::json answer = {{"name", *name}, {"role", *role}};
  if (generated) answer["password"] = *secret;  // shown once, to the admin who made it
  return Response::Json(201, answer);
}

Response WebApp::ChangeUser(Request& request) {
  const std::string name(request.Param("name"));
  const std::string what = request.path.substr(request.path.rfind('/') + 1);
  auto body = JsonBody(request, true);
  if (auto* r = std::get_if<Response>(&body)) return std::move(*r);
  const auto& json = std::get<nlohmann::json>(body);
  BASTION_ADMIN_OR_ANSWER(admin);
  const audit::Actor by = archive::Archive::ActorOf(*request.principal);
  bool bad = false;
  if (what == "disable" || what == "enable") {
    if (Status s = admin->SetUserDisabled(by, name, what == "disable"); !s.ok()) return Failure(s);
    return Response::Json(200, {{"name", name}, {"disabled", what == "disable"}});
  }
  if (what == "role") {
    auto role = StringMember(json, "role", bad);
    if (bad || !role) return Response::Problem(400, "Bad Request", "send {\"role\": ...}");
    if (Status s = admin->SetUserRole(by, name, *role); !s.ok()) return Failure(s);
    return Response::Json(200, {{"name", name}, {"role", *role}});
  }
  auto password = StringMember(json, "password", bad);
  if (bad) return Response::Problem(400, "Bad Request", "send {\"password\": ...} or {} to generate one");
  if (password && password->empty()) password.reset();
  const bool generated = !password;
  auto secret = admin->SetPassword(by, name, std::move(password));
  if (!secret.ok()) return Failure(secret.status());
  nlohmann::json answer = {{"name", name}};
  if (generated) answer["password"] = *secret;
  return Response::Json(200, answer);
}

Response WebApp::ListTokens(Request& request) {
  BASTION_ADMIN_OR_ANSWER(admin);
  auto now = std::chrono::system_clock::now();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : admin->Tokens()) out.push_back(TokenJson(t, now));
  return Response::Json(200, {{"tokens", out}});
}

Response WebApp::CreateToken(Request& request) {
  auto body = JsonBody(request);
  if (auto* r = std::get_if<Response>(&body)) return std::move(*r);
  const auto& json = std::get<nlohmann::json>(body);
  bool bad = false;
  auto user = StringMember(json, "user", bad);
  auto expires = StringMember(json, "expires", bad);
  auto note = StringMember(json, "note", bad);
  if (bad || !user || !expires)
    return Response::Problem(400, "Bad Request", "send {\"user\": ..., \"expires\": \"30d\", \"note\"?: ...}");
  BASTION_ADMIN_OR_ANSWER(admin);
  auto issued = admin->CreateToken(archive::Archive::ActorOf(*request.principal), *user, *expires, note.value_or(""));
  if (!issued.ok()) return Failure(issued.status());
  nlohmann::json answer = TokenJson(issued->record, std::chrono::system_clock::now());
  answer["token"] = issued->token;  // shown once
  return Response::Json(201, answer);
}

Response WebApp::RevokeToken(Request& request) {
  BASTION_ADMIN_OR_ANSWER(admin);
  auto owner = admin->RevokeToken(archive::Archive::ActorOf(*request.principal), request.Param("id"));
  if (!owner.ok()) return Failure(owner.status());
  return Response::Json(200, {{"id", std::string(request.Param("id"))}, {"user", *owner}, {"state", "revoked"}});
}

Response WebApp::ListNodes(Request& request) {
  BASTION_ADMIN_OR_ANSWER(admin);
  auto nodes = admin->Nodes();
  if (!nodes.ok()) return Failure(nodes.status());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& n : *nodes) out.push_back(NodeJson(n));
  return Response::Json(200, {{"nodes", out}});
}

Response WebApp::AddNode(Request& request) {
  auto body = JsonBody(request);
  if (auto* r = std::get_if<Response>(&body)) return std::move(*r);
  const auto& json = std::get<nlohmann::json>(body);
  archive::Administration::NodeSpec spec;
  bool bad = false;
  spec.ae = StringMember(json, "ae", bad).value_or("");
  spec.hosts = StringMember(json, "hosts", bad).value_or("");
  spec.allow = StringMember(json, "allow", bad).value_or("");
  spec.tls_cert_sha256 = StringMember(json, "tls_cert_sha256", bad).value_or("");
  auto flag = [&](const char* key) {
    auto it = json.find(key);
    if (it == json.end() || it->is_null()) return false;
    if (!it->is_boolean()) bad = true;
    return it->is_boolean() && it->get<bool>();
  };
  spec.tls_only = flag("tls_only");
  spec.require_user_identity = flag("require_user_identity");
  if (auto it = json.find("port"); it != json.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > 65535)
      bad = true;
    else
      spec.port = it->get<int>();
  }
  if (bad || spec.ae.empty() || spec.hosts.empty() || spec.allow.empty())
    return Response::Problem(400, "Bad Request",
                             "send {\"ae\", \"hosts\", \"allow\"} and optionally \"port\" (0-65535), \"tls_only\", "
                             "\"tls_cert_sha256\", \"require_user_identity\"");
  auto node = archive::Administration::MakeNode(spec);
  if (!node.ok()) return Failure(node.status());
  BASTION_ADMIN_OR_ANSWER(admin);
  if (Status s = admin->AddNode(archive::Archive::ActorOf(*request.principal), *node); !s.ok()) return Failure(s);
  return Response::Json(201, NodeJson(*node));
}

Response WebApp::RemoveNode(Request& request) {
  BASTION_ADMIN_OR_ANSWER(admin);
  if (Status s = admin->RemoveNode(archive::Archive::ActorOf(*request.principal), request.Param("ae")); !s.ok())
    return Failure(s);
  return Response::Json(200, {{"ae_title", std::string(request.Param("ae"))}, {"removed", true}});
}

Response WebApp::SelfScan(Request& request) {
  BASTION_ADMIN_OR_ANSWER(admin);
  auto report = admin->LatestSelfScan(archive::Archive::ActorOf(*request.principal));
  if (!report.ok()) return Failure(report.status());
  return Response::Json(200, *report);
}

Response WebApp::ReadAudit(Request& request) {
  audit::AuditQuery q;
  auto params = ParseQueryString(request.query);
  if (!params) return Response::Problem(400, "Bad Request", "the query string is malformed");
  for (const auto& [key, value] : *params) {
    if (key == "limit" || key == "before") {
      char* end = nullptr;
      long long v = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || v < 0 || v > (1LL << 53))
        return Response::Problem(400, "Bad Request", "limit and before take whole numbers");
      if (key == "limit")
        q.limit = static_cast<int>(std::min(v, 100000LL));
      else
        q.before_seq = v;
    } else if (key == "type") {
      q.type = value;
    } else if (key == "actor") {
      q.actor = value;
    } else if (key == "text") {
      q.text = value;
    } else if (key == "since") {
      q.since = value;
    } else if (key == "until") {
      q.until = value;
    } else if (key == "failures") {
      if (value != "1" && value != "true" && value != "0" && value != "false")
        return Response::Problem(400, "Bad Request", "failures takes 1 or 0");
      q.failures_only = value == "1" || value == "true";
    } else {
      return Response::Problem(400, "Bad Request",
                               "unknown parameter (use limit, before, type, actor, text, since, until, failures)");
    }
  }
  if (Status s = audit::ValidateAuditQuery(q); !s.ok()) return Response::FromStatus(s);
  auto page = archive_.ReadAudit(*request.principal, q);
  if (!page.ok()) return Failure(page.status());
  nlohmann::json out = {{"records", page->records}, {"next_before", page->next_before},
                        {"scan_limited", page->scan_limited}};
  return Response::Json(200, out);
}

}  // namespace bastion::web
