// The exposure scanner (`bastion scan`): finds the open doors of any PACS,
// ours or another vendor's, the way the public studies of 2016-2025 found
// them (../shared/SCANNER.md, docs/scan.md).
//
// Layering: scan/ uses dicom/, util/ and DCMTK's SCU side only. It never
// touches the archive, the index, the blobs or security/: the CLI reads
// Bastion's own configuration and passes plain data in (SelfState).
//
// PHI: the scanner never keeps or prints a value it received. A C-FIND
// answer becomes a count and the names of the attributes that were filled; a
// retrieve becomes a count of instances (their bytes are discarded as they
// arrive). Reports are safe to e-mail.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace bastion::scan {

enum class Severity { kInfo = 0, kLow = 1, kMedium = 2, kHigh = 3, kCritical = 4 };
std::string_view SeverityName(Severity s);  // "info", "low", "medium", "high", "critical"

// Process exit status of `bastion scan`: the worst severity found, so a
// scheduled job can alarm on it. Chosen not to clash with the other
// commands' 0-5 (docs/cli.md).
inline constexpr int kExitClean = 0;      // nothing above info
inline constexpr int kExitScanError = 1;  // the scan itself failed (and found nothing above info)
inline constexpr int kExitUsage = 2;
inline constexpr int kExitLow = 10;
inline constexpr int kExitMedium = 11;
inline constexpr int kExitHigh = 12;
inline constexpr int kExitCritical = 13;
int ExitCodeForSeverity(Severity worst);

// What a product calls itself on the wire, recognised from the A-ASSOCIATE-AC
// (implementation class UID / version name) or from HTTP answers.
struct Software {
  std::string product;   // "DCMTK", "Orthanc", "dcm4chee", "Bastion"; empty when unknown
  std::string version;   // "3.6.7"; empty when unknown
  std::string evidence;  // e.g. "implementation version name OFFIS_DCMTK_367"
  bool known() const { return !product.empty(); }
  std::string ToString() const;
};

struct Finding {
  std::string id;     // check id: D1..D15, W1..W7, S1.. (self-check)
  std::string check;  // the check's name ("calling AE not enforced")
  Severity severity = Severity::kInfo;
  std::string target;    // "127.0.0.1:4242", "http://host:8042", "self"
  std::string title;     // one line: what was found
  std::string sent;      // what the scanner sent
  std::string received;  // what came back (rejects parsed, statuses decoded); never a PHI value
  std::string why;       // why it matters
  std::string hipaa;     // the 45 CFR 164.312 safeguard it touches
  std::string fix;       // how to fix it; specific to the recognised software when possible
  std::vector<std::string> cves;
};

// One endpoint the scanner talked to, and what it learned (no PHI).
struct Service {
  std::string endpoint;  // "127.0.0.1:4242" or a URL
  std::string protocol;  // "dicom", "dicom-tls", "tls", "http", "https", "closed", "unknown"
  Software software;
  std::string called_ae;                       // the called AE title that worked, if any
  std::vector<std::string> accepted_services;  // capability map (D6), e.g. "Study Root FIND"
  std::map<std::string, std::string> details;  // TLS version, cipher, certificate expiry, ...
};

struct Report {
  std::string tool = "bastion scan 0.1.0";
  std::string started, finished;  // RFC 3339 UTC
  std::vector<std::string> targets;
  std::vector<std::uint16_t> ports;
  std::vector<std::string> web;
  bool allow_write = false;
  int connections = 0;  // TCP connections opened
  std::vector<Service> services;
  std::vector<Finding> findings;  // sorted: worst first, then id, then target
  std::vector<std::string> errors;

  Severity Worst() const;
  int ExitCode() const;
  void Sort();
};

// ---------------------------------------------------------------- targets

inline constexpr int kDefaultMaxAddresses = 256;  // a /24: a site's own subnet
inline constexpr int kHardMaxAddresses = 4096;    // a /20; more is not "your own server"

struct Host {
  std::string name;     // as given (host name or address)
  std::string address;  // numeric
};

// Expands "host", "a.b.c.d", "v6addr", "a.b.c.d/n" into addresses. A range
// larger than max_addresses is refused (the scanner scans what it is given,
// not the internet). Network and broadcast addresses of IPv4 ranges are
// skipped. Host names are resolved (first address).
Result<std::vector<Host>> ExpandTargets(const std::vector<std::string>& specs, int max_addresses);

inline const std::vector<std::uint16_t> kDefaultPorts = {104, 11112, 4242, 2761, 2762};
// "104,11112" or "100-110,4242": at most 64 ports.
Result<std::vector<std::uint16_t>> ParsePorts(std::string_view text);

// ---------------------------------------------------------------- options

struct Options {
  std::vector<std::string> targets;
  std::vector<std::uint16_t> ports = kDefaultPorts;
  std::vector<std::string> web;  // base URLs for W1-W7
  std::string called_ae;         // --ae: the server's AE title if the operator knows it
  std::string known_ae;          // --known-ae: a calling AE the server has registered
  std::string known_ae_host;     // the address that AE is registered for (for D4)
  std::string canary_study;      // --canary: a study the operator placed for the retrieve proof
  bool allow_write = false;      // C-STORE / STOW of a synthetic instance
  int max_addresses = kDefaultMaxAddresses;
  double rate = 10.0;  // connection attempts per second at most (one connection at a time, always)
  int connect_timeout_seconds = 5;
  int acse_timeout_seconds = 10;
  int dimse_timeout_seconds = 30;
  int retries = 1;                      // extra attempts after a connect timeout
  std::string move_ae = "BASTIONSCAN";  // our own SCP's AE title for the C-MOVE proof
  std::uint16_t move_port = 0;          // its port (0: any free port)
  int max_find_results = 1000;          // stop counting (C-CANCEL) after this many answers
  std::string ca_file;  // trust anchors for certificate checks (else: report untrusted as info)
  // A client certificate and key (PEM) to present on DICOM TLS ports that
  // require one, e.g. a registered node's: the checks then run behind the
  // handshake (the TLS checks themselves never send it).
  std::string tls_certificate, tls_private_key;
  std::string web_user, web_password;  // operator-supplied credentials for authenticated web checks
};

// ---------------------------------------------------------------- self scan

// Bastion's own configuration as plain data (read by the CLI).
struct SelfListener {
  std::string endpoint;  // "0.0.0.0:2762"
  bool tls = false;
};
struct SelfNode {
  std::string ae_title;
  std::vector<std::string> hosts;  // "10.0.0.0/8", ...
  std::vector<std::string> allow;  // "echo", "store", "find", "move", "get"
  bool tls_only = false;
  bool pinned = false;
  bool listens = false;  // a port is registered: Bastion connects to it (C-MOVE, commitment reports)
};
struct SelfCertificate {
  std::string what;  // "server certificate", "local CA"
  std::string path;
  std::int64_t not_after = 0;  // seconds since the epoch
  std::string error;           // unreadable
  bool client_auth = true;     // its extended key usage allows a TLS client
};
// The web front end's settings ([web] of bastion.toml); the defaults are
// `bastion init`'s.
struct SelfWeb {
  std::vector<std::string> https_listen = {"0.0.0.0:8443"};  // [] : the web front end is off
  std::vector<std::string> http_listen;                      // plain HTTP, for a local proxy
  std::int64_t session_idle_seconds = 900;                   // automatic logoff
  std::int64_t session_max_seconds = 43200;                  // absolute session lifetime
  std::int64_t hsts_max_age = 31536000;                      // 0: no Strict-Transport-Security
};
struct SelfState {
  std::string data_dir;
  std::string ae_title;
  std::vector<SelfListener> listeners;  // DICOM
  SelfWeb web;
  std::vector<SelfNode> nodes;
  std::vector<SelfCertificate> certificates;
  std::int64_t now = 0;  // seconds since the epoch
};

// Checks Bastion's configuration from the inside (S1-S5, docs/scan.md).
std::vector<Finding> CheckSelf(const SelfState& state);

// ---------------------------------------------------------------- running

// Runs every check against the targets and web URLs. Never fails as a
// whole: problems with one target are recorded in Report::errors.
Report Run(const Options& options);

// Two JSON reports (bastion-scan/1) side by side, e.g. the same site from
// inside and from outside its network: one row per check and port with the
// worst severity on each side (rows that are info on both are left out).
// *exit_code gets the worst severity of either report.
Result<std::string> Compare(const std::string& first_json, const std::string& second_json,
                            const std::string& first_name, const std::string& second_name,
                            bool as_json, int* exit_code);

enum class Format { kText, kJson, kHtml, kSarif };
std::optional<Format> ParseFormat(std::string_view name);
std::string Render(const Report& report, Format format);

}  // namespace bastion::scan
