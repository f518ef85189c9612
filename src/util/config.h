// Bastion's configuration: DIR/bastion.toml. Every default is the safe one,
// and says why in the file `bastion init` writes (RenderConfig).
//
// Loading checks syntax and ranges only. Whether a valid configuration is
// also a safe one (nothing exposes PHI) is decided by security::SelfCheck,
// which also needs the node registry.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "util/net.h"
#include "util/status.h"

namespace bastion {

enum class ConflictPolicy {
  kKeepFirst,  // keep the copy already held, answer with a warning status
  kReject,     // keep the copy already held, answer with a failure status
};

struct ThrottleOptions {
  int window_seconds = 60;            // failures are counted over this window, per address
  int failures_before_slowdown = 5;   // after this many, each rejection is delayed
  int failures_before_lockout = 20;   // after this many, connections are closed at once
  int lockout_seconds = 300;          // for this long
  int max_delay_ms = 2000;            // the delay grows to at most this
};

struct DicomOptions {
  std::string ae_title = "BASTION";
  std::vector<Endpoint> tls_listen;    // default 0.0.0.0:2762 (TLS, client certificates required)
  std::vector<Endpoint> plain_listen;  // default 127.0.0.1:11112 (loopback only)
  int max_associations = 64;           // in total; more are refused at once
  int max_associations_per_node = 8;   // per calling AE title
  // Connections not yet admitted (TLS handshake, A-ASSOCIATE-RQ) have their
  // own, smaller pool, so unauthenticated peers cannot take association slots.
  int max_pending_connections = 32;    // in total
  int max_pending_per_address = 8;     // per peer address
  std::uint32_t max_pdu_bytes = 131072;
  int acse_timeout_seconds = 30;       // association negotiation and release
  int dimse_timeout_seconds = 120;     // idle time between messages before we abort
  ThrottleOptions throttle;
};

struct TlsOptions {
  std::filesystem::path certificate;  // relative paths are relative to the data directory
  std::filesystem::path private_key;
  std::filesystem::path client_ca;    // peers' certificates must chain to this
};

struct StorageOptions {
  std::uint64_t max_object_bytes = 2ull << 30;  // 2 GiB
  ConflictPolicy on_conflict = ConflictPolicy::kKeepFirst;
  // New objects are refused (0xA700) while the blob store's file
  // system has less than this free, so that the catalog, the audit log and
  // the system keep room to work. 0 turns the reserve off.
  std::uint64_t min_free_mib = 1024;
};

struct QueryOptions {
  // A C-FIND (or QIDO) answers at most this many matches; past it the query
  // ends with "out of resources" (0xA700) and the requester must narrow it.
  // Finite so that "PatientName=*" can never stream a whole archive.
  int max_matches = 1000;
  // A C-MOVE/C-GET sends at most this many instances in one request.
  int max_retrieve_instances = 50000;
};

// The HTTPS front end: DICOMweb, the web UI, the viewer.
struct WebOptions {
  std::vector<Endpoint> https_listen;  // default 0.0.0.0:8443; [] disables the web front end
  // Plain HTTP: loopback only (SelfCheck refuses anything else), off by default.
  std::vector<Endpoint> http_listen;
  int max_connections = 256;              // in total (one thread each); more wait in the kernel's backlog
  int max_connections_per_address = 32;   // per peer address
  std::uint32_t max_header_bytes = 16384; // request line + headers
  std::uint64_t max_body_bytes = 1ull << 20;         // ordinary requests (login, JSON)
  std::uint64_t max_upload_bytes = 4ull << 30;       // STOW-RS bodies, streamed to disk
  int header_timeout_seconds = 20;        // from connection (or last response) to a complete header
  int idle_timeout_seconds = 60;          // no byte moving in either direction
  int session_idle_seconds = 900;         // HIPAA automatic logoff: 15 minutes
  int session_max_seconds = 43200;        // absolute session lifetime: 12 hours
  int max_sessions = 10000;
  std::int64_t hsts_max_age = 31536000;   // one year
  // The OHIF viewer's files, prepared for /viewer/ by scripts/install-viewer.sh;
  // empty: the directory that script fills beside the source (kDefaultViewerDir).
  std::filesystem::path viewer_dir;
  // Failed logins, per account and per address: slower, then locked.
  ThrottleOptions login_throttle{.window_seconds = 900,
                                 .failures_before_slowdown = 3,
                                 .failures_before_lockout = 10,
                                 .lockout_seconds = 900,
                                 .max_delay_ms = 16000};
};

struct Config {
  std::filesystem::path data_dir;
  DicomOptions dicom;
  WebOptions web;
  TlsOptions tls;
  StorageOptions storage;
  QueryOptions query;
  std::string log_level = "info";
};

struct InitOptions {
  std::string ae_title = "BASTION";
  std::string tls_bind = "0.0.0.0";
  std::uint16_t tls_port = 2762;
  std::string plain_bind = "127.0.0.1";
  std::uint16_t plain_port = 11112;
  std::string https_bind = "0.0.0.0";
  std::uint16_t https_port = 8443;
};

// The text of a new bastion.toml, every option present and commented.
std::string RenderConfig(const InitOptions& options);

// Reads DIR/bastion.toml. Unknown keys are errors (a typo must not silently
// leave a default in place).
Result<Config> LoadConfig(const std::filesystem::path& data_dir);

std::filesystem::path ConfigPath(const std::filesystem::path& data_dir);

}  // namespace bastion
