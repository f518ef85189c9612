#include "util/config.h"

#include <toml++/toml.h>

#include <set>
#include <sstream>

#include "util/text.h"

namespace bastion {

std::filesystem::path ConfigPath(const std::filesystem::path& data_dir) { return data_dir / "bastion.toml"; }

static std::string EndpointText(const std::string& bind, std::uint16_t port) {
  if (bind.find(':') != std::string::npos) return "[" + bind + "]:" + std::to_string(port);
  return bind + ":" + std::to_string(port);
}

std::string RenderConfig(const InitOptions& o) {
  std::ostringstream out;
  out << R"(# Bastion configuration. Every default here is the safe one; the comment
# beside each option says what it protects. `bastion serve` refuses to start
# with a combination that would expose patient data, and says why.

[dicom]
# Our own AE title. Associations calling any other title are rejected (reason 7).
ae_title = ")" << o.ae_title << R"("
# DICOM over TLS (BCP 195, TLS 1.2+, AEAD suites). Client certificates are
# required and must chain to [tls].client_ca. Safe on every interface.
tls_listen = [")" << EndpointText(o.tls_bind, o.tls_port) << R"("]
# Plain (unencrypted) DICOM, for legacy modalities that cannot do TLS. Bound to
# loopback: binding it elsewhere is refused unless every node allowed on it is
# registered by exact address (see docs/security.md). [] disables it.
plain_listen = [")" << EndpointText(o.plain_bind, o.plain_port) << R"("]
# Concurrent associations, in total and per calling AE title: finite, so that
# one peer cannot exhaust the server.
max_associations = 64
max_associations_per_node = 8
# Connections not yet admitted (TLS handshake, association request) get a
# separate, smaller pool, in total and per peer address, so that nobody
# unauthenticated can take the slots of registered nodes.
max_pending_connections = 32
max_pending_per_address = 8
# Largest PDU we receive, in bytes.
max_pdu_bytes = 131072
# Seconds allowed for association negotiation/release, and idle time between
# DIMSE messages before the association is aborted.
acse_timeout_seconds = 30
dimse_timeout_seconds = 120

[dicom.throttle]
# Rejected associations are counted per peer address over window_seconds.
# Past failures_before_slowdown each rejection is delayed (AE-title guessing
# gets slow); past failures_before_lockout the address is refused outright for
# lockout_seconds.
window_seconds = 60
failures_before_slowdown = 5
failures_before_lockout = 20
lockout_seconds = 300
max_delay_ms = 2000

[web]
# HTTPS: the web UI, the viewer and DICOMweb (TLS 1.2+, AEAD suites, the
# certificate of [tls]). Nothing that shows patient data answers without a
# login or an API token. [] disables the web front end.
https_listen = [")" << EndpointText(o.https_bind, o.https_port) << R"("]
# Plain HTTP, for a reverse proxy on this machine: loopback addresses only
# (anything else is refused at start-up). Off by default.
http_listen = []
# Open connections, in total and per peer address: finite, so that one client
# cannot exhaust the server.
max_connections = 256
max_connections_per_address = 32
# Largest request line + headers, in bytes.
max_header_bytes = 16384
# Largest body of an ordinary request (login, JSON), and of a STOW-RS upload
# (streamed to disk, never held in memory). A declared Content-Length over the
# limit is refused before the body is read.
max_body_bytes = 1048576
max_upload_bytes = 4294967296
# Seconds allowed for a request's headers to arrive, and without any progress
# while a body or response moves (slow clients cannot hold connections).
header_timeout_seconds = 20
idle_timeout_seconds = 60
# A session ends after this many idle seconds (automatic logoff, HIPAA
# 164.312(a)(2)(iii)) and, however active, after session_max_seconds.
session_idle_seconds = 900
session_max_seconds = 43200
max_sessions = 10000
# Strict-Transport-Security max-age, in seconds.
hsts_max_age = 31536000
# The OHIF viewer served under /viewer/ (same origin, so the session signs it
# in): the directory scripts/install-viewer.sh prepares. Unset: the one it
# fills beside Bastion's source.
# viewer_dir = "/opt/bastion/viewer"

[web.login_throttle]
# Failed logins are counted per account and per address over window_seconds.
# From failures_before_slowdown on, each failure is answered after a delay
# that doubles up to max_delay_ms; at failures_before_lockout the account (or
# address) is locked for lockout_seconds, even for the right password. Every
# failure and lockout is an audit record.
window_seconds = 900
failures_before_slowdown = 3
failures_before_lockout = 10
lockout_seconds = 900
max_delay_ms = 16000

[tls]
# Made by `bastion init` from a local CA; replace with the site's own PKI.
certificate = "tls/server.pem"
private_key = "tls/server-key.pem"
client_ca = "tls/ca.pem"

[storage]
# Objects larger than this are refused (DIMSE 0xA700) and nothing is stored.
max_object_bytes = 2147483648
# A second copy of an instance we already hold, with different bytes:
# "keep-first" keeps the first and answers with warning 0xB006 (elements discarded);
# "reject" keeps the first and answers with failure 0x0111.
on_conflict = "keep-first"
# New objects are refused (DIMSE 0xA700, STOW-RS FailureReason 0xA700) while
# the disk that holds the objects has less than this many MiB free, so that
# the catalog, the audit log and the system keep room to work; queries and
# retrievals go on. Keep the catalog and the audit log on the same file system
# as the objects (docs/operations.md, "Disk space"). 0 = no reserve.
min_free_mib = 1024

[query]
# A C-FIND answers at most this many matches, then ends with 0xA700 (out of
# resources) and an error comment asking to narrow the query. Never unlimited:
# the 2019 leaks were whole archives listed by "PatientName=*".
max_matches = 1000
# A C-MOVE or C-GET sends at most this many instances per request.
max_retrieve_instances = 50000

[log]
# trace | debug | info | warn | error. Ordinary logs never contain PHI.
level = "info"
)";
  return out.str();
}

namespace {

Status CheckKeys(const toml::table& table, std::string_view where, const std::set<std::string>& allowed) {
  for (const auto& [key, value] : table) {
    (void)value;
    if (!allowed.contains(std::string(key.str())))
      return Status(Code::kInvalidArgument, "unknown option '" + std::string(key.str()) + "' in [" +
                                                std::string(where) + "]");
  }
  return Status::Ok();
}

template <typename T>
Status ReadInt(const toml::table* t, const char* key, T& out, long long min, long long max, std::string_view where) {
  if (t == nullptr) return Status::Ok();
  const toml::node* n = t->get(key);
  if (n == nullptr) return Status::Ok();
  auto v = n->value<long long>();
  if (!v || *v < min || *v > max)
    return Status(Code::kInvalidArgument, "[" + std::string(where) + "] " + key + " must be an integer from " +
                                              std::to_string(min) + " to " + std::to_string(max));
  out = static_cast<T>(*v);
  return Status::Ok();
}

Status ReadEndpoints(const toml::table* t, const char* key, std::vector<Endpoint>& out,
                     std::string_view where = "dicom") {
  if (t == nullptr) return Status::Ok();
  const toml::node* n = t->get(key);
  if (n == nullptr) return Status::Ok();
  const std::string prefix = "[" + std::string(where) + "] ";
  const toml::array* arr = n->as_array();
  if (arr == nullptr) return Status(Code::kInvalidArgument, prefix + key + " must be a list");
  out.clear();
  for (const auto& item : *arr) {
    auto s = item.value<std::string>();
    if (!s) return Status(Code::kInvalidArgument, prefix + key + " must list strings");
    auto e = Endpoint::Parse(*s);
    if (!e.ok()) return e.status().Annotate(prefix + key);
    out.push_back(*e);
  }
  return Status::Ok();
}

Status ReadPath(const toml::table* t, const char* key, const std::filesystem::path& data_dir,
                std::filesystem::path& out, std::string_view section = "tls") {
  if (t == nullptr) return Status::Ok();
  if (const toml::node* n = t->get(key)) {
    auto s = n->value<std::string>();
    if (!s || s->empty()) return Status(Code::kInvalidArgument, "[" + std::string(section) + "] " + key + " must be a path");
    std::filesystem::path p(*s);
    out = p.is_absolute() ? p : data_dir / p;
  }
  return Status::Ok();
}

Status ReadThrottle(const toml::table* th, std::string_view where, ThrottleOptions& t) {
  if (th == nullptr) return Status::Ok();
  BASTION_RETURN_IF_ERROR(CheckKeys(*th, where,
                                    {"window_seconds", "failures_before_slowdown", "failures_before_lockout",
                                     "lockout_seconds", "max_delay_ms"}));
  BASTION_RETURN_IF_ERROR(ReadInt(th, "window_seconds", t.window_seconds, 1, 86400, where));
  BASTION_RETURN_IF_ERROR(ReadInt(th, "failures_before_slowdown", t.failures_before_slowdown, 1, 100000, where));
  BASTION_RETURN_IF_ERROR(ReadInt(th, "failures_before_lockout", t.failures_before_lockout, 1, 100000, where));
  BASTION_RETURN_IF_ERROR(ReadInt(th, "lockout_seconds", t.lockout_seconds, 1, 86400, where));
  BASTION_RETURN_IF_ERROR(ReadInt(th, "max_delay_ms", t.max_delay_ms, 0, 30000, where));
  if (t.failures_before_lockout < t.failures_before_slowdown)
    return Status(Code::kInvalidArgument,
                  "[" + std::string(where) + "] failures_before_lockout must be >= failures_before_slowdown");
  return Status::Ok();
}

}  // namespace

Result<Config> LoadConfig(const std::filesystem::path& data_dir) {
  Config c;
  c.data_dir = data_dir;
  c.dicom.tls_listen = {*Endpoint::Parse("0.0.0.0:2762")};
  c.dicom.plain_listen = {*Endpoint::Parse("127.0.0.1:11112")};
  c.web.https_listen = {*Endpoint::Parse("0.0.0.0:8443")};
  c.tls.certificate = data_dir / "tls/server.pem";
  c.tls.private_key = data_dir / "tls/server-key.pem";
  c.tls.client_ca = data_dir / "tls/ca.pem";

  toml::table root;
  try {
    root = toml::parse_file(ConfigPath(data_dir).string());
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << ConfigPath(data_dir).string() << " line " << e.source().begin.line << ": " << e.description();
    return Status(Code::kInvalidArgument, msg.str());
  }
  BASTION_RETURN_IF_ERROR(CheckKeys(root, "top level", {"dicom", "web", "tls", "storage", "query", "log"}));

  const toml::table* dicom = root["dicom"].as_table();
  if (dicom) {
    BASTION_RETURN_IF_ERROR(CheckKeys(*dicom, "dicom",
                                      {"ae_title", "tls_listen", "plain_listen", "max_associations",
                                       "max_associations_per_node", "max_pending_connections",
                                       "max_pending_per_address", "max_pdu_bytes", "acse_timeout_seconds",
                                       "dimse_timeout_seconds", "throttle"}));
    if (const toml::node* n = dicom->get("ae_title")) {
      auto s = n->value<std::string>();
      if (!s || !IsValidAeTitle(*s))
        return Status(Code::kInvalidArgument,
                      "[dicom] ae_title must be 1-16 printable characters without backslash");
      c.dicom.ae_title = std::string(Trim(*s));
    }
    BASTION_RETURN_IF_ERROR(ReadEndpoints(dicom, "tls_listen", c.dicom.tls_listen));
    BASTION_RETURN_IF_ERROR(ReadEndpoints(dicom, "plain_listen", c.dicom.plain_listen));
    BASTION_RETURN_IF_ERROR(ReadInt(dicom, "max_associations", c.dicom.max_associations, 1, 4096, "dicom"));
    BASTION_RETURN_IF_ERROR(
        ReadInt(dicom, "max_associations_per_node", c.dicom.max_associations_per_node, 1, 4096, "dicom"));
    BASTION_RETURN_IF_ERROR(
        ReadInt(dicom, "max_pending_connections", c.dicom.max_pending_connections, 1, 4096, "dicom"));
    BASTION_RETURN_IF_ERROR(
        ReadInt(dicom, "max_pending_per_address", c.dicom.max_pending_per_address, 1, 4096, "dicom"));
    BASTION_RETURN_IF_ERROR(ReadInt(dicom, "max_pdu_bytes", c.dicom.max_pdu_bytes, 4096, 131072, "dicom"));
    BASTION_RETURN_IF_ERROR(ReadInt(dicom, "acse_timeout_seconds", c.dicom.acse_timeout_seconds, 1, 3600, "dicom"));
    BASTION_RETURN_IF_ERROR(
        ReadInt(dicom, "dimse_timeout_seconds", c.dicom.dimse_timeout_seconds, 1, 86400, "dicom"));
    BASTION_RETURN_IF_ERROR(ReadThrottle(dicom->get_as<toml::table>("throttle"), "dicom.throttle", c.dicom.throttle));
  }

  if (const toml::table* web = root["web"].as_table()) {
    BASTION_RETURN_IF_ERROR(CheckKeys(
        *web, "web",
        {"https_listen", "http_listen", "max_connections", "max_connections_per_address",
         "max_header_bytes", "max_body_bytes", "max_upload_bytes", "header_timeout_seconds", "idle_timeout_seconds",
         "session_idle_seconds", "session_max_seconds", "max_sessions", "hsts_max_age", "login_throttle",
         "viewer_dir"}));
    auto& w = c.web;
    BASTION_RETURN_IF_ERROR(ReadEndpoints(web, "https_listen", w.https_listen, "web"));
    BASTION_RETURN_IF_ERROR(ReadEndpoints(web, "http_listen", w.http_listen, "web"));
    BASTION_RETURN_IF_ERROR(ReadInt(web, "max_connections", w.max_connections, 1, 65536, "web"));
    BASTION_RETURN_IF_ERROR(
        ReadInt(web, "max_connections_per_address", w.max_connections_per_address, 1, 65536, "web"));
    BASTION_RETURN_IF_ERROR(ReadInt(web, "max_header_bytes", w.max_header_bytes, 1024, 1 << 20, "web"));
    BASTION_RETURN_IF_ERROR(ReadInt(web, "max_body_bytes", w.max_body_bytes, 1024, 1LL << 30, "web"));
    BASTION_RETURN_IF_ERROR(ReadInt(web, "max_upload_bytes", w.max_upload_bytes, 1024, 1LL << 42, "web"));
    BASTION_RETURN_IF_ERROR(ReadInt(web, "header_timeout_seconds", w.header_timeout_seconds, 1, 3600, "web"));
    BASTION_RETURN_IF_ERROR(ReadInt(web, "idle_timeout_seconds", w.idle_timeout_seconds, 1, 3600, "web"));
    BASTION_RETURN_IF_ERROR(ReadInt(web, "session_idle_seconds", w.session_idle_seconds, 5, 86400, "web"));
    BASTION_RETURN_IF_ERROR(ReadInt(web, "session_max_seconds", w.session_max_seconds, 5, 7 * 86400, "web"));
    if (w.session_max_seconds < w.session_idle_seconds)
      return Status(Code::kInvalidArgument, "[web] session_max_seconds must be >= session_idle_seconds");
    BASTION_RETURN_IF_ERROR(ReadThrottle(web->get_as<toml::table>("login_throttle"), "web.login_throttle",
                                         w.login_throttle));
    BASTION_RETURN_IF_ERROR(ReadInt(web, "max_sessions", w.max_sessions, 1, 1000000, "web"));
    BASTION_RETURN_IF_ERROR(ReadInt(web, "hsts_max_age", w.hsts_max_age, 0, 2LL * 31536000, "web"));
    if (web->get("viewer_dir")) BASTION_RETURN_IF_ERROR(ReadPath(web, "viewer_dir", data_dir, w.viewer_dir, "web"));
  }

  const toml::table* tls = root["tls"].as_table();
  if (tls) {
    BASTION_RETURN_IF_ERROR(CheckKeys(*tls, "tls", {"certificate", "private_key", "client_ca"}));
    BASTION_RETURN_IF_ERROR(ReadPath(tls, "certificate", data_dir, c.tls.certificate));
    BASTION_RETURN_IF_ERROR(ReadPath(tls, "private_key", data_dir, c.tls.private_key));
    BASTION_RETURN_IF_ERROR(ReadPath(tls, "client_ca", data_dir, c.tls.client_ca));
  }

  const toml::table* storage = root["storage"].as_table();
  if (storage) {
    BASTION_RETURN_IF_ERROR(CheckKeys(*storage, "storage", {"max_object_bytes", "on_conflict", "min_free_mib"}));
    BASTION_RETURN_IF_ERROR(
        ReadInt(storage, "max_object_bytes", c.storage.max_object_bytes, 1024, 1LL << 42, "storage"));
    BASTION_RETURN_IF_ERROR(ReadInt(storage, "min_free_mib", c.storage.min_free_mib, 0, 1LL << 40, "storage"));
    if (const toml::node* n = storage->get("on_conflict")) {
      auto s = n->value<std::string>();
      if (s && *s == "keep-first") c.storage.on_conflict = ConflictPolicy::kKeepFirst;
      else if (s && *s == "reject") c.storage.on_conflict = ConflictPolicy::kReject;
      else return Status(Code::kInvalidArgument, "[storage] on_conflict must be \"keep-first\" or \"reject\"");
    }
  }

  const toml::table* query = root["query"].as_table();
  if (query) {
    BASTION_RETURN_IF_ERROR(CheckKeys(*query, "query", {"max_matches", "max_retrieve_instances"}));
    BASTION_RETURN_IF_ERROR(ReadInt(query, "max_matches", c.query.max_matches, 1, 1000000, "query"));
    BASTION_RETURN_IF_ERROR(
        ReadInt(query, "max_retrieve_instances", c.query.max_retrieve_instances, 1, 10000000, "query"));
  }

  const toml::table* log = root["log"].as_table();
  if (log) {
    BASTION_RETURN_IF_ERROR(CheckKeys(*log, "log", {"level"}));
    if (const toml::node* n = log->get("level")) {
      auto s = n->value<std::string>();
      static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
      if (!s || !kLevels.contains(*s))
        return Status(Code::kInvalidArgument, "[log] level must be trace, debug, info, warn or error");
      c.log_level = *s;
    }
  }
  return c;
}

}  // namespace bastion
