#include "dimse/server.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcostrma.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/dcuserid.h>
#include <dcmtk/dcmnet/dul.h>
#include <dcmtk/dcmtls/tlslayer.h>
#include <dcmtk/dcmtls/tlstrans.h>
#include <openssl/ssl.h>
#include <dcmtk/oflog/oflog.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <cstring>

#include "dicom/dicom.h"
#include "dimse/commitment.h"
#include "dimse/qr.h"
#include "dimse/transport.h"
#include "security/pki.h"
#include "util/log.h"
#include "util/text.h"

namespace bastion::dimse {
namespace {

using security::Transport;

// DCMTK takes an already-connected socket only through the process-wide
// dcmExternalSocketHandle, read once at the start of ASC_receiveAssociation.
// This gate serialises that window; the per-connection transport layer below
// releases it as soon as DCMTK has taken the socket, so the (possibly slow)
// TLS handshake and A-ASSOCIATE-RQ read run in parallel across connections.
std::mutex g_socket_handoff;

class HandoffLayer final : public DcmTransportLayer {
 public:
  HandoffLayer(std::unique_lock<std::mutex>* gate, DcmTLSTransportLayer* tls) : gate_(gate), tls_(tls) {}
  DcmTransportConnection* createConnection(DcmNativeSocketType sock, OFBool useSecureLayer) override {
    Release();
    if (!useSecureLayer) return new QuickAckConnection<DcmTCPConnection>(sock);
    if (tls_ == nullptr) return nullptr;
    SSL* ssl = SSL_new(tls_->getNativeHandle());  // the connection takes ownership
    if (ssl == nullptr || SSL_set_fd(ssl, sock) != 1) {
      SSL_free(ssl);
      return nullptr;
    }
    return new QuickAckConnection<DcmTLSConnection>(sock, ssl);
  }
  void Release() {
    if (gate_->owns_lock()) {
      dcmExternalSocketHandle.set(-1);
      gate_->unlock();
    }
  }

 private:
  std::unique_lock<std::mutex>* gate_;
  DcmTLSTransportLayer* tls_;
};

// Streams a C-STORE dataset from DCMTK straight into the archive's staged object.
class IncomingConsumer final : public DcmConsumer {
 public:
  IncomingConsumer(archive::IncomingObject& object, std::uint64_t abort_after)
      : object_(object), abort_after_(abort_after) {}
  OFBool good() const override { return status_.good(); }
  OFCondition status() const override { return status_; }
  OFBool isFlushed() const override { return OFTrue; }
  offile_off_t avail() const override { return 1 << 30; }
  offile_off_t write(const void* buf, offile_off_t len) override {
    if (status_.bad()) return 0;
    // Past the size limit, or once the disk refuses them, the archive drops
    // the bytes (FinishStore refuses the object); far past the limit we stop listening.
    object_.Append(buf, static_cast<std::size_t>(len));
    if (object_.dataset_bytes() > abort_after_) {
      error_ = "object far over the size limit";
      status_ = EC_InvalidStream;
      return 0;
    }
    return len;
  }
  void flush() override {}
  const std::string& error() const { return error_; }

 private:
  archive::IncomingObject& object_;
  std::uint64_t abort_after_;
  OFCondition status_ = EC_Normal;
  std::string error_;
};

struct ConsumerHolder {
  IncomingConsumer consumer;
};

class IncomingStream final : private ConsumerHolder, public DcmOutputStream {
 public:
  IncomingStream(archive::IncomingObject& object, std::uint64_t abort_after)
      : ConsumerHolder{IncomingConsumer(object, abort_after)}, DcmOutputStream(&consumer) {}
  const std::string& error() const { return consumer.error(); }
};

std::string AeFromParams(const char* ae) { return std::string(Trim(ae ? ae : "")); }

std::uint16_t DimseStatusFor(const archive::StoreResult& r) {
  switch (r.outcome) {
    case archive::StoreOutcome::kStored:
    case archive::StoreOutcome::kDuplicate:
      return STATUS_Success;
    case archive::StoreOutcome::kConflict:
      // Warning "Elements Discarded": the received copy was discarded, the first kept.
      return r.warning ? 0xB006 : InfoFor(Code::kConflict).dimse_status;
    case archive::StoreOutcome::kRejected:
      return InfoFor(r.status.code()).dimse_status;
  }
  return 0x0110;
}

Status BindListener(const Endpoint& ep, UniqueFd& out) {
  int family = ep.address.v6 ? AF_INET6 : AF_INET;
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ep.address.v6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len = ToSockaddr(ep.address, ep.port, &ss);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return ErrnoStatus("bind " + ep.ToString()).Annotate("is another server using the port?");
  if (::listen(fd.get(), 128) != 0) return ErrnoStatus("listen " + ep.ToString());
  out = std::move(fd);
  return Status::Ok();
}

}  // namespace

DicomServer::DicomServer(const Config& config, archive::Archive& archive)
    : config_(config), archive_(archive), throttle_(config.dicom.throttle) {}

DicomServer::~DicomServer() { Stop(); }

Status DicomServer::Start() {
  dcmDisableGethostbyaddr.set(OFTrue);  // we use numeric addresses only

  if (!config_.dicom.tls_listen.empty()) {
    tls_ = std::make_unique<security::ReloadingTlsContext<DcmTLSTransportLayer>>(
        config_.tls, "DICOM over TLS", [tls = config_.tls]() -> Result<std::shared_ptr<DcmTLSTransportLayer>> {
          auto layer = std::make_shared<DcmTLSTransportLayer>(NET_ACCEPTOR, nullptr, OFTrue);
          auto check = [](OFCondition c, const std::string& what) {
            return c.good() ? Status::Ok() : Status(Code::kInvalidArgument, what + ": " + c.text());
          };
          BASTION_RETURN_IF_ERROR(check(layer->setTLSProfile(TSP_Profile_BCP195_ND), "TLS profile"));
          BASTION_RETURN_IF_ERROR(check(layer->activateCipherSuites(), "TLS cipher suites"));
          BASTION_RETURN_IF_ERROR(check(layer->setPrivateKeyFile(tls.private_key.c_str(), DCF_Filetype_PEM),
                                        "TLS private key " + tls.private_key.string()));
          BASTION_RETURN_IF_ERROR(check(layer->setCertificateFile(tls.certificate.c_str(), DCF_Filetype_PEM),
                                        "TLS certificate " + tls.certificate.string()));
          if (!layer->checkPrivateKeyMatchesCertificate())
            return Status(Code::kInvalidArgument, "the TLS private key does not match the certificate");
          BASTION_RETURN_IF_ERROR(check(layer->addTrustedCertificateFile(tls.client_ca.c_str(), DCF_Filetype_PEM),
                                        "TLS client CA " + tls.client_ca.string()));
          layer->setCertificateVerification(DCV_requireCertificate);
          SSL_CTX* ctx = layer->getNativeHandle();
          KeepVerifyFailures(ctx);
          return layer;
        });
    BASTION_RETURN_IF_ERROR(tls_->Reload());
  }

  for (const auto& ep : config_.dicom.tls_listen) {
    Listener l{ep, Transport::kTls, {}};
    BASTION_RETURN_IF_ERROR(BindListener(ep, l.fd));
    listeners_.push_back(std::move(l));
  }
  for (const auto& ep : config_.dicom.plain_listen) {
    Listener l{ep, Transport::kPlain, {}};
    BASTION_RETURN_IF_ERROR(BindListener(ep, l.fd));
    listeners_.push_back(std::move(l));
  }
  wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_.valid()) return ErrnoStatus("eventfd");
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return Status::Ok();
}

void DicomServer::WarnOfCertificateExpiry(const security::AssociationRequest& req) {
  // Node certificates issued together at installation end together, 825 days
  // later: say it while there is time, once a day per node.
  constexpr std::int64_t kWarnAhead = 30 * 86400;
  std::int64_t now = std::time(nullptr);
  if (req.peer_cert_not_after == 0 || req.peer_cert_not_after - now >= kWarnAhead) return;
  {
    std::lock_guard lock(mu_);
    auto [it, first] = certificate_warned_.try_emplace(req.calling_ae, now);
    if (!first && now - it->second < 86400) return;
    it->second = now;
  }
  spdlog::warn("node {}: its client certificate (SHA-256 {}) expires in {} days, on {}; issue a new one with "
               "bastion node cert --ae {} (or the site's PKI) and install it on the node",
               Printable(req.calling_ae), req.peer_cert_sha256, (req.peer_cert_not_after - now) / 86400,
               security::FormatUtc(req.peer_cert_not_after), Printable(req.calling_ae));
}

Status DicomServer::ReloadTls() { return tls_ ? tls_->Reload() : Status::Ok(); }

std::string DicomServer::DescribeListeners() const {
  std::string out;
  for (const auto& l : listeners_) {
    if (!out.empty()) out += ' ';
    out += (l.transport == Transport::kTls ? "dicom-tls=" : "dicom=") + l.endpoint.ToString();
  }
  return out;
}

bool DicomServer::Stop() {
  if (stopping_.exchange(true)) return drained_;
  if (wake_.valid()) {
    std::uint64_t one = 1;
    (void)::write(wake_.get(), &one, sizeof one);
  }
  if (acceptor_.joinable()) acceptor_.join();
  listeners_.clear();
  std::unique_lock lock(mu_);
  // Associations notice stopping_ within a second once idle.
  idle_cv_.wait_for(lock, std::chrono::seconds(config_.dicom.dimse_timeout_seconds + 5),
                    [this] { return connections_ == 0; });
  drained_ = connections_ == 0;
  if (!drained_) spdlog::warn("{} associations still open at shutdown", connections_);
  return drained_;
}

void DicomServer::AcceptLoop() {
  std::vector<pollfd> fds;
  for (const auto& l : listeners_) fds.push_back({l.fd.get(), POLLIN, 0});
  fds.push_back({wake_.get(), POLLIN, 0});
  while (!stopping_) {
    int n = ::poll(fds.data(), fds.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("poll failed: {}", std::strerror(errno));
      return;
    }
    for (std::size_t i = 0; i < listeners_.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      int fd = ::accept4(listeners_[i].fd.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
      if (fd < 0) continue;
      // Nagle off on our side whatever TCP_NODELAY says in the environment:
      // with it on, every DIMSE exchange waits ~40 ms for a delayed ACK.
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
      auto peer = IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss));
      if (!peer) {
        ::close(fd);
        continue;
      }
      if (throttle_.Check(*peer).refuse) {
        ::close(fd);  // locked out: not even an A-ASSOCIATE-RJ
        continue;
      }
      {
        std::lock_guard lock(mu_);
        // Not yet authenticated: a pool of its own, bounded per address, so
        // that nobody can take the slots registered nodes need.
        int& from_peer = pending_by_addr_[peer->ToString()];
        if (pending_ >= config_.dicom.max_pending_connections ||
            from_peer >= config_.dicom.max_pending_per_address) {
          if (from_peer == 0) pending_by_addr_.erase(peer->ToString());
          ::close(fd);
          continue;
        }
        ++from_peer;
        ++pending_;
        ++connections_;
      }
      Transport transport = listeners_[i].transport;
      std::thread([this, fd, p = *peer, transport] {
        HandleConnection(fd, p, transport);
        std::lock_guard lock(mu_);
        --connections_;
        idle_cv_.notify_all();
      }).detach();
    }
  }
}

std::chrono::milliseconds DicomServer::NoteFailure(const IpAddress& peer) {
  auto delay = throttle_.RecordFailure(peer);
  if (throttle_.Check(peer).refuse) {
    spdlog::warn("{} locked out for {} s after repeated rejected associations", peer.ToString(),
                 config_.dicom.throttle.lockout_seconds);
    archive_.RecordSecurityEvent("association.lockout", audit::Actor{"node", "", peer.ToString()},
                                 {{"lockout_seconds", config_.dicom.throttle.lockout_seconds},
                                  {"failures", config_.dicom.throttle.failures_before_lockout}});
  }
  return delay;
}

void DicomServer::LeavePending(const IpAddress& peer) {
  std::lock_guard lock(mu_);
  --pending_;
  auto it = pending_by_addr_.find(peer.ToString());
  if (it != pending_by_addr_.end() && --it->second <= 0) pending_by_addr_.erase(it);
}

bool DicomServer::EnterAssociation(const std::string& ae) {
  std::lock_guard lock(mu_);
  if (associations_ >= config_.dicom.max_associations) return false;
  if (per_node_[ae] >= config_.dicom.max_associations_per_node) return false;
  ++associations_;
  ++per_node_[ae];
  return true;
}

void DicomServer::LeaveAssociation(const std::string& ae) {
  std::lock_guard lock(mu_);
  --associations_;
  if (--per_node_[ae] <= 0) per_node_.erase(ae);
}

namespace {

void SetSocketTimeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// Our own handle on the connection, for what DCMTK does not do: closing a
// socket it leaked on some malformed A-ASSOCIATE-RQs (the peer would
// otherwise hold it open for ever).
class SocketGuard {
 public:
  explicit SocketGuard(int fd) : fd_(fd), dup_(::fcntl(fd, F_DUPFD_CLOEXEC, 0)) {}
  ~SocketGuard() {
    if (!dup_.valid()) return;
    struct stat a {}, b {};
    // Still open and still the same socket: DCMTK let go of it without closing.
    if (::fstat(fd_, &a) == 0 && ::fstat(dup_.get(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
      ::close(fd_);
    ::shutdown(dup_.get(), SHUT_RDWR);
  }
  int dup() const { return dup_.get(); }

 private:
  int fd_;
  UniqueFd dup_;
};

}  // namespace

void DicomServer::HandleConnection(int fd, IpAddress peer, Transport transport) {
  const int acse_timeout = config_.dicom.acse_timeout_seconds;
  // Until admitted, every read and write is bounded by the ACSE timeout
  // (DCMTK's blocking read of the A-ASSOCIATE-RQ has no bound of its own).
  SetSocketTimeouts(fd, acse_timeout);
  SocketGuard guard(fd);
  bool pending = true;
  auto leave_pending = [&] {
    if (pending) LeavePending(peer);
    pending = false;
  };
  T_ASC_Network* net = nullptr;
  T_ASC_Association* assoc = nullptr;
  // Held for the whole association: the [tls] files may be renewed meanwhile.
  std::shared_ptr<DcmTLSTransportLayer> tls = transport == Transport::kTls && tls_ ? tls_->Current() : nullptr;
  std::unique_lock<std::mutex> gate(g_socket_handoff);
  HandoffLayer layer(&gate, tls.get());
  dcmExternalSocketHandle.set(fd);
  ClearVerifyFailure();
  OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, 0, acse_timeout, &net);
  if (cond.good()) cond = ASC_setTransportLayer(net, &layer, 0);
  if (cond.good()) {
    cond = ASC_receiveAssociation(net, &assoc, config_.dicom.max_pdu_bytes, nullptr, nullptr,
                                  transport == Transport::kTls ? OFTrue : OFFalse, DUL_BLOCK, acse_timeout);
  } else {
    ::close(fd);
  }
  layer.Release();

  audit::Actor actor{"node", "", peer.ToString()};
  bool negotiated = cond.good();
  auto cleanup = [&] {
    leave_pending();
    if (assoc) {
      // After a reject or release, give the peer a second to read our last
      // PDU and close; after a failed request there is nobody to wait for
      // (ASC_dropSCPAssociation's default would wait 30 s on a silent peer).
      if (negotiated) ASC_dropSCPAssociation(assoc, 1);
      else ASC_dropAssociation(assoc);
      ASC_destroyAssociation(&assoc);
    }
    if (net) ASC_dropNetwork(&net);
  };
  if (cond.bad()) {
    // Garbage, a port scan, or a failed TLS handshake (no or untrusted client certificate).
    std::string why = cond.text();
    if (std::string peer = VerifyFailure(); !peer.empty()) why += " (client " + peer + ")";
    spdlog::info("association attempt from {} over {} failed before negotiation: {}", peer.ToString(),
                 transport == Transport::kTls ? "TLS" : "plain TCP", why);
    archive_.RecordSecurityEvent("association", actor,
                                 {{"transport", transport == Transport::kTls ? "tls" : "plain"},
                                  {"decision", "rejected"},
                                  {"why", "no valid association request: " + why}});
    NoteFailure(peer);
    cleanup();
    return;
  }

  T_ASC_Parameters* params = assoc->params;
  security::AssociationRequest req;
  req.called_ae = AeFromParams(params->DULparams.calledAPTitle);
  req.calling_ae = AeFromParams(params->DULparams.callingAPTitle);
  req.peer = peer;
  req.transport = transport;
  // AE titles came off the wire: only printable copies reach the log.
  const std::string calling_log = Printable(req.calling_ae), called_log = Printable(req.called_ae);
  if (transport == Transport::kTls) {
    unsigned long len = ASC_getPeerCertificateLength(assoc);
    if (len > 0 && len < (1u << 20)) {
      std::vector<unsigned char> der(len);
      ASC_getPeerCertificate(assoc, der.data(), len);
      req.peer_cert_sha256 = security::DerFingerprint(der.data(), der.size());
      req.peer_cert_cn = security::DerCommonName(der.data(), der.size());
      req.peer_cert_not_after = security::DerNotAfter(der.data(), der.size());
    }
  }

  UserIdentityNegotiationSubItemRQ* identity = nullptr;
  ASC_getUserIdentRQ(params, &identity);
  if (identity != nullptr) {
    security::AssociationRequest::Identity id;
    id.type = static_cast<int>(identity->getIdentityType());
    id.response_requested = identity->isPosResponseRequested();
    auto field = [](Uint16 (UserIdentityNegotiationSubItemRQ::*get)(char*&, Uint16&) const,
                    UserIdentityNegotiationSubItemRQ* item) {
      char* buf = nullptr;
      Uint16 len = 0;
      (item->*get)(buf, len);
      std::string out(buf ? buf : "", buf ? len : 0);
      delete[] buf;
      return out;
    };
    id.primary = field(&UserIdentityNegotiationSubItemRQ::getPrimField, identity);
    id.secondary = field(&UserIdentityNegotiationSubItemRQ::getSecField, identity);
    req.identity = std::move(id);
  }

  char context_name[128] = {};
  ASC_getApplicationContextName(params, context_name, sizeof context_name);
  if (std::string(Trim(context_name)) != UID_StandardApplicationContext) {
    // Also what DCMTK reports for a connection closed before any PDU (a port scan).
    std::string why = context_name[0] ? "unknown application context" : "closed before an association request";
    spdlog::info("association attempt from {} failed: {}", peer.ToString(), why);
    T_ASC_RejectParameters rej{ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
                               ASC_REASON_SU_APPCONTEXTNAMENOTSUPPORTED};
    ASC_rejectAssociation(assoc, &rej);
    archive_.RecordSecurityEvent("association", actor,
                                 {{"transport", transport == Transport::kTls ? "tls" : "plain"},
                                  {"decision", "rejected"},
                                  {"why", why}});
    NoteFailure(peer);
    cleanup();
    return;
  }

  archive::Admission admission = archive_.AdmitAssociation(req);
  if (!admission.decision.accept) {
    spdlog::info("association from {} (calling {}, called {}) rejected: {}", peer.ToString(), calling_log,
                 called_log, admission.decision.why);
    auto delay = NoteFailure(peer);
    if (delay.count() > 0) std::this_thread::sleep_for(delay);  // rate limiting of guessers, by design
    T_ASC_RejectParameters rej{ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
                               admission.decision.reason == security::RejectReason::kCalledAeNotRecognized
                                   ? ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED
                               : admission.decision.reason == security::RejectReason::kIdentityRejected
                                   ? ASC_REASON_SU_NOREASON
                                   : ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED};
    ASC_rejectAssociation(assoc, &rej);
    cleanup();
    return;
  }
  const security::Principal& principal = admission.principal;
  leave_pending();
  if (!EnterAssociation(req.calling_ae)) {
    spdlog::warn("association from {} ({}) refused: association limit reached", peer.ToString(), calling_log);
    T_ASC_RejectParameters rej{ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
                               ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED};
    ASC_rejectAssociation(assoc, &rej);
    archive_.RecordSecurityEvent("association", audit::Actor{"node", req.calling_ae, peer.ToString()},
                                 {{"decision", "rejected"}, {"why", "association limit reached"}});
    cleanup();
    return;
  }

  // Presentation contexts: only the services this node is allowed; for each,
  // the first transfer syntax the requester proposed that we handle.
  int accepted = 0;
  for (int i = 0; i < ASC_countPresentationContexts(params); ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(params, i, &pc).bad()) continue;
    std::string abstract = pc.abstractSyntax;
    T_ASC_SC_ROLE role = ASC_SC_ROLE_DEFAULT;
    bool allowed = false;
    bool uncompressed_only = false;  // Q/R identifiers and commitment requests, not objects
    QrService service;
    if (abstract == dicom::kVerificationSopClass) {
      allowed = principal.May(security::Permission::kEcho);
    } else if (abstract == UID_StorageCommitmentPushModelSOPClass) {
      // Whoever may store may ask whether we committed to what it stored.
      uncompressed_only = true;
      allowed = principal.May(security::Permission::kStore);
    } else if (QueryRetrieveSopClass(abstract, &service, nullptr)) {
      uncompressed_only = true;
      allowed = principal.May(service == QrService::kFind   ? security::Permission::kFind
                              : service == QrService::kMove ? security::Permission::kMove
                                                            : security::Permission::kGet);
    } else if (dicom::IsStorageSopClass(abstract)) {
      // The requester as storage SCU sends us objects (store); as storage
      // SCP it receives the objects of its C-GET (get). PS3.7 D.3.3.4.
      bool wants_scu = pc.proposedRole != ASC_SC_ROLE_SCP;
      bool wants_scp = pc.proposedRole == ASC_SC_ROLE_SCP || pc.proposedRole == ASC_SC_ROLE_SCUSCP;
      bool may_store = wants_scu && principal.May(security::Permission::kStore);
      bool may_get = wants_scp && principal.May(security::Permission::kGet);
      allowed = may_store || may_get;
      if (may_get) role = may_store && pc.proposedRole == ASC_SC_ROLE_SCUSCP ? ASC_SC_ROLE_SCUSCP : ASC_SC_ROLE_SCP;
      else if (pc.proposedRole == ASC_SC_ROLE_SCUSCP) role = ASC_SC_ROLE_SCU;
    }
    if (!allowed) {
      ASC_refusePresentationContext(params, pc.presentationContextID, ASC_P_ABSTRACTSYNTAXNOTSUPPORTED);
      continue;
    }
    const char* chosen = nullptr;
    for (int t = 0; t < pc.transferSyntaxCount && !chosen; ++t) {
      const char* ts = pc.proposedTransferSyntaxes[t];
      // Q/R identifiers and commitment requests travel uncompressed; objects in what we store.
      bool ok = uncompressed_only ? (std::strcmp(ts, UID_LittleEndianExplicitTransferSyntax) == 0 ||
                                     std::strcmp(ts, UID_LittleEndianImplicitTransferSyntax) == 0 ||
                                     std::strcmp(ts, UID_BigEndianExplicitTransferSyntax) == 0)
                                  : dicom::IsAcceptedTransferSyntax(ts);
      if (ok) chosen = ts;
    }
    if (!chosen) {
      ASC_refusePresentationContext(params, pc.presentationContextID, ASC_P_TRANSFERSYNTAXESNOTSUPPORTED);
      continue;
    }
    ASC_acceptPresentationContext(params, pc.presentationContextID, chosen, role);
    ++accepted;
  }
  ASC_setAPTitles(params, nullptr, nullptr, config_.dicom.ae_title.c_str());
  OFStandard::strlcpy(params->ourImplementationClassUID, dicom::kImplementationClassUid,
                      sizeof params->ourImplementationClassUID);
  OFStandard::strlcpy(params->ourImplementationVersionName, dicom::kImplementationVersionName,
                      sizeof params->ourImplementationVersionName);
  // A verified identity is confirmed when asked (no server response data for
  // user/passcode; none issued for tokens either).
  // (DCMTK 3.6.7 declares ASC_setIdentAC but does not export it.)
  if (req.identity && req.identity->response_requested && principal.kind != security::PrincipalKind::kNode &&
      params->DULparams.ackUserIdentNeg == nullptr) {
    auto* ac = new UserIdentityNegotiationSubItemAC();  // owned by the association parameters
    ac->setServerResponse(nullptr, 0);
    params->DULparams.ackUserIdentNeg = ac;
  }
  cond = ASC_acknowledgeAssociation(assoc);
  if (cond.bad()) {
    LeaveAssociation(req.calling_ae);
    cleanup();
    return;
  }
  spdlog::info("association from {} ({}, {}) accepted, {} presentation contexts", peer.ToString(), calling_log,
               transport == Transport::kTls ? "TLS" : "plain", accepted);
  WarnOfCertificateExpiry(req);
  // Admitted: reads inside a message may now take as long as the DIMSE timeout.
  SetSocketTimeouts(guard.dup(), config_.dicom.dimse_timeout_seconds);

  const int dimse_timeout = config_.dicom.dimse_timeout_seconds;
  int idle_seconds = 0;
  int stored = 0, failed = 0;
  std::vector<UndeliveredReport> undelivered_reports;
  for (;;) {
    T_DIMSE_Message msg;
    T_ASC_PresentationContextID pres_id = 0;
    DcmDataset* status_detail = nullptr;
    cond = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, 1, &pres_id, &msg, &status_detail);
    delete status_detail;
    if (cond == DIMSE_NODATAAVAILABLE) {
      ++idle_seconds;
      if (stopping_ || idle_seconds >= dimse_timeout) {
        ASC_abortAssociation(assoc);
        break;
      }
      continue;
    }
    idle_seconds = 0;
    if (cond == DUL_PEERREQUESTEDRELEASE) {
      ASC_acknowledgeRelease(assoc);
      break;
    }
    if (cond.bad()) {
      if (cond != DUL_PEERABORTEDASSOCIATION) {
        spdlog::info("association with {} ({}) ended: {}", peer.ToString(), calling_log, cond.text());
        ASC_abortAssociation(assoc);
      }
      break;
    }
    if (msg.CommandField == DIMSE_C_ECHO_RQ) {
      DIMSE_sendEchoResponse(assoc, pres_id, &msg.msg.CEchoRQ, STATUS_Success, nullptr);
      continue;
    }
    if (msg.CommandField == DIMSE_C_FIND_RQ || msg.CommandField == DIMSE_C_MOVE_RQ ||
        msg.CommandField == DIMSE_C_GET_RQ) {
      ServiceContext service{assoc, principal, archive_, config_, peer.ToString() + " (" + calling_log + ")"};
      if (msg.CommandField == DIMSE_C_FIND_RQ) cond = HandleFind(service, pres_id, msg.msg.CFindRQ);
      else if (msg.CommandField == DIMSE_C_MOVE_RQ) cond = HandleMove(service, pres_id, msg.msg.CMoveRQ);
      else cond = HandleGet(service, pres_id, msg.msg.CGetRQ);
      if (cond.bad()) {
        spdlog::info("association with {} ({}): query/retrieve ended: {}", peer.ToString(), calling_log, cond.text());
        ASC_abortAssociation(assoc);
        break;
      }
      continue;
    }
    if (msg.CommandField == DIMSE_N_ACTION_RQ) {
      ServiceContext service{assoc, principal, archive_, config_, peer.ToString() + " (" + calling_log + ")"};
      std::optional<UndeliveredReport> undelivered;
      AssociationState state = HandleStorageCommitment(service, pres_id, msg.msg.NActionRQ, undelivered);
      if (undelivered) undelivered_reports.push_back(std::move(*undelivered));
      if (state != AssociationState::kOpen) break;
      continue;
    }
    if (msg.CommandField == DIMSE_C_CANCEL_RQ) continue;  // for an operation already finished
    if (msg.CommandField != DIMSE_C_STORE_RQ) {
      // We never accept a context for anything else; a peer sending it is broken.
      spdlog::warn("association with {} ({}): unexpected command 0x{:04x}, aborting", peer.ToString(),
                   calling_log, static_cast<unsigned>(msg.CommandField));
      ASC_abortAssociation(assoc);
      break;
    }

    T_DIMSE_C_StoreRQ& rq = msg.msg.CStoreRQ;
    T_ASC_PresentationContext pc;
    archive::ClaimedIdentity claimed;
    claimed.sop_class_uid = std::string(Trim(rq.AffectedSOPClassUID));
    claimed.sop_instance_uid = std::string(Trim(rq.AffectedSOPInstanceUID));
    if (ASC_findAcceptedPresentationContext(params, pres_id, &pc).good())
      claimed.transfer_syntax_uid = pc.acceptedTransferSyntax;

    archive::StoreResult result;
    auto incoming = archive_.BeginStore(principal, claimed);
    if (!incoming.ok()) {
      DIC_UL bytes = 0, pdvs = 0;
      cond = DIMSE_ignoreDataSet(assoc, DIMSE_BLOCKING, dimse_timeout, &bytes, &pdvs);
      result.outcome = archive::StoreOutcome::kRejected;
      result.status = incoming.status();
    } else {
      std::uint64_t abort_after = config_.storage.max_object_bytes * 2 + (16u << 20);
      IncomingStream stream(**incoming, abort_after);
      auto received_from = std::chrono::steady_clock::now();
      cond = DIMSE_receiveDataSetInFile(assoc, DIMSE_BLOCKING, dimse_timeout, &pres_id, &stream, nullptr, nullptr);
      stream.flush();
      spdlog::debug("C-STORE dataset received in {} us", std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::steady_clock::now() - received_from)
                                         .count());
      if (cond.good()) result = archive_.FinishStore(principal, std::move(*incoming));
      else if (!stream.error().empty()) spdlog::warn("receiving from {}: {}", calling_log, stream.error());
    }
    if (cond.bad()) {
      // The dataset did not arrive whole: nothing is stored (the staged file is removed).
      spdlog::info("association with {} ({}): dataset not received whole ({}), aborting", peer.ToString(),
                   calling_log, cond.text());
      archive_.RecordSecurityEvent("instance.store", audit::Actor{"node", req.calling_ae, peer.ToString()},
                                   {{"sop_instance_uid", claimed.sop_instance_uid},
                                    {"reason", std::string("dataset not received whole: ") + cond.text()}});
      ASC_abortAssociation(assoc);
      break;
    }

    T_DIMSE_C_StoreRSP rsp;
    std::memset(&rsp, 0, sizeof rsp);
    rsp.MessageIDBeingRespondedTo = rq.MessageID;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, rq.AffectedSOPClassUID, sizeof rsp.AffectedSOPClassUID);
    OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, rq.AffectedSOPInstanceUID, sizeof rsp.AffectedSOPInstanceUID);
    rsp.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
    rsp.DataSetType = DIMSE_DATASET_NULL;
    rsp.DimseStatus = DimseStatusFor(result);
    DcmDataset* detail = nullptr;
    if (rsp.DimseStatus != STATUS_Success) {
      ++failed;
      detail = new DcmDataset;
      // Error Comment is LO: at most 64 characters. Messages never carry PHI.
      std::string comment = result.status.message().substr(0, 64);
      detail->putAndInsertString(DCM_ErrorComment, comment.c_str());
    } else {
      ++stored;
    }
    cond = DIMSE_sendStoreResponse(assoc, pres_id, &rq, &rsp, detail);
    delete detail;
    if (cond.bad()) {
      ASC_abortAssociation(assoc);
      break;
    }
  }
  spdlog::info("association with {} ({}) closed: {} stored, {} refused", peer.ToString(), calling_log, stored,
               failed);
  LeaveAssociation(req.calling_ae);
  cleanup();
  // Reports the requester did not wait for go to its own listener.
  for (UndeliveredReport& report : undelivered_reports) DeliverReportLater(config_, archive_, principal, report);
}

}  // namespace bastion::dimse
