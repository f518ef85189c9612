// The scanner's network side (private to scan/): DICOM associations and
// DIMSE operations through DCMTK's SCU API, TLS handshakes through OpenSSL,
// HTTP through libcurl. Politeness lives here: every connection waits for the
// Pacer, and every read is bounded by a timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "scan/knowledge.h"
#include "scan/scan.h"

namespace bastion::scan {

// At most `rate` connection attempts per second, for the whole scan.
class Pacer {
 public:
  explicit Pacer(double rate)
      : interval_(rate > 0 ? std::chrono::duration<double>(1.0 / rate)
                           : std::chrono::duration<double>(0)) {}
  void Wait();
  int connections() const { return connections_; }

 private:
  std::mutex mu_;
  std::chrono::duration<double> interval_;
  std::chrono::steady_clock::time_point last_{};
  int connections_ = 0;
};

// "a.b.c.d:port" / "[v6]:port".
std::string EndpointName(const std::string& address, std::uint16_t port);
bool IsLoopbackAddress(const std::string& address);
// Not loopback, not RFC 1918 / link-local / ULA: "scanned from outside".
bool IsPublicAddress(const std::string& address);

// TCP connect with a timeout; returns "open", "closed" (refused) or "filtered"
// (timeout/unreachable).
std::string TcpProbe(const std::string& address, std::uint16_t port, int timeout_seconds,
                     Pacer& pacer);

// ---------------------------------------------------------------- DICOM

enum class Proposal {
  kCapability,  // Verification, Q/R FIND/MOVE/GET (patient, study), Worklist, a few storage classes
  kVerification,
  kRetrieve,  // Q/R GET plus storage classes in the SCP role (to receive C-GET results)
};

struct ContextResult {
  std::string name;  // "Study Root FIND"
  std::string abstract_syntax;
  bool accepted = false;
};

struct AssociationOutcome {
  enum Kind {
    kAccepted,
    kRejected,
    kAborted,
    kNotDicom,
    kNoConnection,
    kTlsFailed
  } kind = kNoConnection;
  RejectInfo reject;                                             // when kRejected
  std::vector<ContextResult> contexts;                           // when kAccepted
  std::string implementation_class_uid, implementation_version;  // from the A-ASSOCIATE-AC
  bool identity_acknowledged = false;  // the server sent a (positive) User Identity response
  std::string detail;                  // DCMTK's condition text for failures
  std::string local_address;           // our side of the connection (for D4)

  bool Accepts(std::string_view name_part) const;  // some accepted context's name contains it
  bool AcceptsData() const;                        // anything beyond Verification
  std::vector<std::string> AcceptedNames() const;
  std::string Describe() const;  // "A-ASSOCIATE-AC: 3 of 11 contexts accepted (...)"
};

struct Identity {
  std::string user, passcode;
};

struct FindOutcome {
  bool sent = false;
  int answers = 0;               // pending responses counted
  std::set<std::string> filled;  // keywords of attributes that came back non-empty
  std::uint16_t final_status = 0;
  bool cancelled = false;  // we cancelled after Options::max_find_results
  std::string error;
};

struct RetrieveOutcome {
  bool sent = false;
  int instances_received = 0;  // C-STORE sub-operations that reached us (discarded)
  std::uint16_t final_status = 0;
  int completed = 0, failed = 0, warning = 0;
  bool connected_back = false;    // C-MOVE: the server opened an association to our SCP
  std::string connect_back_from;  // its calling AE and address
  std::string error;
};

struct StoreOutcome {
  bool sent = false;
  std::uint16_t status = 0;
  std::string error;
};

// One association with a DICOM node, opened by Open() and released by the destructor.
class DicomSession {
 public:
  DicomSession(const Options& options, Pacer& pacer);
  ~DicomSession();
  DicomSession(const DicomSession&) = delete;
  DicomSession& operator=(const DicomSession&) = delete;

  AssociationOutcome Open(const std::string& address, std::uint16_t port, bool tls,
                          const std::string& calling, const std::string& called, Proposal proposal,
                          const Identity* identity = nullptr);
  bool open() const { return assoc_ != nullptr; }

  // PATIENT level (Patient Root) or STUDY level (Study Root), PatientName=*.
  // The first Study Instance UID seen is kept (in memory, never reported) in
  // *first_study when given.
  FindOutcome FindAll(bool study_level, std::string* first_study);
  // C-GET of one study; every instance is counted and discarded.
  RetrieveOutcome GetStudy(const std::string& study_uid);
  // C-MOVE of one study to `destination_ae`, whose SCP (ours) listens on `scp_fd`.
  RetrieveOutcome MoveStudy(const std::string& study_uid, const std::string& destination_ae,
                            int scp_fd);
  // C-STORE of the synthetic, clearly marked instance.
  StoreOutcome StoreSynthetic();
  void Release();

 private:
  struct State;
  const Options& options_;
  Pacer& pacer_;
  std::unique_ptr<State> state_;
  void* assoc_ = nullptr;  // T_ASC_Association*
};

// A listening socket for our own short-lived C-MOVE SCP, on the local address
// we use to reach the target (loopback for a loopback target).
int ListenForMove(const std::string& local_address, std::uint16_t port, std::uint16_t* bound_port,
                  std::string* error);

// ---------------------------------------------------------------- TLS

struct TlsOutcome {
  bool handshake = false;   // a TLS handshake completed (without a client certificate)
  bool speaks_tls = false;  // the server answered with TLS at all
  bool client_cert_requested = false;
  bool client_cert_required = false;
  std::string version, cipher;
  bool aead = false, forward_secret = false;
  std::string cert_subject, cert_issuer, cert_key, cert_signature;
  int cert_key_bits = 0;
  std::int64_t cert_not_before = 0, cert_not_after = 0;
  bool cert_self_signed = false;
  std::string cert_verify;       // "ok" or OpenSSL's reason (against --ca when given)
  bool legacy_accepted = false;  // TLS 1.0/1.1 negotiated when offered alone
  std::string legacy_version;
  bool weak_suite_accepted =
      false;  // a non-AEAD or RSA key exchange suite negotiated when offered alone
  std::string weak_suite;
  std::string error;
};
TlsOutcome ProbeTls(const std::string& address, std::uint16_t port, const std::string& sni,
                    const Options& options, Pacer& pacer);

// D13 / W7 findings from a TLS probe, for a DICOM port or a web front end.
void TlsFindings(const std::string& id, const std::string& target, const TlsOutcome& t,
                 const Software& sw, bool dicom, bool ca_given, Report& report, Service& svc);

// ---------------------------------------------------------------- web

struct HttpAnswer {
  long status = 0;                             // 0: no answer
  std::map<std::string, std::string> headers;  // lower-case names; Set-Cookie values joined by "\n"
  std::string body;  // at most 1 MiB; parsed for counts only, never reported
  std::string error;
};
struct HttpClient {
  explicit HttpClient(const Options& options, Pacer& pacer) : options(options), pacer(pacer) {}
  HttpAnswer Get(const std::string& url, const std::string& user = "",
                 const std::string& password = "");
  HttpAnswer Post(const std::string& url, const std::string& content_type, const std::string& body,
                  const std::string& user = "", const std::string& password = "");
  const Options& options;
  Pacer& pacer;
};

// The synthetic instance (Part 10 bytes) that write checks send: Secondary
// Capture, patient "BASTION^SCAN^SYNTHETIC", 8x8 pixels.
std::string SyntheticInstancePart10();

// ---------------------------------------------------------------- checks

void ScanDicomEndpoint(const Options& options, Pacer& pacer, const Host& host, std::uint16_t port,
                       Report& report);
void ScanWeb(const Options& options, Pacer& pacer, const std::string& url, Report& report);

}  // namespace bastion::scan
