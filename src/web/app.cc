#include "web/app.h"

#include <spdlog/spdlog.h>
#include <strings.h>

#include <thread>

#include "util/crypto.h"
#include "web/assets.h"

namespace bastion::web {

using security::Permission;

// The one route table. Order matters only where patterns overlap.
const std::vector<Route>& Routes() {
  static const std::vector<Route> kRoutes = {
      {"GET", "/", Access::kPublic, {}, BodyMode::kNone, "the start page: sends the browser to the login page",
       &WebApp::Root},
      {"GET", "/login", Access::kPublic, {}, BodyMode::kNone, "the login page (no patient data)", &WebApp::LoginPage},
      {"GET", "/static/{file}", Access::kPublic, {}, BodyMode::kNone, "the login page's script and style sheet",
       &WebApp::StaticAsset},
      {"POST", "/api/login", Access::kPublic, {}, BodyMode::kBuffered,
       "password login: {user, password[, code]} -> session cookie", &WebApp::Login},
      {"POST", "/api/logout", Access::kSignedIn, {}, BodyMode::kBuffered, "ends the session", &WebApp::Logout},
      {"GET", "/api/session", Access::kSignedIn, {}, BodyMode::kNone,
       "who is signed in, their permissions and CSRF token", &WebApp::WhoAmI},
      // The web UI's pages (one page script; the data comes from the APIs below and DICOMweb)
      {"GET", "/studies", Access::kPage, {}, BodyMode::kNone, "web UI: the study list and search", &WebApp::AppPage},
      {"GET", "/admin/users", Access::kPage, {}, BodyMode::kNone, "web UI: people (admin)", &WebApp::AppPage},
      {"GET", "/admin/tokens", Access::kPage, {}, BodyMode::kNone, "web UI: API tokens (admin)", &WebApp::AppPage},
      {"GET", "/admin/nodes", Access::kPage, {}, BodyMode::kNone, "web UI: DICOM nodes (admin)", &WebApp::AppPage},
      {"GET", "/audit", Access::kPage, {}, BodyMode::kNone, "web UI: the audit trail (auditor, admin)",
       &WebApp::AppPage},
      {"GET", "/admin/self-scan", Access::kPage, {}, BodyMode::kNone, "web UI: the latest self-scan (admin)",
       &WebApp::AppPage},
      // The OHIF viewer (viewer.h)
      {"GET", "/viewer", Access::kPage, {}, BodyMode::kNone, "the OHIF viewer", &WebApp::ViewerFile},
      {"GET", "/viewer/{path+}", Access::kPage, {}, BodyMode::kNone,
       "the OHIF viewer's files and routes; app-config.js generated", &WebApp::ViewerFile},
      // Administration (admin_api.cc): the same changes and audit records as the CLI
      {"GET", "/api/users", Access::kPermission, Permission::kAdmin, BodyMode::kNone, "people: list",
       &WebApp::ListUsers},
      {"POST", "/api/users", Access::kPermission, Permission::kAdmin, BodyMode::kBuffered,
       "people: add {name, role, password?}; a generated password is answered once", &WebApp::AddUser},
      {"POST", "/api/users/{name}/disable", Access::kPermission, Permission::kAdmin, BodyMode::kBuffered,
       "people: disable an account (its sessions and tokens stop)", &WebApp::ChangeUser},
      {"POST", "/api/users/{name}/enable", Access::kPermission, Permission::kAdmin, BodyMode::kBuffered,
       "people: enable an account", &WebApp::ChangeUser},
      {"POST", "/api/users/{name}/role", Access::kPermission, Permission::kAdmin, BodyMode::kBuffered,
       "people: change the role {role}", &WebApp::ChangeUser},
      {"POST", "/api/users/{name}/password", Access::kPermission, Permission::kAdmin, BodyMode::kBuffered,
       "people: set {password} or generate one (answered once)", &WebApp::ChangeUser},
      {"GET", "/api/tokens", Access::kPermission, Permission::kAdmin, BodyMode::kNone, "API tokens: list",
       &WebApp::ListTokens},
      {"POST", "/api/tokens", Access::kPermission, Permission::kAdmin, BodyMode::kBuffered,
       "API tokens: create {user, expires, note}; the token is answered once", &WebApp::CreateToken},
      {"POST", "/api/tokens/{id}/revoke", Access::kPermission, Permission::kAdmin, BodyMode::kBuffered,
       "API tokens: revoke", &WebApp::RevokeToken},
      {"GET", "/api/nodes", Access::kPermission, Permission::kAdmin, BodyMode::kNone, "DICOM nodes: list",
       &WebApp::ListNodes},
      {"POST", "/api/nodes", Access::kPermission, Permission::kAdmin, BodyMode::kBuffered,
       "DICOM nodes: register {ae, hosts, port, allow, tls_only, tls_cert_sha256, require_user_identity}",
       &WebApp::AddNode},
      {"DELETE", "/api/nodes/{ae}", Access::kPermission, Permission::kAdmin, BodyMode::kNone,
       "DICOM nodes: remove", &WebApp::RemoveNode},
      {"GET", "/api/audit", Access::kPermission, Permission::kAudit, BodyMode::kNone,
       "the audit trail, newest first (reading it is audited)", &WebApp::ReadAudit},
      {"GET", "/api/self-scan", Access::kPermission, Permission::kAdmin, BodyMode::kNone,
       "the latest `bastion scan --self` report (bastion-scan/1)", &WebApp::SelfScan},
      // DICOMweb QIDO-RS (PS3.18 10.6)
      {"GET", "/dicom-web/studies", Access::kPermission, Permission::kFind, BodyMode::kNone, "QIDO-RS: studies",
       &WebApp::Search},
      {"GET", "/dicom-web/series", Access::kPermission, Permission::kFind, BodyMode::kNone, "QIDO-RS: series",
       &WebApp::Search},
      {"GET", "/dicom-web/instances", Access::kPermission, Permission::kFind, BodyMode::kNone,
       "QIDO-RS: instances", &WebApp::Search},
      {"GET", "/dicom-web/studies/{study}/series", Access::kPermission, Permission::kFind, BodyMode::kNone,
       "QIDO-RS: a study's series", &WebApp::Search},
      {"GET", "/dicom-web/studies/{study}/instances", Access::kPermission, Permission::kFind, BodyMode::kNone,
       "QIDO-RS: a study's instances", &WebApp::Search},
      {"GET", "/dicom-web/studies/{study}/series/{series}/instances", Access::kPermission, Permission::kFind,
       BodyMode::kNone, "QIDO-RS: a series' instances", &WebApp::Search},
      // DICOMweb STOW-RS (PS3.18 10.5)
      {"POST", "/dicom-web/studies", Access::kPermission, Permission::kStore, BodyMode::kStreamed,
       "STOW-RS: store instances (multipart/related application/dicom)", &WebApp::Store},
      {"POST", "/dicom-web/studies/{study}", Access::kPermission, Permission::kStore, BodyMode::kStreamed,
       "STOW-RS: store instances of one study", &WebApp::Store},
      // DICOMweb WADO-RS (PS3.18 10.4)
      {"GET", "/dicom-web/studies/{study}", Access::kPermission, Permission::kView, BodyMode::kNone,
       "WADO-RS: a study's instances (multipart application/dicom)", &WebApp::RetrieveInstances},
      {"GET", "/dicom-web/studies/{study}/series/{series}", Access::kPermission, Permission::kView, BodyMode::kNone,
       "WADO-RS: a series' instances", &WebApp::RetrieveInstances},
      {"GET", "/dicom-web/studies/{study}/series/{series}/instances/{instance}", Access::kPermission,
       Permission::kView, BodyMode::kNone, "WADO-RS: one instance", &WebApp::RetrieveInstances},
      {"GET", "/dicom-web/studies/{study}/metadata", Access::kPermission, Permission::kView, BodyMode::kNone, "WADO-RS: a study's metadata (DICOM JSON)",
       &WebApp::Metadata},
      {"GET", "/dicom-web/studies/{study}/series/{series}/metadata", Access::kPermission, Permission::kView, BodyMode::kNone, "WADO-RS: a series' metadata",
       &WebApp::Metadata},
      {"GET", "/dicom-web/studies/{study}/series/{series}/instances/{instance}/metadata", Access::kPermission, Permission::kView, BodyMode::kNone,
       "WADO-RS: an instance's metadata", &WebApp::Metadata},
      {"GET", "/dicom-web/studies/{study}/series/{series}/instances/{instance}/bulkdata/{path}", Access::kPermission, Permission::kView, BodyMode::kNone,
       "WADO-RS: one bulk data value (the BulkDataURI of the metadata)", &WebApp::BulkData},
      {"GET", "/dicom-web/studies/{study}/series/{series}/instances/{instance}/frames/{frames}", Access::kPermission, Permission::kView, BodyMode::kNone,
       "WADO-RS: frames (native or as stored)", &WebApp::Frames},
      {"GET", "/dicom-web/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered", Access::kPermission, Permission::kView, BodyMode::kNone,
       "WADO-RS: one frame as JPEG/PNG", &WebApp::Rendered},
      {"GET", "/dicom-web/studies/{study}/series/{series}/instances/{instance}/rendered", Access::kPermission, Permission::kView, BodyMode::kNone,
       "WADO-RS: an instance as JPEG/PNG", &WebApp::Rendered},
      {"GET", "/dicom-web/studies/{study}/series/{series}/instances/{instance}/thumbnail", Access::kPermission, Permission::kView, BodyMode::kNone,
       "WADO-RS: an instance's thumbnail", &WebApp::Rendered},
      {"GET", "/dicom-web/studies/{study}/series/{series}/thumbnail", Access::kPermission, Permission::kView, BodyMode::kNone,
       "WADO-RS: a series' thumbnail (its first image)", &WebApp::Rendered},
      {"GET", "/dicom-web/studies/{study}/thumbnail", Access::kPermission, Permission::kView, BodyMode::kNone, "WADO-RS: a study's thumbnail (its first image)",
       &WebApp::Rendered},
      {"GET", "/wado", Access::kPermission, Permission::kView, BodyMode::kNone, "WADO-URI (PS3.18 9): an object as DICOM, JPEG or PNG", &WebApp::WadoUri},
  };
  return kRoutes;
}

namespace {

constexpr std::string_view kNotAccepted = "user name or password not accepted";
constexpr std::string_view kCodeNeeded = "enter the one-time code from your authenticator app";

bool IsSafeMethod(std::string_view method) { return method == "GET" || method == "HEAD" || method == "OPTIONS"; }

// Splits "/a/b%2Fc" into decoded segments; nullopt when a segment is not
// acceptable as a path parameter: a bad escape, an encoded or literal
// separator, a dot segment, a control character.
std::optional<std::vector<std::string>> SplitPath(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<std::string> out;
  if (path == "/") return out;
  std::size_t pos = 1;
  for (;;) {
    std::size_t slash = path.find('/', pos);
    std::string_view raw = path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    auto seg = PercentDecode(raw);
    if (!seg || seg->empty() || *seg == "." || *seg == "..") return std::nullopt;
    for (unsigned char c : *seg)
      if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') return std::nullopt;
    out.push_back(std::move(*seg));
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
    if (pos == path.size()) break;  // a trailing slash is ignored
  }
  return out;
}

std::vector<std::string_view> PatternSegments(std::string_view pattern) {
  std::vector<std::string_view> out;
  std::size_t pos = 1;
  while (pos < pattern.size()) {
    std::size_t slash = pattern.find('/', pos);
    if (slash == std::string_view::npos) slash = pattern.size();
    out.push_back(pattern.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

// The value of one cookie from the Cookie header(s).
std::optional<std::string> CookieValue(const HeaderList& headers, std::string_view name) {
  for (const auto& [n, v] : headers.items) {
    if (::strcasecmp(n.c_str(), "Cookie") != 0) continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      std::size_t semi = rest.find(';');
      std::string_view pair = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      std::size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return std::string(pair.substr(eq + 1));
    }
  }
  return std::nullopt;
}

std::string SessionCookie(std::string_view value, bool clear) {
  std::string c = std::string(kSessionCookie) + "=" + std::string(value) + "; Path=/; HttpOnly; Secure; SameSite=Strict";
  if (clear) c += "; Max-Age=0";
  return c;
}

security::LoginThrottleOptions LoginThrottleOptionsOf(const ThrottleOptions& t) {
  security::LoginThrottleOptions o;
  o.window = std::chrono::seconds(t.window_seconds);
  o.failures_before_slowdown = t.failures_before_slowdown;
  o.max_delay = std::chrono::milliseconds(t.max_delay_ms);
  o.first_delay = std::min(o.first_delay, o.max_delay);
  o.failures_before_lockout = t.failures_before_lockout;
  o.lockout = std::chrono::seconds(t.lockout_seconds);
  return o;
}

audit::Actor AnonymousActor(const Request& request) { return audit::Actor{"anonymous", "", request.peer_address}; }

// Percent-encodes everything but unreserved characters and '/', for a query value.
std::string QueryEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

WebApp::WebApp(const Config& config, archive::Archive& archive)
    : config_(config),
      archive_(archive),
      viewer_(config.web.viewer_dir.empty() ? DefaultViewerDir() : config.web.viewer_dir),
      sessions_(SessionOptions{std::chrono::seconds(config.web.session_idle_seconds),
                               std::chrono::seconds(config.web.session_max_seconds),
                               static_cast<std::size_t>(config.web.max_sessions)}),
      throttle_(LoginThrottleOptionsOf(config.web.login_throttle)) {
  if (viewer_.installed())
    spdlog::info("viewer: OHIF {} from {} at /viewer/", viewer_.version(), viewer_.dir().string());
  else
    spdlog::warn("viewer: {}; /viewer/ answers 503 until then", viewer_.problem());
}

std::uint64_t WebApp::max_body_bytes(const Route& route) const {
  switch (route.body) {
    case BodyMode::kNone: return 0;
    case BodyMode::kBuffered: return config_.web.max_body_bytes;
    case BodyMode::kStreamed: return config_.web.max_upload_bytes;
  }
  return 0;
}

std::variant<WebApp::Match, Response> WebApp::Resolve(std::string_view method, std::string_view path) const {
  auto segments = SplitPath(path);
  if (!segments) return Response::Problem(400, "Bad Request", "the request path is malformed");
  static const Route kPreflight{"OPTIONS", "*", Access::kPublic, {}, BodyMode::kNone,
                                "CORS preflight: answered without credentials", &WebApp::Preflight};
  if (method == "OPTIONS") return Match{&kPreflight, {}};
  std::string allowed;
  for (const Route& route : Routes()) {
    auto pattern = PatternSegments(route.pattern);
    // "{name+}" last: one or more segments, each checked like any other, joined by '/'.
    const bool rest = !pattern.empty() && pattern.back().ends_with("+}");
    if (rest ? segments->size() < pattern.size() : pattern.size() != segments->size()) continue;
    Match m;
    bool ok = true;
    for (std::size_t i = 0; i < pattern.size() && ok; ++i) {
      if (rest && i + 1 == pattern.size()) {
        std::string joined;
        for (std::size_t j = i; j < segments->size(); ++j) joined += (j > i ? "/" : "") + (*segments)[j];
        m.params.emplace(std::string(pattern[i].substr(1, pattern[i].size() - 3)), std::move(joined));
      } else if (pattern[i].size() > 2 && pattern[i].front() == '{' && pattern[i].back() == '}') {
        m.params.emplace(std::string(pattern[i].substr(1, pattern[i].size() - 2)), (*segments)[i]);
      } else {
        ok = pattern[i] == (*segments)[i];
      }
    }
    if (!ok) continue;
    if (route.method != method) {
      if (allowed.find(route.method) == std::string::npos) allowed += (allowed.empty() ? "" : ", ") + std::string(route.method);
      continue;
    }
    m.route = &route;
    return m;
  }
  if (!allowed.empty()) {
    Response r = Response::Problem(405, "Method Not Allowed", "this resource does not take that method");
    r.headers.Set("Allow", allowed);
    return r;
  }
  return Response::Problem(404, "Not Found", "no such resource");
}

Response WebApp::Refuse(const Request& request, const Route& route, int status, std::string_view why) {
  audit::Actor actor = request.principal ? archive::Archive::ActorOf(*request.principal) : AnonymousActor(request);
  archive_.RecordAccessEvent("web.refused", false, actor,
                             {{"method", request.method},
                              {"route", route.pattern},
                              {"status", status},
                              {"reason", why}});
  if (status == 401) {
    Response r = Response::Problem(401, "Unauthorized", why);
    r.headers.Set("WWW-Authenticate", "Bearer realm=\"bastion\"");
    return r;
  }
  return Response::Problem(status, ReasonPhrase(status), why);
}

std::optional<security::Principal> WebApp::Authenticate(Request& request, std::optional<Response>& refusal) {
  if (auto auth = request.headers.Get("Authorization")) {
    std::string_view value = *auth;
    constexpr std::string_view kBearer = "Bearer ";
    if (value.size() <= kBearer.size() || ::strncasecmp(value.data(), kBearer.data(), kBearer.size()) != 0) {
      refusal = Response::Problem(401, "Unauthorized", "only \"Authorization: Bearer <API token>\" is accepted");
      return std::nullopt;
    }
    std::string_view token = value.substr(kBearer.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    auto p = archive_.AuthenticateToken(token, request.peer_address, "https");
    if (!p.ok()) {
      refusal = Response::Problem(401, "Unauthorized", "the API token is not accepted");
      return std::nullopt;
    }
    return *p;
  }
  auto cookie = CookieValue(request.headers, kSessionCookie);
  if (!cookie) return std::nullopt;
  bool expired = false;
  auto session = sessions_.Touch(*cookie, &expired);
  if (!session) {
    if (expired)
      archive_.RecordAccessEvent("session.expired", true, audit::Actor{"user", "", request.peer_address}, {});
    refusal = Response::Problem(401, "Unauthorized",
                                expired ? "the session has expired; log in again" : "not logged in; log in again");
    refusal->headers.Add("Set-Cookie", SessionCookie("", true));
    return std::nullopt;
  }
  auto p = archive_.CurrentUser(session->user, session->created_wall, request.peer_address);
  if (!p.ok()) {
    sessions_.End(*cookie);
    refusal = Response::Problem(401, "Unauthorized", p.status().message());
    refusal->headers.Add("Set-Cookie", SessionCookie("", true));
    return std::nullopt;
  }
  request.session = *session;
  request.session_id = *cookie;
  return *p;
}

Response WebApp::Handle(Request& request, const Match& match) {
  const Route& route = *match.route;
  request.params = match.params;
  if (route.access != Access::kPublic) {
    std::optional<Response> refusal;
    request.principal = Authenticate(request, refusal);
    if (!request.principal) {
      Response r = Refuse(request, route, 401, refusal ? std::string_view("credentials not accepted")
                                                        : std::string_view("authentication required"));
      if (route.access == Access::kPage) {
        // A browser opening one of our pages: to the login page, which
        // brings it back here afterwards. Nothing of the page is sent.
        std::string next = request.path + (request.query.empty() ? "" : "?" + request.query);
        Response to_login = Response::Redirect(std::string("/login?") + (refusal ? "expired=1&" : "") +
                                               "next=" + QueryEncode(next));
        if (refusal)
          for (auto& h : refusal->headers.items)
            if (::strcasecmp(h.first.c_str(), "Set-Cookie") == 0) to_login.headers.Add(h.first, h.second);
        return to_login;
      }
      if (refusal) {
        for (auto& h : refusal->headers.items)
          if (::strcasecmp(h.first.c_str(), "Set-Cookie") == 0) r.headers.Add(h.first, h.second);
        r.body = refusal->body;
      }
      return r;
    }
    if (route.access == Access::kPermission && !request.principal->May(route.permission))
      return Refuse(request, route, 403, "your role does not allow this");
    // A browser sends the session cookie on its own; a state change must
    // also carry the session's CSRF token, which only our own pages can read.
    if (request.session && !IsSafeMethod(request.method)) {
      auto token = request.headers.Get(kCsrfHeader);
      if (!token || !ConstantTimeEquals(*token, request.session->csrf_token))
        return Refuse(request, route, 403, "missing or wrong CSRF token (send X-CSRF-Token from /api/session)");
    }
  }
  return (this->*route.handler)(request);
}

// --- Handlers -------------------------------------------------------------

Response WebApp::Root(Request& request) {
  std::optional<Response> refusal;
  bool signed_in = CookieValue(request.headers, kSessionCookie) && Authenticate(request, refusal).has_value();
  return Response::Redirect(signed_in ? "/studies" : "/login");
}

Response WebApp::AppPage(Request&) {
  const Asset* page = FindAsset("app.html");
  if (page == nullptr) return Response::Problem(500, "Internal Server Error");
  return Response::Bytes(200, std::string(page->bytes), AssetContentType(page->name));
}

Response WebApp::ViewerFile(Request& request) { return viewer_.Serve(request.Param("path")); }

Response WebApp::LoginPage(Request&) {
  const Asset* page = FindAsset("login.html");
  if (page == nullptr) return Response::Problem(500, "Internal Server Error");
  return Response::Bytes(200, std::string(page->bytes), AssetContentType(page->name));
}

Response WebApp::StaticAsset(Request& request) {
  const Asset* asset = FindAsset(request.Param("file"));
  if (asset == nullptr) return Response::Problem(404, "Not Found", "no such file");
  Response r = Response::Bytes(200, std::string(asset->bytes), AssetContentType(asset->name));
  r.headers.Set("Cache-Control", "no-cache");
  return r;
}

Response WebApp::Login(Request& request) {
  // JSON only: a cross-site HTML form cannot send it without a preflight.
  auto type = request.headers.Get("Content-Type").value_or("");
  if (type.substr(0, 16) != "application/json")
    return Response::Problem(415, "Unsupported Media Type", "send {\"user\": ..., \"password\": ...} as application/json");
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("user") || !body.contains("password") || !body["user"].is_string() ||
      !body["password"].is_string() || (body.contains("code") && !body["code"].is_string()))
    return Response::Problem(400, "Bad Request", "send {\"user\": ..., \"password\": ...[, \"code\": \"123456\"]}");
  const std::string user = body["user"].get<std::string>();
  const std::string password = body["password"].get<std::string>();
  // The one-time code of a user with a second factor; an empty field counts as none sent.
  std::optional<std::string_view> code;
  if (body.contains("code") && !body["code"].get_ref<const std::string&>().empty())
    code = body["code"].get_ref<const std::string&>();
  std::string lowered = user;
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string account_key = "user:" + lowered;
  const std::string address_key = "addr:" + request.peer_address;

  for (const auto& key : {account_key, address_key}) {
    auto verdict = throttle_.Check(key);
    if (verdict.locked) {
      archive_.RecordAccessEvent("login", false, audit::Actor{"anonymous", user.substr(0, 64), request.peer_address},
                                 {{"channel", "https"}, {"reason", "locked_out"},
                                  {"locked", key == account_key ? "account" : "address"}});
      Response r = Response::Problem(429, "Too Many Requests",
                                     "too many failed logins; try again later");
      r.headers.Set("Retry-After", std::to_string(verdict.retry_after.count()));
      return r;
    }
  }
  security::AuthFailure why = security::AuthFailure::kNone;
  auto principal = archive_.LoginWithPassword(user, password, code, request.peer_address, "https", &why);
  if (!principal.ok()) {
    if (why == security::AuthFailure::kBusy || why == security::AuthFailure::kStoreFailed)
      return Response::FromStatus(principal.status());
    // Every answer that is not a session costs a failure, including "right
    // password, code needed": the password is not checked for free.
    std::chrono::milliseconds delay{0};
    for (const auto& key : {account_key, address_key}) {
      auto result = throttle_.RecordFailure(key);
      delay = std::max(delay, result.delay);
      if (result.locked_now)
        archive_.RecordAccessEvent("lockout", true, audit::Actor{"anonymous", user.substr(0, 64), request.peer_address},
                                   {{"channel", "https"}, {"locked", key == account_key ? "account" : "address"},
                                    {"seconds", config_.web.login_throttle.lockout_seconds}});
    }
    // Slows guessing down; this connection's thread waits, no other.
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (why == security::AuthFailure::kTotpMissing) {
      // The page asks for the code and sends the password again with it.
      nlohmann::json problem = {{"type", "about:blank"},   {"title", "Unauthorized"}, {"status", 401},
                                {"detail", kCodeNeeded}, {"totp_required", true}};
      return Response::Json(401, problem, "application/problem+json");
    }
    return Response::Problem(401, "Unauthorized", kNotAccepted);
  }
  throttle_.RecordSuccess(account_key);
  throttle_.RecordSuccess(address_key);
  auto created = sessions_.Create(principal->user, request.peer_address);
  nlohmann::json answer = {{"user", principal->user},
                           {"permissions", principal->permissions.Names()},
                           {"csrf_token", created.session.csrf_token},
                           {"idle_timeout_seconds", config_.web.session_idle_seconds}};
  Response r = Response::Json(200, answer);
  r.headers.Add("Set-Cookie", SessionCookie(created.id, false));
  return r;
}

Response WebApp::Logout(Request& request) {
  Response r;
  r.status = 204;
  if (!request.session_id.empty()) {
    sessions_.End(request.session_id);
    r.headers.Add("Set-Cookie", SessionCookie("", true));
  }
  archive_.RecordAccessEvent("logout", true, archive::Archive::ActorOf(*request.principal), {{"channel", "https"}});
  return r;
}

Response WebApp::WhoAmI(Request& request) {
  const auto& p = *request.principal;
  nlohmann::json answer = {{"user", p.user}, {"kind", p.KindName()}, {"permissions", p.permissions.Names()}};
  if (request.session) {
    answer["csrf_token"] = request.session->csrf_token;
    answer["idle_timeout_seconds"] = config_.web.session_idle_seconds;
  }
  return Response::Json(200, answer);
}

Response WebApp::Preflight(Request&) {
  // Same-origin use (the UI, the viewer) needs no CORS; cross-origin access
  // is not granted, so no Access-Control-Allow-Origin is sent.
  Response r;
  r.status = 204;
  r.headers.Set("Allow", "GET, POST, OPTIONS");
  return r;
}

}  // namespace bastion::web
