#include "security/association_policy.h"

#include <algorithm>

namespace bastion::security {

std::string CertificateMismatch(std::string_view ae_title, std::string_view pinned_sha256, std::string_view peer_cn,
                                std::string_view peer_sha256) {
  if (!pinned_sha256.empty())
    return pinned_sha256 == peer_sha256 ? "" : "certificate does not match the node's pinned fingerprint";
  // Without a pin, the certificate must at least have been issued to this AE title.
  return peer_cn == ae_title ? "" : "certificate was issued to another name (CN) than the AE title";
}

AssociationDecision DecideAssociation(const AssociationRequest& req, std::string_view our_ae,
                                      const std::vector<Node>& nodes) {
  AssociationDecision d;
  if (req.called_ae != our_ae) {
    d.reason = RejectReason::kCalledAeNotRecognized;
    d.why = "called AE title is not ours";
    return d;
  }
  const Node* node = nullptr;
  for (const auto& n : nodes)
    if (n.ae_title == req.calling_ae) node = &n;
  d.reason = RejectReason::kCallingAeNotRecognized;
  if (node == nullptr) {
    d.why = "calling AE title is not a registered node";
    return d;
  }
  bool address_ok = std::any_of(node->hosts.begin(), node->hosts.end(),
                                [&](const IpRange& r) { return r.Contains(req.peer); });
  if (!address_ok) {
    d.why = "peer address is not one of the node's registered addresses";
    return d;
  }
  if (req.transport == Transport::kPlain && (node->tls_only || !node->tls_cert_sha256.empty())) {
    d.why = "node is registered as TLS-only but connected to the plain port";
    return d;
  }
  if (req.transport == Transport::kTls) {
    d.why = CertificateMismatch(node->ae_title, node->tls_cert_sha256, req.peer_cert_cn, req.peer_cert_sha256);
    if (!d.why.empty()) {
      d.why = "client " + d.why;
      return d;
    }
  }
  d.accept = true;
  d.reason = RejectReason::kNone;
  d.why = "registered node";
  d.node = *node;
  return d;
}

AssociationThrottle::AssociationThrottle(ThrottleOptions options, Clock clock)
    : options_(options), clock_(std::move(clock)) {}

void AssociationThrottle::Prune(Entry& e, std::chrono::steady_clock::time_point now) const {
  auto window = std::chrono::seconds(options_.window_seconds);
  std::erase_if(e.failures, [&](auto t) { return now - t > window; });
}

AssociationThrottle::Verdict AssociationThrottle::Check(const IpAddress& address) {
  auto now = clock_();
  std::lock_guard lock(mu_);
  auto it = entries_.find(address.ToString());
  if (it == entries_.end()) return {};
  Entry& e = it->second;
  if (now < e.locked_until) return Verdict{true, {}};
  Prune(e, now);
  if (e.failures.empty() && now >= e.locked_until) entries_.erase(it);
  return {};
}

std::chrono::milliseconds AssociationThrottle::RecordFailure(const IpAddress& address) {
  auto now = clock_();
  std::lock_guard lock(mu_);
  if (entries_.size() >= kMaxTrackedAddresses) {
    // Bounded memory under a flood of addresses: forget the ones with nothing
    // left in the window, but never an active lockout.
    for (auto it = entries_.begin(); it != entries_.end();) {
      Prune(it->second, now);
      if (it->second.failures.empty() && now >= it->second.locked_until) it = entries_.erase(it);
      else ++it;
    }
    if (entries_.size() >= kMaxTrackedAddresses && !entries_.contains(address.ToString()))
      return std::chrono::milliseconds(options_.max_delay_ms);  // cannot track: treat as a guesser
  }
  Entry& e = entries_[address.ToString()];
  Prune(e, now);
  e.failures.push_back(now);
  int n = static_cast<int>(e.failures.size());
  if (n >= options_.failures_before_lockout) {
    e.locked_until = now + std::chrono::seconds(options_.lockout_seconds);
    e.failures.clear();
  }
  if (n <= options_.failures_before_slowdown) return std::chrono::milliseconds(0);
  // Doubles with each failure past the threshold, up to the cap.
  int over = std::min(n - options_.failures_before_slowdown, 16);
  long long delay = 100LL << (over - 1);
  return std::chrono::milliseconds(std::min<long long>(delay, options_.max_delay_ms));
}

Status SelfCheck(const Config& config, const std::vector<Node>& nodes) {
  for (const auto& ep : config.dicom.plain_listen) {
    if (ep.address.IsLoopback()) continue;
    // Plain DICOM reachable from the network: only for legacy nodes registered
    // by exact address, so that nobody else can even be mistaken for one.
    std::vector<std::string> broad;
    int plain_nodes = 0;
    for (const auto& n : nodes) {
      if (n.tls_only) continue;
      ++plain_nodes;
      for (const auto& h : n.hosts)
        if (!h.IsSingleAddress()) broad.push_back(n.ae_title + " (" + h.ToString() + ")");
    }
    if (!broad.empty()) {
      std::string list;
      for (const auto& b : broad) list += (list.empty() ? "" : ", ") + b;
      return Status(Code::kInsecureConfig,
                    "plain (unencrypted) DICOM is configured on " + ep.ToString() +
                        ", which is not loopback, but these nodes may use it from address ranges: " + list +
                        ". Register each legacy node by its exact address (bastion node add --host ADDR), "
                        "mark range-registered nodes --tls-only, or set [dicom] plain_listen = "
                        "[\"127.0.0.1:11112\"] in bastion.toml.");
    }
    if (plain_nodes == 0)
      return Status(Code::kInsecureConfig,
                    "plain (unencrypted) DICOM is configured on " + ep.ToString() +
                        ", which is not loopback, but no registered node may use it. Register the legacy "
                        "nodes that need it by exact address (bastion node add --host ADDR), or set [dicom] "
                        "plain_listen = [\"127.0.0.1:11112\"] in bastion.toml.");
  }
  for (const auto& ep : config.web.http_listen) {
    if (ep.address.IsLoopback()) continue;
    // Plain HTTP off loopback would carry passwords, session cookies and
    // images in the clear (DESIGN: "HTTPS-only off loopback").
    return Status(Code::kInsecureConfig,
                  "plain HTTP is configured on " + ep.ToString() +
                      ", which is not loopback: logins, session cookies and images would cross the network "
                      "unencrypted. Use [web] https_listen for the network, and keep http_listen on 127.0.0.1 or "
                      "::1 (for a reverse proxy on this machine) or empty.");
  }
  if (config.dicom.tls_listen.empty() && config.dicom.plain_listen.empty())
    return Status(Code::kInsecureConfig, "no DICOM listener is configured ([dicom] tls_listen and plain_listen)");
  return Status::Ok();
}

}  // namespace bastion::security
