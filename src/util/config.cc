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

Status ReadEndpoints(const toml::table* t, const char* key, std::vector<Endpoint>& out) {
  if (t == nullptr) return Status::Ok();
  const toml::node* n = t->get(key);
  if (n == nullptr) return Status::Ok();
  const toml::array* arr = n->as_array();
  if (arr == nullptr) return Status(Code::kInvalidArgument, std::string("[dicom] ") + key + " must be a list");
  out.clear();
  for (const auto& item : *arr) {
    auto s = item.value<std::string>();
    if (!s) return Status(Code::kInvalidArgument, std::string("[dicom] ") + key + " must list strings");
    auto e = Endpoint::Parse(*s);
    if (!e.ok()) return e.status().Annotate(std::string("[dicom] ") + key);
    out.push_back(*e);
  }
  return Status::Ok();
}

Status ReadPath(const toml::table* t, const char* key, const std::filesystem::path& data_dir,
                std::filesystem::path& out) {
  if (t == nullptr) return Status::Ok();
  if (const toml::node* n = t->get(key)) {
    auto s = n->value<std::string>();
    if (!s || s->empty()) return Status(Code::kInvalidArgument, std::string("[tls] ") + key + " must be a path");
    std::filesystem::path p(*s);
    out = p.is_absolute() ? p : data_dir / p;
  }
  return Status::Ok();
}

}  // namespace

Result<Config> LoadConfig(const std::filesystem::path& data_dir) {
  Config c;
  c.data_dir = data_dir;
  c.dicom.tls_listen = {*Endpoint::Parse("0.0.0.0:2762")};
  c.dicom.plain_listen = {*Endpoint::Parse("127.0.0.1:11112")};
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
  BASTION_RETURN_IF_ERROR(CheckKeys(root, "top level", {"dicom", "tls", "storage", "query", "log"}));

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
    if (const toml::table* th = dicom->get_as<toml::table>("throttle")) {
      BASTION_RETURN_IF_ERROR(CheckKeys(*th, "dicom.throttle",
                                        {"window_seconds", "failures_before_slowdown", "failures_before_lockout",
                                         "lockout_seconds", "max_delay_ms"}));
      auto& t = c.dicom.throttle;
      BASTION_RETURN_IF_ERROR(ReadInt(th, "window_seconds", t.window_seconds, 1, 86400, "dicom.throttle"));
      BASTION_RETURN_IF_ERROR(
          ReadInt(th, "failures_before_slowdown", t.failures_before_slowdown, 1, 100000, "dicom.throttle"));
      BASTION_RETURN_IF_ERROR(
          ReadInt(th, "failures_before_lockout", t.failures_before_lockout, 1, 100000, "dicom.throttle"));
      BASTION_RETURN_IF_ERROR(ReadInt(th, "lockout_seconds", t.lockout_seconds, 1, 86400, "dicom.throttle"));
      BASTION_RETURN_IF_ERROR(ReadInt(th, "max_delay_ms", t.max_delay_ms, 0, 30000, "dicom.throttle"));
      if (t.failures_before_lockout < t.failures_before_slowdown)
        return Status(Code::kInvalidArgument,
                      "[dicom.throttle] failures_before_lockout must be >= failures_before_slowdown");
    }
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
    BASTION_RETURN_IF_ERROR(CheckKeys(*storage, "storage", {"max_object_bytes", "on_conflict"}));
    BASTION_RETURN_IF_ERROR(
        ReadInt(storage, "max_object_bytes", c.storage.max_object_bytes, 1024, 1LL << 42, "storage"));
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
