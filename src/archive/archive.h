// The archive: the only door to PHI. Every front end (DIMSE, DICOMweb, CLI)
// reaches stored objects and the catalog through here; every request is
// checked against the principal's permissions and leaves an audit record.
//
// It also owns the ingest order that makes a success answer mean "durable"
// (docs/architecture.md):
//   1. bytes streamed into a staged file, hashed while written (IncomingObject)
//   2. header parsed (stops before Pixel Data) and validated
//   3. staged file fsync'd and linked into the blob store
//   4. catalog rows committed (group commit; blob directories fsync'd first)
//   5. audit record appended (group fsync)
//   6. only then the outcome is returned, and the front end may answer success.
//
// Thread-safe: one Archive serves every association and request.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "archive/admin.h"
#include "audit/audit_log.h"
#include "audit/audit_reader.h"
#include "blobs/blob_store.h"
#include "dicom/query.h"
#include "index/catalog.h"
#include "security/association_policy.h"
#include "security/nodes.h"
#include "security/principal.h"
#include "security/tokens.h"
#include "security/users.h"
#include "util/config.h"
#include "util/group_commit.h"
#include "util/status.h"
#include "util/worker.h"

namespace bastion::archive {

// What the sender says it is sending (from the C-STORE command, or from the
// file meta header of an imported file).
struct ClaimedIdentity {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string transfer_syntax_uid;
  // When set (STOW-RS to /studies/{study}), the dataset must belong to this study.
  std::string study_instance_uid = {};
};

// An object being received. Append() cannot fail: past the size limit, or
// once the staged file cannot be written (a full disk), the bytes are counted
// and dropped, so that the sender's stream can be drained and answered with a
// clear refusal (FinishStore) rather than an aborted association.
class IncomingObject {
 public:
  void Append(const void* data, std::size_t size);
  std::uint64_t dataset_bytes() const { return dataset_bytes_; }
  bool over_limit() const { return over_limit_; }
  // Why the bytes could not be kept (ok while they can).
  const Status& write_error() const { return write_error_; }

 private:
  friend class Archive;
  IncomingObject(std::unique_ptr<blobs::StagedObject> staged, ClaimedIdentity claimed, std::uint64_t limit)
      : staged_(std::move(staged)), claimed_(std::move(claimed)), limit_(limit) {}

  std::unique_ptr<blobs::StagedObject> staged_;
  ClaimedIdentity claimed_;
  std::uint64_t limit_;
  std::uint64_t dataset_bytes_ = 0;
  bool over_limit_ = false;
  Status write_error_;
};

enum class StoreOutcome {
  kStored,     // new instance, durable
  kDuplicate,  // identical bytes already held: success, nothing added
  kConflict,   // same SOP Instance UID, different bytes: handled per [storage] on_conflict
  kRejected,   // not stored; `status` says why
};

struct StoreResult {
  StoreOutcome outcome = StoreOutcome::kRejected;
  Status status;          // failure reason for kRejected (and kConflict under "reject")
  bool warning = false;   // answer with a warning status (kConflict under "keep-first")
  std::string sop_class_uid, sop_instance_uid;
  std::string study_instance_uid, series_instance_uid;  // when the header could be read
};

// A C-FIND (or QIDO) request in our own terms.
struct QueryRequest {
  dicom::InformationModel model = dicom::InformationModel::kStudyRoot;
  dicom::QueryLevel level = dicom::QueryLevel::kStudy;
  // Keys Bastion indexes, with their values (UTF-8) as sent.
  std::vector<std::pair<dicom::Attribute, std::string>> keys;
  // Keywords (or tags) of keys it does not index: returned empty, recorded in the audit.
  std::vector<std::string> other_keys;
  // PS3.4 C.4.1.3.2 relational search (QIDO-RS "/series", "/instances"):
  // levels above the query level need not be named by their unique keys.
  bool relational = false;
  // Paging (QIDO-RS offset/limit): skip this many matches, then answer at
  // most `limit` (never more than [query] max_matches; 0 means that maximum).
  std::size_t offset = 0;
  std::size_t limit = 0;
};

struct QueryAnswer {
  std::vector<index::CatalogRow> matches;
  bool truncated = false;  // more matched than the limit; `matches` holds the first ones (after the offset)
};

enum class RetrieveKind { kMove, kGet };

// A registered node Bastion connects to: a C-MOVE destination (one that may
// receive), or a modality taking a Storage Commitment report.
struct Destination {
  std::string ae_title;
  Endpoint endpoint;
  bool tls = false;  // the node is TLS-only: connect over TLS
  std::string tls_cert_sha256;  // its pinned certificate, if any
};

// Where Bastion connects to reach a registered node: its first single
// address (a range names no host) and its port; nullopt without both.
std::optional<Destination> DestinationOf(const security::Node& node);

struct RetrievePlan {
  RetrieveKind kind = RetrieveKind::kGet;
  std::vector<index::CatalogRow> instances;  // IMAGE-level rows, in series/instance order
  std::optional<Destination> destination;    // for kMove
  std::string audit_scope;                   // what was asked, for the audit record
};

struct RetrieveOutcome {
  int completed = 0, failed = 0, warning = 0;
  bool cancelled = false;
  std::vector<std::string> sent_uids, failed_uids;
  std::string error;  // when the whole operation failed (destination unreachable)
};

// Storage Commitment (PS3.4 Annex J): a node asks whether the archive has
// taken responsibility for instances it sent.
struct CommitmentRequest {
  std::string transaction_uid;
  struct Reference {
    std::string sop_class_uid, sop_instance_uid;
  };
  std::vector<Reference> references;
  // Set by a front end that could not read the request (a wrong action
  // type, an unreadable dataset): refused with this reason, and audited.
  std::string malformed = {};
};

// Failure Reason (0008,1197) values, PS3.4 J.3.2.1.2 / C.14.1.1.
enum class CommitmentFailure : std::uint16_t {
  kProcessingFailure = 0x0110,
  kNoSuchObjectInstance = 0x0112,
  kClassInstanceConflict = 0x0119,
  kResourceLimitation = 0x0213,
};

struct CommitmentAnswer {
  std::vector<CommitmentRequest::Reference> committed;
  struct Failed {
    CommitmentRequest::Reference reference;
    CommitmentFailure reason;
  };
  std::vector<Failed> failed;
  // Where a report that cannot go back on the requester's association goes:
  // the node's own single address and port, when it has them registered.
  std::optional<Destination> report_to;
};

// How the N-EVENT-REPORT of a commitment went.
struct CommitmentReportOutcome {
  bool delivered = false;
  std::string how;    // "same association", "new association"
  std::string error;  // when not delivered: why
};

// At most this many instances in one Storage Commitment request; the rest
// are reported as failed (resource limitation).
inline constexpr std::size_t kMaxCommitmentReferences = 50000;

struct RecoveryReport {
  int staging_leftovers_removed = 0;
  int objects_reindexed = 0;
  int objects_removed = 0;         // unindexable or conflicting orphans
  int catalog_rows_missing_blob = 0;
  bool full_scan = false;
};

struct Admission {
  security::AssociationDecision decision;
  security::Principal principal;  // valid when decision.accept
};

class Archive {
 public:
  struct Dependencies {
    index::Catalog* catalog;
    blobs::BlobStore* blobs;
    blobs::StagingArea* staging;
    audit::AuditLog* audit;
    security::NodeDirectory* nodes;
    security::UserStore* users = nullptr;    // people (User Identity Negotiation); null: none
    security::TokenStore* tokens = nullptr;  // API tokens; null: none
  };
  Archive(const Config& config, Dependencies deps);

  // --- Associations (DIMSE) ---
  // Decides and audits an association request.
  Admission AdmitAssociation(const security::AssociationRequest& request);
  // Audits a security event that is not a request for data (lockouts, aborted associations).
  void RecordSecurityEvent(const std::string& type, const audit::Actor& actor, nlohmann::json details);

  // --- People on the web front end (the DIMSE side is ApplyUserIdentity) ---
  // A password login: verified through the UserStore; success and failure are
  // audited ("login"), with the reason in the record only. Every failure is
  // kUnauthenticated with the same message (kUnavailable when too many checks
  // run at once, or a used code could not be recorded); `why` receives the
  // reason for the caller's throttle. `code` is the one-time code of a user
  // with a second factor (kTotpMissing without one); it is never recorded.
  Result<security::Principal> LoginWithPassword(std::string_view user, std::string_view password,
                                                std::optional<std::string_view> code, const std::string& address,
                                                std::string_view channel, security::AuthFailure* why = nullptr);
  // An API token (HTTP "Authorization: Bearer"). Failures are audited;
  // successes are not (what the token is used for is).
  Result<security::Principal> AuthenticateToken(std::string_view token, const std::string& address,
                                                std::string_view channel);
  // The principal of a person with a live session, as the account is now:
  // kUnauthenticated when it was disabled or removed, or its password, role
  // or flag changed after `since` (the session started before the change).
  Result<security::Principal> CurrentUser(std::string_view user, std::chrono::system_clock::time_point since,
                                          const std::string& address);
  // Audits an access event that is not a request for data (logout, lockout,
  // a request refused for want of credentials or permission).
  void RecordAccessEvent(const std::string& type, bool success, const audit::Actor& actor, nlohmann::json details);
  static audit::Actor ActorOf(const security::Principal& who);

  // --- Administration and the audit trail (the web UI's admin and auditor pages) ---
  // The administrative changes through this archive's stores and audit log,
  // for a principal holding the admin permission (kPermissionDenied
  // otherwise, audited); kUnavailable when the archive runs without stores.
  Result<Administration> AdministerAs(const security::Principal& who);
  // A page of the audit trail, for a principal holding the audit permission.
  // Reading the trail shows PHI, so the reading is itself a record
  // ("audit.read": the filters and how many records were shown).
  Result<audit::AuditPage> ReadAudit(const security::Principal& who, const audit::AuditQuery& query);

  // --- Store ---
  // Checks the principal may store and that the disk has room (above
  // [storage] min_free_mib; kNoSpace otherwise), and opens a staged object
  // for the bytes. Every refusal is audited. The dataset bytes follow via
  // IncomingObject::Append (no file meta).
  Result<std::unique_ptr<IncomingObject>> BeginStore(const security::Principal& who, const ClaimedIdentity& claimed);
  // Validates, stores durably, indexes and audits; see StoreResult.
  StoreResult FinishStore(const security::Principal& who, std::unique_ptr<IncomingObject> object);
  // Imports one Part 10 file through the same path.
  StoreResult ImportFile(const security::Principal& who, const std::filesystem::path& file);

  // --- Query / retrieve ---
  // Checks the principal may find, that the identifier is a valid
  // hierarchical query (PS3.4 C.4.1.3.1), matches, and audits what was asked
  // and how many matched. kInvalidArgument: the identifier is not valid for
  // the model/level (DIMSE 0xA900).
  Result<QueryAnswer> Find(const security::Principal& who, const QueryRequest& request);
  // Checks the principal may move/get, resolves the destination (kMove:
  // kNotFound when it is not a registered node with an address and port that
  // may receive: DIMSE 0xA801), and lists the instances. Refusals are audited.
  Result<RetrievePlan> PlanRetrieve(const security::Principal& who, RetrieveKind kind, const QueryRequest& request,
                                    const std::string& move_destination = {});
  // WADO (web viewing and download): checks the principal may view, lists
  // the instances of a study, a series of it, or one instance (UIDs checked
  // by the caller), at most [query] max_retrieve_instances, and audits what
  // is about to be shown ("view": what, the UIDs, how many). kNotFound when
  // nothing matches. The record is written before any byte is sent: a view
  // that was granted is a disclosure even if the client stops reading.
  Result<RetrievePlan> PlanView(const security::Principal& who, std::string_view what, const std::string& study_uid,
                                const std::string& series_uid = {}, const std::string& sop_instance_uid = {});
  // Where DCMTK can read an instance of a plan from.
  Result<std::filesystem::path> LocalObjectPath(const index::CatalogRow& instance);
  // The audit record of a request refused before it could be understood
  // (a malformed identifier): an attempt to read is recorded all the same.
  void RecordRefusedQuery(const security::Principal& who, const std::string& operation, const std::string& why);
  // The audit record of a finished retrieve: which instances went to whom.
  void RecordRetrieve(const security::Principal& who, const RetrievePlan& plan, const RetrieveOutcome& outcome);

  // --- Storage Commitment ---
  // Checks the principal may store, then answers which of the referenced
  // instances the archive holds: each is either committed (durable, indexed,
  // of the SOP class named) or failed with its reason. A principal that may
  // not find is told only of instances it sent itself: it cannot learn by
  // UID what others stored. Audited ("storage.commit": the transaction UID,
  // counts and failed UIDs). kInvalidArgument: a malformed request, no
  // Transaction UID or no references, or a Transaction UID that is not a UID.
  Result<CommitmentAnswer> CommitStorage(const security::Principal& who, const CommitmentRequest& request);
  // The audit record of a commitment report's delivery ("storage.commit.report").
  void RecordCommitmentReport(const security::Principal& who, const std::string& transaction_uid,
                              const CommitmentReportOutcome& outcome);

  // --- Start-up ---
  // Removes staging leftovers; after an unclean stop (full_scan) also indexes
  // stored objects missing from the catalog and checks every catalog row has its object.
  Result<RecoveryReport> Recover(bool full_scan);

 private:
  using CommitOutcome = Result<index::InsertOutcome>;
  // A received object on its way into the catalog and the audit trail.
  struct PendingStore {
    index::InstanceRecord record;
    audit::Actor actor;
    nlohmann::json details;  // of its audit record; the commit adds the outcome
  };
  struct CommittedStore {
    CommitOutcome outcome;
    Status audited;  // its audit record is durable (when outcome is ok)
  };

  // Catalog rows for objects already in the blob store, durable on return (recovery).
  std::vector<CommitOutcome> CommitBatch(std::vector<index::InstanceRecord>& batch);
  // Whether a stored object's bytes still hash to its key (recovery).
  Result<bool> ContentMatchesKey(const blobs::BlobKey& key);
  // The ingest group commit: the blob store's flush, then the catalog rows,
  // then the catalog's flush and the audit records at the same time.
  std::vector<CommittedStore> CommitStores(std::vector<PendingStore>& batch);
  StoreResult Reject(const security::Principal& who, const ClaimedIdentity& claimed, Status why,
                     std::uint64_t size);
  Status Audit(audit::AuditEvent event);
  // kNoSpace while the blob store has less free than [storage] min_free_mib;
  // logs (without PHI) when the archive starts and stops refusing for it.
  Status CheckFreeSpace();
  // The instances a retrieve names (validated, at most [query] max_retrieve_instances).
  Result<std::vector<index::CatalogRow>> RetrieveRows(const QueryRequest& request);
  // PS3.7 D.3.3.7: verifies the identity sent with an association (required
  // by some nodes) and narrows the principal to that person.
  void ApplyUserIdentity(const security::AssociationRequest& req, const security::Node& node, Admission& a);

  const Config config_;
  Dependencies deps_;
  Worker catalog_syncer_;  // flushes the catalog while the commit leader writes the audit records
  GroupCommit<PendingStore, CommittedStore> commit_;
  std::atomic<bool> short_of_space_{false};  // the last CheckFreeSpace found less than the reserve
};

}  // namespace bastion::archive
