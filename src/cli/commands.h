// The `bastion` subcommands. Each returns the process exit code (docs/cli.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "util/config.h"
#include "util/net.h"
#include "util/status.h"

namespace bastion::cli {

enum Exit : int {
  kExitOk = 0,
  kExitFailed = 1,
  kExitUsage = 2,
  kExitInsecureConfig = 3,
  kExitPartial = 4,
  kExitAuditBroken = 5,
};

int Init(const std::filesystem::path& data, const InitOptions& options);
int Serve(const std::filesystem::path& data);

struct NodeAddOptions {
  std::string ae;
  std::string hosts;
  std::uint16_t port = 0;
  std::string tls_cert_sha256;
  bool tls_only = false;
  bool require_user = false;
  std::string allow;
};
int NodeAdd(const std::filesystem::path& data, const NodeAddOptions& options);
int NodeList(const std::filesystem::path& data, bool json);
int NodeRemove(const std::filesystem::path& data, const std::string& ae);
int NodeCert(const std::filesystem::path& data, const std::string& ae, const std::filesystem::path& out);

// C-STORE of stored studies to a registered node that may receive.
int Send(const std::filesystem::path& data, const std::string& to, const std::vector<std::string>& study_uids);

struct QueryOptions {
  std::string remote;
  std::string level = "STUDY";
  std::string model = "study";
  std::vector<std::string> keys;  // Keyword=value (empty value: return key)
  std::size_t max_results = 1000;
  bool json = false;
};
// C-FIND on a registered node.
int Query(const std::filesystem::path& data, const QueryOptions& options);

// People and API tokens (user_token.cc).
struct UserAddOptions {
  std::string name;
  std::string role;
  bool password_stdin = false;
};
int UserAdd(const std::filesystem::path& data, const UserAddOptions& options);
int UserList(const std::filesystem::path& data, bool json);
int UserSetDisabled(const std::filesystem::path& data, const std::string& name, bool disabled);
int UserPasswd(const std::filesystem::path& data, const std::string& name, bool password_stdin);
int UserRole(const std::filesystem::path& data, const std::string& name, const std::string& role);
// Turns on (or re-keys) the user's TOTP second factor and prints the secret and
// its otpauth:// URI once on stdout; with `disable`, removes it.
int UserTotp(const std::filesystem::path& data, const std::string& name, bool disable);
struct TokenCreateOptions {
  std::string user;
  std::string expires;
  std::string note;
};
int TokenCreate(const std::filesystem::path& data, const TokenCreateOptions& options);
int TokenList(const std::filesystem::path& data, bool json);
int TokenRevoke(const std::filesystem::path& data, const std::string& id);
// For init: the first administrator, "admin", with a generated password (returned, to print once).
Result<std::string> CreateFirstAdmin(const std::filesystem::path& data);

int Import(const std::filesystem::path& data, const std::vector<std::filesystem::path>& paths);

// The server's certificate (tls_cmd.cc).
struct ServerNames {
  std::vector<std::string> ip_addresses, dns_names;
};
// What `init` puts in the server certificate's subjectAltNames: loopback,
// localhost and this host's name, and each listen address that is neither
// loopback nor a wildcard.
ServerNames DefaultServerNames(const std::vector<IpAddress>& listen_addresses);
int TlsShow(const std::filesystem::path& data, bool json);
struct TlsRenewOptions {
  int days = 825;
  std::vector<std::string> add_hosts;  // more subjectAltNames: IP addresses or DNS names
  bool new_key = false;
};
int TlsRenew(const std::filesystem::path& data, const TlsRenewOptions& options);
// Checks the [tls] files as `serve` will use them. Starting, a problem is
// printed and refuses the start (kExitInsecureConfig); running, it is logged.
// Warns of a certificate that expires within 30 days, saying how to renew it.
int CheckCertificates(const std::filesystem::path& data, const Config& config, bool starting);

// `bastion scan`: exits with the worst severity found (docs/scan.md), not the codes above.
struct ScanArgs {
  std::vector<std::string> targets, web, compare;
  std::string ports, ae, known_ae, canary, format = "text", out, data, ca, move_ae = "BASTIONSCAN";
  std::string tls_cert, tls_key;
  bool allow_write = false, self = false;
  int max_hosts = 256, timeout = 10;
  double rate = 10.0;
  std::uint16_t move_port = 0;
};
int Scan(const ScanArgs& args);
int AuditVerify(const std::filesystem::path& data);
// Prints the web route table: method, path, access (public / signed-in / a permission).
int WebRoutes(bool json);

}  // namespace bastion::cli
