// The registry of DICOM nodes (modalities, workstations, other PACS) allowed
// to associate: DIR/nodes.json. Format: docs/security.md.
#pragma once

#include <cstdint>
#include <functional>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "security/principal.h"
#include "security/store_file.h"
#include "util/net.h"
#include "util/status.h"

namespace bastion::security {

struct Node {
  std::string ae_title;
  std::vector<IpRange> hosts;       // addresses/ranges it may connect from
  std::uint16_t port = 0;           // where it listens (C-MOVE destination); 0 = unknown
  std::string tls_cert_sha256;      // pinned client certificate (lower-case hex), or empty
  bool tls_only = false;            // refused on the plain port (always true when pinned)
  // Associations must carry a person's identity (PS3.7 D.3.3.7): user name +
  // password (TLS only) or an API token; what they may do is then the node's
  // permissions limited by that person's role. For shared reading workstations.
  bool require_user_identity = false;
  PermissionSet permissions;
};

// Validates one node's fields (AE title syntax, at least one host, a
// well-formed fingerprint, at least one permission).
Status ValidateNode(const Node& node);

// Accepts "AB:CD:..." or "abcd..." (SHA-256, 64 hex digits); returns lower-case hex.
std::optional<std::string> NormalizeFingerprint(std::string_view text);

Result<std::vector<Node>> LoadNodes(const std::filesystem::path& file);
// Writes atomically; callers hold NodeFileLock across read-modify-write.
Status SaveNodes(const std::filesystem::path& file, const std::vector<Node>& nodes);
std::filesystem::path NodesPath(const std::filesystem::path& data_dir);
std::filesystem::path NodesLockPath(const std::filesystem::path& data_dir);

// The registry as the server sees it: reloaded when the file changes (checked
// on every lookup) or when Reload() is called (SIGHUP). Thread-safe.
class NodeDirectory {
 public:
  // `accept` vets a newly read registry (the server passes its self-check, so
  // a hand-edited registry that would expose PHI is not applied).
  using Validator = std::function<Status(const std::vector<Node>&)>;
  explicit NodeDirectory(std::filesystem::path file) : file_(std::move(file)) {}
  // Applies to every later reload. Call before the server starts (not thread-safe against lookups).
  void SetValidator(Validator accept) { accept_ = std::move(accept); }
  // Loads now; fails if the file is unreadable, invalid or refused by the validator.
  Status Reload();
  // The current registry. If the file changed and no longer parses, the last
  // good registry stays in force (and the error is logged).
  std::vector<Node> Snapshot();
  std::optional<Node> Find(std::string_view ae_title);

 private:
  void MaybeReload();

  const std::filesystem::path file_;
  Validator accept_;
  std::mutex mu_;
  std::vector<Node> nodes_;  // guarded by mu_
  FileIdentity loaded_;      // guarded by mu_
  FileIdentity refused_;     // last version that failed to load; guarded by mu_
};

}  // namespace bastion::security
