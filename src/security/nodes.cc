#include "security/nodes.h"

#include <nlohmann/json.hpp>

#include <chrono>

#include "util/crypto.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/text.h"

namespace bastion::security {

std::filesystem::path NodesPath(const std::filesystem::path& data_dir) { return data_dir / "nodes.json"; }
std::filesystem::path NodesLockPath(const std::filesystem::path& data_dir) { return data_dir / ".nodes.lock"; }

std::optional<std::string> NormalizeFingerprint(std::string_view text) {
  std::string hex;
  for (char c : text) {
    if (c == ':') continue;
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    hex.push_back(c);
  }
  if (!IsLowerHex(hex, 64)) return std::nullopt;
  return hex;
}

Status ValidateNode(const Node& n) {
  if (!IsValidAeTitle(n.ae_title))
    return Status(Code::kInvalidArgument, "AE title must be 1-16 printable characters without backslash");
  if (n.hosts.empty()) return Status(Code::kInvalidArgument, "a node needs at least one --host address");
  if (!n.tls_cert_sha256.empty() && !IsLowerHex(n.tls_cert_sha256, 64))
    return Status(Code::kInvalidArgument, "--tls-cert-sha256 must be a SHA-256 fingerprint (64 hex digits)");
  if (n.permissions.empty())
    return Status(Code::kInvalidArgument, "--allow must name at least one of echo,store,find,move,get");
  return Status::Ok();
}

Result<std::vector<Node>> LoadNodes(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::vector<Node>{};
  BASTION_ASSIGN_OR_RETURN(std::string text, ReadFile(file, 16 << 20));
  std::vector<Node> out;
  try {
    auto doc = nlohmann::json::parse(text);
    if (doc.at("version").get<int>() != 1) return Status(Code::kUnsupported, file.string() + ": unknown version");
    for (const auto& j : doc.at("nodes")) {
      Node n;
      n.ae_title = j.at("ae_title").get<std::string>();
      for (const auto& h : j.at("hosts")) {
        auto r = IpRange::Parse(h.get<std::string>());
        if (!r) return Status(Code::kInvalidArgument, file.string() + ": bad host " + h.get<std::string>());
        n.hosts.push_back(*r);
      }
      n.port = j.value("port", std::uint16_t{0});
      n.tls_cert_sha256 = j.value("tls_cert_sha256", std::string());
      n.tls_only = j.value("tls_only", false) || !n.tls_cert_sha256.empty();
      n.require_user_identity = j.value("require_user_identity", false);
      std::string bad;
      std::string allow;
      for (const auto& p : j.at("allow")) allow += p.get<std::string>() + ",";
      auto perms = PermissionSet::Parse(allow, &bad);
      if (!perms) return Status(Code::kInvalidArgument, file.string() + ": unknown permission " + bad);
      n.permissions = *perms;
      Status s = ValidateNode(n);
      if (!s.ok()) return s.Annotate(file.string() + ": node " + n.ae_title);
      out.push_back(std::move(n));
    }
  } catch (const nlohmann::json::exception& e) {
    return Status(Code::kInvalidArgument, file.string() + ": " + e.what());
  }
  return out;
}

Status SaveNodes(const std::filesystem::path& file, const std::vector<Node>& nodes) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& n : nodes) {
    nlohmann::json hosts = nlohmann::json::array();
    for (const auto& h : n.hosts) hosts.push_back(h.ToString());
    list.push_back({{"ae_title", n.ae_title},
                    {"hosts", hosts},
                    {"port", n.port},
                    {"tls_cert_sha256", n.tls_cert_sha256},
                    {"tls_only", n.tls_only},
                    {"require_user_identity", n.require_user_identity},
                    {"allow", n.permissions.Names()}});
  }
  nlohmann::json doc = {{"version", 1}, {"nodes", list}};
  return WriteFileAtomic(file, doc.dump(2) + "\n", 0640);
}

Status NodeDirectory::Reload() {
  FileIdentity identity = FileIdentity::Of(file_);
  BASTION_ASSIGN_OR_RETURN(auto nodes, LoadNodes(file_));
  if (accept_) BASTION_RETURN_IF_ERROR(accept_(nodes));
  std::lock_guard lock(mu_);
  nodes_ = std::move(nodes);
  loaded_ = identity;
  return Status::Ok();
}

void NodeDirectory::MaybeReload() {
  // A stat per association: cheap, and a registry change applies to the very next one.
  FileIdentity current = FileIdentity::Of(file_);
  {
    std::lock_guard lock(mu_);
    if (current == loaded_ || current == refused_) return;
  }
  Status s = Reload();
  std::lock_guard lock(mu_);
  if (s.ok()) {
    spdlog::info("node registry reloaded ({} nodes)", nodes_.size());
  } else {
    refused_ = current;  // said once, not on every association
    spdlog::error("node registry not reloaded, keeping the previous one: {}", s.ToString());
  }
}

std::vector<Node> NodeDirectory::Snapshot() {
  MaybeReload();
  std::lock_guard lock(mu_);
  return nodes_;
}

std::optional<Node> NodeDirectory::Find(std::string_view ae_title) {
  MaybeReload();
  std::lock_guard lock(mu_);
  for (const auto& n : nodes_)
    if (n.ae_title == ae_title) return n;
  return std::nullopt;
}

}  // namespace bastion::security
