// The DICOM (DIMSE) front end: listeners for DICOM over TLS and plain DICOM,
// association negotiation through the archive's policy, and the services a
// node is allowed (C-ECHO, C-STORE). Translates protocol to archive calls.
//
// Sockets are Bastion's own: bound exactly where the configuration says (DCMTK
// alone would bind every interface), TCP_NODELAY set whatever the environment
// says, then handed to DCMTK for the DICOM upper layer and TLS.
//
// Thread model: one acceptor thread, one thread per connection: at most
// max_pending_connections not yet admitted (max_pending_per_address from one
// address) plus max_associations admitted. Start/Stop from one controlling thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "archive/archive.h"
#include "security/association_policy.h"
#include "security/tls_credentials.h"
#include "util/config.h"
#include "util/fs.h"
#include "util/net.h"
#include "util/status.h"

class DcmTLSTransportLayer;

namespace bastion::dimse {

class DicomServer {
 public:
  DicomServer(const Config& config, archive::Archive& archive);
  ~DicomServer();

  // Loads the TLS credentials, binds every listener and starts accepting.
  // Fails (nothing left running) if a port cannot be bound or TLS cannot be set up.
  Status Start();
  // Stops accepting, lets each association finish the operation in progress,
  // releases idle ones, and returns when all are gone (bounded by the DIMSE
  // timeout). Returns false if some were still running at the bound.
  bool Stop();

  // "dicom-tls=0.0.0.0:2762 dicom=127.0.0.1:11112"
  std::string DescribeListeners() const;

  // Loads the [tls] files again now (SIGHUP). They are also taken up on their
  // own when they change, at the next TLS connection. On failure the
  // credentials in force stay.
  Status ReloadTls();

 private:
  struct Listener {
    Endpoint endpoint;
    security::Transport transport;
    UniqueFd fd;
  };

  void AcceptLoop();
  void HandleConnection(int fd, IpAddress peer, security::Transport transport);
  // Counts a rejected attempt from `peer`; audits the start of a lockout.
  // Returns how long to wait before answering.
  std::chrono::milliseconds NoteFailure(const IpAddress& peer);
  bool EnterAssociation(const std::string& ae);
  // Logs, at most daily per node, that an admitted node's certificate ends within 30 days.
  void WarnOfCertificateExpiry(const security::AssociationRequest& req);
  void LeaveAssociation(const std::string& ae);

  const Config config_;
  archive::Archive& archive_;
  security::AssociationThrottle throttle_;
  std::unique_ptr<security::ReloadingTlsContext<DcmTLSTransportLayer>> tls_;  // if a TLS listener is configured
  std::vector<Listener> listeners_;
  UniqueFd wake_;  // eventfd: wakes the acceptor on Stop
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  bool drained_ = true;  // set by Stop()

  // Leaves the pending pool (admission decided, either way).
  void LeavePending(const IpAddress& peer);

  std::mutex mu_;
  std::condition_variable idle_cv_;
  int connections_ = 0;                        // threads alive; guarded by mu_
  int pending_ = 0;                            // connections not yet admitted; guarded by mu_
  std::map<std::string, int> pending_by_addr_; // guarded by mu_
  int associations_ = 0;                       // accepted associations; guarded by mu_
  std::map<std::string, int> per_node_;        // by calling AE; guarded by mu_
  std::map<std::string, std::int64_t> certificate_warned_;  // by calling AE: when; guarded by mu_
};

}  // namespace bastion::dimse
