// The `bastion` subcommands. Each returns the process exit code (docs/cli.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "util/config.h"

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
  std::string allow;
};
int NodeAdd(const std::filesystem::path& data, const NodeAddOptions& options);
int NodeList(const std::filesystem::path& data, bool json);
int NodeRemove(const std::filesystem::path& data, const std::string& ae);
int NodeCert(const std::filesystem::path& data, const std::string& ae, const std::filesystem::path& out);

int Import(const std::filesystem::path& data, const std::vector<std::filesystem::path>& paths);

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

}  // namespace bastion::cli
