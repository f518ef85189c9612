// Who may open a DICOM association: the decision, separate from the network.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "security/nodes.h"
#include "util/config.h"
#include "util/net.h"

namespace bastion::security {

enum class Transport { kPlain, kTls };

struct AssociationRequest {
  std::string called_ae, calling_ae;  // trimmed
  IpAddress peer;
  Transport transport = Transport::kPlain;
  std::string peer_cert_sha256;  // TLS only: SHA-256 of the verified client certificate's DER
  std::string peer_cert_cn;      // TLS only: its subject common name
  std::int64_t peer_cert_not_after = 0;  // TLS only: the end of its validity (seconds since the epoch)
  // User Identity Negotiation (PS3.7 D.3.3.7), when the requester sent one.
  struct Identity {
    int type = 0;           // 1 user, 2 user + passcode, 3 Kerberos, 4 SAML, 5 JWT
    std::string primary;    // user name, or the token
    std::string secondary;  // passcode (type 2)
    bool response_requested = false;
  };
  std::optional<Identity> identity;
};

// A-ASSOCIATE-RJ reasons we use (PS3.8 9.3.4, Table 9-21), with source
// "DICOM UL service-user" and result "rejected-permanent".
enum class RejectReason {
  kNone,
  kCalledAeNotRecognized,   // reason 7
  kCallingAeNotRecognized,  // reason 3: unknown AE, or known AE from the wrong address / certificate / port
                            // (over TLS the certificate must be the pinned one or, without a pin,
                            // one whose subject CN is the calling AE title: a certificate
                            // identifies one node, not any node)
  kIdentityRejected,        // reason 1 (no reason given): the user identity is missing or wrong (PS3.7 D.3.3.7)
};

struct AssociationDecision {
  bool accept = false;
  RejectReason reason = RejectReason::kNone;
  // For the audit record and the server log: why, without PHI.
  std::string why;
  std::optional<Node> node;  // the matched node when accepted
};

// Whether a TLS peer's certificate is the node's own: every certificate the
// CA issued passes the handshake, so this says whose it is. The pinned
// fingerprint if the node has one, otherwise a certificate issued to its AE
// title (subject CN). Both directions: a node connecting to us, and a node we
// connect to (C-MOVE destination, `bastion send`, `bastion query`). Empty if
// it is the node's; otherwise why not.
std::string CertificateMismatch(std::string_view ae_title, std::string_view pinned_sha256, std::string_view peer_cn,
                                std::string_view peer_sha256);

// Pure function of the request, our AE title and the registry.
AssociationDecision DecideAssociation(const AssociationRequest& request, std::string_view our_ae,
                                      const std::vector<Node>& nodes);

// Slows and then refuses addresses that keep failing association checks
// (AE-title guessing). Thread-safe. The clock is injectable for tests.
class AssociationThrottle {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit AssociationThrottle(ThrottleOptions options, Clock clock = std::chrono::steady_clock::now);

  struct Verdict {
    bool refuse = false;                 // locked out: close without an answer
    std::chrono::milliseconds delay{0};  // wait this long before answering a rejection
  };
  // Before handling a connection from `address`.
  Verdict Check(const IpAddress& address);
  // After a rejected association from `address`; returns the delay to apply before answering.
  std::chrono::milliseconds RecordFailure(const IpAddress& address);

 private:
  struct Entry {
    std::vector<std::chrono::steady_clock::time_point> failures;
    std::chrono::steady_clock::time_point locked_until{};
  };
  void Prune(Entry& e, std::chrono::steady_clock::time_point now) const;
  static constexpr std::size_t kMaxTrackedAddresses = 100000;

  const ThrottleOptions options_;
  const Clock clock_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;  // by address; guarded by mu_
};

// Refuses a configuration that would expose PHI. Returns kInsecureConfig with
// a message that says what is wrong and how to fix it.
Status SelfCheck(const Config& config, const std::vector<Node>& nodes);

}  // namespace bastion::security
