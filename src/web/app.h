// The web application: the one route table, authentication (sessions, API
// tokens), CSRF, and the handlers. Every route is classified in the table;
// only the login page, its assets and CORS preflight are public, and nothing
// public reveals PHI. Handlers reach data only through the archive.
//
// Thread-safe: one WebApp serves every connection.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "archive/archive.h"
#include "security/login_throttle.h"
#include "util/config.h"
#include "web/http.h"
#include "web/sessions.h"
#include "web/viewer.h"

namespace bastion::web {

enum class Access {
  kPublic,      // anyone: the login page and static assets only (no PHI)
  kSignedIn,    // any authenticated person or token (their own session, logout)
  kPage,        // like kSignedIn, for a page a browser opens: without credentials, a redirect to the login page
  kPermission,  // authenticated and holding `permission`
};

enum class BodyMode {
  kNone,      // a body is refused (411/413 never arise: any body is an error)
  kBuffered,  // read whole before the handler runs, at most [web] max_body_bytes
  kStreamed,  // read by the handler through Request::body_reader, at most [web] max_upload_bytes
};

class WebApp;

struct Route {
  std::string_view method;
  std::string_view pattern;  // "/dicom-web/studies/{study}/series"; {name} is one path segment
  Access access;
  security::Permission permission;  // for kPermission
  BodyMode body;
  std::string_view summary;
  Response (WebApp::*handler)(Request&);
};

// The route table, in matching order (for the CLI's `bastion web routes` and the tests).
const std::vector<Route>& Routes();

inline constexpr std::string_view kSessionCookie = "bastion_session";
inline constexpr std::string_view kCsrfHeader = "X-CSRF-Token";

class WebApp {
 public:
  WebApp(const Config& config, archive::Archive& archive);

  // After the request header: the route and how to read its body, or an
  // immediate answer (404, 405).
  struct Match {
    const Route* route = nullptr;
    std::map<std::string, std::string, std::less<>> params;
  };
  std::variant<Match, Response> Resolve(std::string_view method, std::string_view path) const;

  // Authenticates, checks the route's access and CSRF, runs the handler.
  // Refusals are answered as problem documents and audited.
  Response Handle(Request& request, const Match& match);

  std::uint64_t max_body_bytes(const Route& route) const;

  // Handlers (public for the route table).
  Response LoginPage(Request& request);
  Response StaticAsset(Request& request);
  Response Root(Request& request);
  Response Login(Request& request);
  Response Logout(Request& request);
  Response WhoAmI(Request& request);
  Response Preflight(Request& request);
  Response AppPage(Request& request);     // the web UI's pages (one shell, web/static/app.html)
  Response ViewerFile(Request& request);  // the OHIF viewer (viewer.h)
  // Administration and the audit trail (admin_api.cc)
  Response ListUsers(Request& request);
  Response AddUser(Request& request);
  Response ChangeUser(Request& request);  // disable, enable, role, password
  Response ListTokens(Request& request);
  Response CreateToken(Request& request);
  Response RevokeToken(Request& request);
  Response ListNodes(Request& request);
  Response AddNode(Request& request);
  Response RemoveNode(Request& request);
  Response ReadAudit(Request& request);
  Response SelfScan(Request& request);
  // DICOMweb (dicomweb.cc)
  Response Search(Request& request);  // QIDO-RS at every level
  Response RetrieveInstances(Request& request);
  Response Store(Request& request);  // STOW-RS (stow.cc)
  Response Metadata(Request& request);
  Response BulkData(Request& request);
  Response Frames(Request& request);
  Response Rendered(Request& request);  // rendered and thumbnail
  Response WadoUri(Request& request);  // WADO-RS study/series/instance as multipart application/dicom

 private:
  // Who is asking: a Bearer token or a session cookie. nullopt with
  // `refusal` set when credentials were presented but are not accepted.
  std::optional<security::Principal> Authenticate(Request& request, std::optional<Response>& refusal);
  Response Refuse(const Request& request, const Route& route, int status, std::string_view why);
  // The archive's view plan (permission, audit) for the UIDs of the path.
  Result<archive::RetrievePlan> PlanFor(const Request& request, std::string_view what);

  const Config config_;
  archive::Archive& archive_;
  Viewer viewer_;
  SessionStore sessions_;
  security::LoginThrottle throttle_;
};

}  // namespace bastion::web
