#include "archive/archive.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "dicom/dicom.h"
#include "security/store_file.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/text.h"

namespace bastion::archive {

using security::Permission;
using security::Principal;

void IncomingObject::Append(const void* data, std::size_t size) {
  dataset_bytes_ += size;
  if (over_limit_ || !write_error_.ok()) return;
  if (dataset_bytes_ > limit_) {
    over_limit_ = true;
    staged_->Discard();  // what was kept so far is not needed: give the disk space back now
    return;
  }
  if (Status s = staged_->Append(data, size); !s.ok()) {
    write_error_ = s.Annotate("receiving the object");
    staged_->Discard();
  }
}

Archive::Archive(const Config& config, Dependencies deps)
    : config_(config),
      deps_(deps),
      commit_([this](std::vector<PendingStore>& batch) { return CommitStores(batch); }, 256) {}

audit::Actor Archive::ActorOf(const Principal& who) {
  return audit::Actor{std::string(who.KindName()), who.id, who.address, who.via_node};
}

Status Archive::Audit(audit::AuditEvent event) {
  Status s = deps_.audit->Append(std::move(event));
  if (!s.ok()) spdlog::error("audit append failed: {}", s.ToString());
  return s;
}

void Archive::RecordSecurityEvent(const std::string& type, const audit::Actor& actor, nlohmann::json details) {
  (void)Audit(audit::AuditEvent{type, false, actor, std::move(details)});
}

void Archive::ApplyUserIdentity(const security::AssociationRequest& req, const security::Node& node, Admission& a) {
  auto refuse = [&](std::string why) {
    a.decision.accept = false;
    a.decision.reason = security::RejectReason::kIdentityRejected;
    a.decision.why = std::move(why);
    a.principal.permissions = security::PermissionSet();
  };
  if (!req.identity) {
    if (node.require_user_identity) refuse("node " + node.ae_title + " requires a user identity and none was sent");
    return;
  }
  // An identity that was sent is always verified, never ignored: a wrong
  // passcode must not fall back to the node's own rights.
  const auto& id = *req.identity;
  security::AuthFailure why = security::AuthFailure::kNone;
  Result<security::Principal> person = Status(Code::kUnauthenticated, "no identity");
  switch (id.type) {
    case 2:
      if (req.transport != security::Transport::kTls)
        return refuse("a user name and passcode are accepted over DICOM TLS only");
      if (!deps_.users) return refuse("no user accounts on this server");
      person = deps_.users->Verify(id.primary, id.secondary, &why);
      break;
    case 5:
      if (!deps_.tokens) return refuse("no API tokens on this server");
      person = deps_.tokens->Verify(id.primary, &why);
      break;
    case 1:
      return refuse("a user name without a passcode proves nothing; send a passcode (over TLS) or an API token");
    default:
      return refuse("user identity type " + std::to_string(id.type) +
                    " is not supported; send a user name and passcode (over TLS) or an API token as a JWT");
  }
  if (!person.ok()) {
    // A person with a second factor has no one-time code field in DICOM, and
    // a passcode could be replayed for as long as a code lasts: such accounts
    // use an API token on DIMSE (docs/security.md).
    if (why == security::AuthFailure::kTotpMissing)
      return refuse("user identity rejected (totp_missing): this account has a second factor; "
                    "on DICOM it signs in with an API token, not its password");
    return refuse("user identity rejected (" + std::string(security::AuthFailureName(why)) + ")");
  }
  // The person, through this node: the node's services limited by the role.
  security::PermissionSet allowed;
  for (auto p : {security::Permission::kStore, security::Permission::kFind, security::Permission::kMove,
                 security::Permission::kGet})
    if (node.permissions.Has(p) && person->permissions.Has(p)) allowed.Add(p);
  if (node.permissions.Has(security::Permission::kEcho)) allowed.Add(security::Permission::kEcho);  // no data
  a.principal.kind = person->kind;
  a.principal.id = person->id;
  a.principal.user = person->user;
  a.principal.via_node = node.ae_title;
  a.principal.permissions = allowed;
}

Admission Archive::AdmitAssociation(const security::AssociationRequest& req) {
  Admission a;
  a.decision = security::DecideAssociation(req, config_.dicom.ae_title, deps_.nodes->Snapshot());
  a.principal.kind = security::PrincipalKind::kNode;
  a.principal.id = req.calling_ae;
  a.principal.address = req.peer.ToString();
  if (a.decision.accept) a.principal.permissions = a.decision.node->permissions;
  if (a.decision.accept) ApplyUserIdentity(req, *a.decision.node, a);
  nlohmann::json details = {
      {"called_ae", req.called_ae},
      {"calling_ae", req.calling_ae},
      {"transport", req.transport == security::Transport::kTls ? "tls" : "plain"},
      {"decision", a.decision.accept ? "accepted" : "rejected"},
      {"why", a.decision.why},
  };
  if (!req.peer_cert_sha256.empty()) {
    details["client_cert_sha256"] = req.peer_cert_sha256;
    details["client_cert_cn"] = req.peer_cert_cn;
    if (req.peer_cert_not_after) details["client_cert_not_after"] = security::FormatUtc(req.peer_cert_not_after);
  }
  if (req.identity) {
    // Who the person said they are (never the passcode or token).
    details["user_identity_type"] = req.identity->type;
    if (req.identity->type == 1 || req.identity->type == 2) details["user"] = req.identity->primary;
  }
  if (a.decision.accept) details["permissions"] = a.principal.permissions.Names();
  if (!Audit(audit::AuditEvent{"association", a.decision.accept, ActorOf(a.principal), std::move(details)}).ok() &&
      a.decision.accept) {
    // No access that is not on the record: refuse while the audit log cannot be written.
    a.decision.accept = false;
    a.decision.reason = security::RejectReason::kCallingAeNotRecognized;
    a.decision.why = "the audit log cannot be written";
    a.principal.permissions = security::PermissionSet();
  }
  return a;
}

Status Archive::CheckFreeSpace() {
  const std::uint64_t reserve = config_.storage.min_free_mib << 20;
  if (reserve == 0) return Status::Ok();
  BASTION_ASSIGN_OR_RETURN(std::uint64_t available, deps_.blobs->AvailableBytes());
  // Once short, objects are taken again only with an eighth more than the
  // reserve free: at the edge, each object's own bytes would otherwise flip
  // the state back and forth (and the log with it).
  const bool was_short = short_of_space_.load();
  const std::uint64_t needed = was_short ? reserve + std::max<std::uint64_t>(reserve / 8, 1u << 20) : reserve;
  const bool short_of_space = available < needed;
  if (short_of_space_.exchange(short_of_space) != short_of_space) {
    if (short_of_space)
      spdlog::warn("storage: {} MiB free, under the reserve of {} MiB ([storage] min_free_mib): new objects are "
                   "refused until space is freed; queries and retrievals go on",
                   available >> 20, config_.storage.min_free_mib);
    else
      spdlog::info("storage: {} MiB free again: new objects are accepted", available >> 20);
  }
  if (!short_of_space) return Status::Ok();
  // The first 64 characters are what a modality shows (Error Comment, LO).
  return Status(Code::kNoSpace, "disk nearly full: " + std::to_string(available >> 20) + " MiB free, under the " +
                                    std::to_string(config_.storage.min_free_mib) +
                                    " MiB reserve ([storage] min_free_mib)");
}

Result<std::unique_ptr<IncomingObject>> Archive::BeginStore(const Principal& who, const ClaimedIdentity& claimed) {
  auto refuse = [&](Status why) {
    (void)Audit(audit::AuditEvent{"instance.store", false, ActorOf(who),
                                  {{"sop_instance_uid", claimed.sop_instance_uid}, {"reason", why.ToString()}}});
    return why;
  };
  if (!who.May(Permission::kStore)) return refuse(Status(Code::kPermissionDenied, "this principal may not store"));
  if (Status s = CheckFreeSpace(); !s.ok()) return refuse(s);
  auto staged = deps_.staging->Create();
  if (!staged.ok()) return refuse(staged.status());
  auto object = std::unique_ptr<IncomingObject>(
      new IncomingObject(std::move(*staged), claimed, config_.storage.max_object_bytes));
  // The stored file is our own file meta header followed by the dataset exactly as received.
  if (dicom::IsValidUid(claimed.sop_instance_uid) && dicom::IsValidUid(claimed.sop_class_uid)) {
    auto meta = dicom::BuildFileMeta(claimed.sop_class_uid, claimed.sop_instance_uid, claimed.transfer_syntax_uid);
    if (meta.ok())
      if (Status s = object->staged_->Append(meta->data(), meta->size()); !s.ok()) return refuse(s);
  }
  return object;
}

StoreResult Archive::Reject(const Principal& who, const ClaimedIdentity& claimed, Status why, std::uint64_t size) {
  StoreResult r;
  r.outcome = StoreOutcome::kRejected;
  r.status = why;
  r.sop_class_uid = claimed.sop_class_uid;
  r.sop_instance_uid = claimed.sop_instance_uid;
  spdlog::warn("store from {} {} refused: {}", who.KindName(), Printable(who.id), Printable(why.ToString()));
  (void)Audit(audit::AuditEvent{"instance.store", false, ActorOf(who),
                          {{"sop_instance_uid", claimed.sop_instance_uid},
                           {"sop_class_uid", claimed.sop_class_uid},
                           {"size", size},
                           {"reason", why.ToString()}}});
  return r;
}

namespace {

Status Validate(const dicom::InstanceHeader& h, const ClaimedIdentity& claimed) {
  auto need_uid = [](const std::string& uid, const char* name) {
    if (uid.empty()) return Status(Code::kInvalidArgument, std::string(name) + " is missing");
    if (!dicom::IsValidUid(uid)) return Status(Code::kInvalidArgument, std::string(name) + " is not a valid UID");
    return Status::Ok();
  };
  BASTION_RETURN_IF_ERROR(need_uid(h.sop_class_uid, "SOP Class UID"));
  BASTION_RETURN_IF_ERROR(need_uid(h.sop_instance_uid, "SOP Instance UID"));
  BASTION_RETURN_IF_ERROR(need_uid(h.study_instance_uid, "Study Instance UID"));
  BASTION_RETURN_IF_ERROR(need_uid(h.series_instance_uid, "Series Instance UID"));
  if (!dicom::IsStorageSopClass(h.sop_class_uid))
    return Status(Code::kUnsupported, "SOP Class " + h.sop_class_uid + " is not a storage SOP class we accept");
  if (h.sop_instance_uid != claimed.sop_instance_uid)
    return Status(Code::kInvalidArgument,
                  "the dataset's SOP Instance UID differs from the one in the C-STORE request");
  if (h.sop_class_uid != claimed.sop_class_uid)
    return Status(Code::kInvalidArgument, "the dataset's SOP Class UID differs from the one in the C-STORE request");
  if (!claimed.study_instance_uid.empty() && h.study_instance_uid != claimed.study_instance_uid)
    return Status(Code::kConflict, "the dataset belongs to another study than the one it was sent to");
  return Status::Ok();
}

}  // namespace

std::vector<Archive::CommitOutcome> Archive::CommitBatch(std::vector<index::InstanceRecord>& batch) {
  // Every object of the batch is linked into the blob store; make those
  // links durable before any catalog row points at them.
  if (Status flushed = deps_.blobs->Flush(); !flushed.ok()) return std::vector<CommitOutcome>(batch.size(), flushed);
  auto outcomes = deps_.catalog->InsertBatch(batch);
  if (!outcomes.ok()) return std::vector<CommitOutcome>(batch.size(), outcomes.status());
  return std::vector<CommitOutcome>(outcomes->begin(), outcomes->end());
}

std::vector<Archive::CommittedStore> Archive::CommitStores(std::vector<PendingStore>& batch) {
  auto fail_all = [&](const Status& why) { return std::vector<CommittedStore>(batch.size(), {why, why}); };
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  // Every object of the batch is linked into the blob store; make those
  // links durable before any catalog row points at them.
  if (Status flushed = deps_.blobs->Flush(); !flushed.ok()) return fail_all(flushed);
  auto flushed_at = Clock::now();
  std::vector<index::InstanceRecord> records;
  records.reserve(batch.size());
  for (auto& p : batch) records.push_back(std::move(p.record));
  auto outcomes = deps_.catalog->InsertBatch(records, index::Catalog::Durability::kAfterSync);
  if (!outcomes.ok()) return fail_all(outcomes.status());
  auto inserted_at = Clock::now();

  // Both must be on disk before anything is acknowledged, and neither needs
  // the other: the catalog's fsync and the audit log's run at once. A crash
  // between them leaves either an audit record of an object that recovery
  // indexes again (it is in the blob store), or a row not yet acknowledged.
  // (Starting the catalog's fsync only once the audit records are written
  // was measured slower: its block allocation then waits for a second
  // journal commit.)
  std::future<Status> synced = catalog_syncer_.Run([this] { return deps_.catalog->Sync(); });
  std::vector<audit::AuditEvent> events;
  events.reserve(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const index::InsertOutcome& o = (*outcomes)[i];
    nlohmann::json details = std::move(batch[i].details);
    bool success = true;
    switch (o.result) {
      case index::InsertResult::kInserted:
        details["outcome"] = "stored";
        break;
      case index::InsertResult::kDuplicate:
        details["outcome"] = "duplicate";
        break;
      case index::InsertResult::kConflict:
        details["outcome"] = "conflict";
        details["kept_blob"] = o.existing_blob_key;
        success = config_.storage.on_conflict != ConflictPolicy::kReject;  // kept the first, with a warning
        break;
    }
    events.push_back(audit::AuditEvent{"instance.store", success, std::move(batch[i].actor), std::move(details)});
  }
  Status audited = deps_.audit->AppendAll(std::move(events));
  Status catalog_synced = synced.get();
  spdlog::debug("commit batch of {}: blob flush {} us, catalog {} us, sync+audit {} us", batch.size(),
                std::chrono::duration_cast<std::chrono::microseconds>(flushed_at - start).count(),
                std::chrono::duration_cast<std::chrono::microseconds>(inserted_at - flushed_at).count(),
                std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - inserted_at).count());
  std::vector<CommittedStore> out;
  out.reserve(batch.size());
  for (const auto& o : *outcomes) {
    if (!catalog_synced.ok())
      out.push_back({catalog_synced.Annotate("the catalog could not be made durable"), audited});
    else
      out.push_back({o, audited});
  }
  return out;
}

StoreResult Archive::FinishStore(const Principal& who, std::unique_ptr<IncomingObject> object) {
  const ClaimedIdentity& claimed = object->claimed_;
  std::uint64_t size = object->dataset_bytes();
  if (object->over_limit())
    return Reject(who, claimed,
                  Status(Code::kTooLarge, "object of " + std::to_string(size) + " bytes is over the limit of " +
                                              std::to_string(config_.storage.max_object_bytes) + " bytes"),
                  size);
  if (!object->write_error().ok()) return Reject(who, claimed, object->write_error(), size);
  if (!dicom::IsValidUid(claimed.sop_instance_uid) || !dicom::IsValidUid(claimed.sop_class_uid))
    return Reject(who, claimed,
                  Status(Code::kInvalidArgument, "the request's SOP Class/Instance UID is missing or malformed"),
                  size);
  if (size == 0) return Reject(who, claimed, Status(Code::kInvalidArgument, "empty dataset"), size);
  blobs::StagedObject& staged = *object->staged_;
  if (Status s = staged.Seal(); !s.ok()) return Reject(who, claimed, s, size);

  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  auto header = dicom::ReadHeader(staged.path());
  if (!header.ok()) return Reject(who, claimed, header.status(), size);
  if (Status s = Validate(*header, claimed); !s.ok()) return Reject(who, claimed, s, size);
  // Its bytes are on the disk now: would keeping them leave less than the reserve?
  if (Status s = CheckFreeSpace(); !s.ok()) return Reject(who, claimed, s, size);

  auto t1 = Clock::now();
  auto key = deps_.blobs->Put(staged);
  if (!key.ok()) return Reject(who, claimed, key.status(), size);

  PendingStore pending;
  index::InstanceRecord& record = pending.record;
  record.header = std::move(*header);
  record.blob_key = key->hex();
  record.size_bytes = staged.size();
  record.received_at = UtcTimestampNow();
  record.source = who.id;
  const dicom::InstanceHeader& h = record.header;
  StoreResult r;
  r.sop_class_uid = claimed.sop_class_uid;
  r.sop_instance_uid = claimed.sop_instance_uid;
  r.study_instance_uid = h.study_instance_uid;
  r.series_instance_uid = h.series_instance_uid;
  pending.actor = ActorOf(who);
  pending.details = {{"sop_instance_uid", h.sop_instance_uid}, {"sop_class_uid", h.sop_class_uid},
                     {"study_instance_uid", h.study_instance_uid}, {"series_instance_uid", h.series_instance_uid},
                     {"patient_id", h.patient_id}, {"transfer_syntax_uid", h.transfer_syntax_uid},
                     {"size", record.size_bytes}, {"blob", record.blob_key}};

  auto t2 = Clock::now();
  CommittedStore committed = commit_.Submit(std::move(pending));
  auto t3 = Clock::now();
  auto us = [](auto a, auto b) { return std::chrono::duration_cast<std::chrono::microseconds>(b - a).count(); };
  spdlog::debug("store timings (us): parse {} put {} commit+audit {}", us(t0, t1), us(t1, t2), us(t2, t3));
  if (!committed.outcome.ok()) {
    // The object is stored but maybe not indexed; start-up recovery indexes it.
    return Reject(who, claimed, committed.outcome.status(), size);
  }
  switch (committed.outcome->result) {
    case index::InsertResult::kInserted:
      r.outcome = StoreOutcome::kStored;
      break;
    case index::InsertResult::kDuplicate:
      r.outcome = StoreOutcome::kDuplicate;
      break;
    case index::InsertResult::kConflict: {
      r.outcome = StoreOutcome::kConflict;
      // The new bytes are not kept: remove them unless something else refers to them.
      auto referenced = deps_.catalog->HasBlobKey(key->hex());
      if (referenced.ok() && !*referenced) (void)deps_.blobs->Remove(*key);
      if (config_.storage.on_conflict == ConflictPolicy::kReject) {
        r.status = Status(Code::kConflict, "an instance with this SOP Instance UID and different content is "
                                           "already stored; the first copy was kept");
      } else {
        r.warning = true;
        r.status = Status(Code::kConflict, "an instance with this SOP Instance UID and different content was "
                                           "already stored; the first copy was kept");
      }
      break;
    }
  }
  if (!committed.audited.ok()) {
    // Nothing is acknowledged that is not audited.
    spdlog::error("audit append failed: {}", committed.audited.ToString());
    r.outcome = StoreOutcome::kRejected;
    r.warning = false;
    r.status = Status(Code::kIo, "the audit record could not be written");
  }
  return r;
}

StoreResult Archive::ImportFile(const Principal& who, const std::filesystem::path& file) {
  ClaimedIdentity claimed;
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Reject(who, claimed, ErrnoStatus("open"), 0);
  std::string head(65536, '\0');
  ssize_t n = ::pread(fd.get(), head.data(), head.size(), 0);
  if (n < 0) return Reject(who, claimed, ErrnoStatus("read"), 0);
  head.resize(static_cast<std::size_t>(n));
  auto layout = dicom::ParsePart10Layout(head);
  if (!layout.ok()) return Reject(who, claimed, layout.status().Annotate("not a DICOM Part 10 file"), 0);
  // The dataset's own identity, as storescu would send it: some files carry
  // a stale SOP Instance UID in their meta header. The meta header is rebuilt.
  auto header = dicom::ReadHeader(file);
  if (!header.ok()) return Reject(who, claimed, header.status(), 0);
  claimed.sop_class_uid = header->sop_class_uid;
  claimed.sop_instance_uid = header->sop_instance_uid;
  claimed.transfer_syntax_uid = layout->transfer_syntax_uid;
  if (!dicom::IsAcceptedTransferSyntax(claimed.transfer_syntax_uid))
    return Reject(who, claimed, Status(Code::kUnsupported, "transfer syntax " + claimed.transfer_syntax_uid +
                                                               " is not one we store"),
                  0);
  auto object = BeginStore(who, claimed);
  if (!object.ok()) {
    StoreResult r;
    r.status = object.status();
    return r;
  }
  std::vector<char> buf(1 << 20);
  off_t offset = static_cast<off_t>(layout->dataset_offset);
  for (;;) {
    ssize_t got = ::pread(fd.get(), buf.data(), buf.size(), offset);
    if (got < 0) {
      if (errno == EINTR) continue;
      return Reject(who, claimed, ErrnoStatus("read"), (*object)->dataset_bytes());
    }
    if (got == 0) break;
    (*object)->Append(buf.data(), static_cast<std::size_t>(got));
    offset += got;
  }
  return FinishStore(who, std::move(*object));
}

Result<bool> Archive::ContentMatchesKey(const blobs::BlobKey& key) {
  BASTION_ASSIGN_OR_RETURN(auto reader, deps_.blobs->Open(key));
  Sha256 hash;
  std::vector<char> buf(1 << 16);
  for (;;) {
    BASTION_ASSIGN_OR_RETURN(std::size_t n, reader->Read(buf));
    if (n == 0) break;
    hash.Update(buf.data(), n);
  }
  return blobs::BlobKey::FromDigest(hash.Finish()) == key;
}

Result<RecoveryReport> Archive::Recover(bool full_scan) {
  RecoveryReport report;
  report.full_scan = full_scan;
  BASTION_ASSIGN_OR_RETURN(report.staging_leftovers_removed, deps_.staging->RemoveLeftovers());
  if (!full_scan) return report;

  audit::Actor system{"system", "recovery", ""};
  BASTION_RETURN_IF_ERROR(deps_.blobs->ForEach([&](const blobs::BlobKey& key) -> Status {
    BASTION_ASSIGN_OR_RETURN(bool indexed, deps_.catalog->HasBlobKey(key.hex()));
    if (indexed) return Status::Ok();
    auto path = deps_.blobs->LocalPath(key);
    if (!path) return Status::Ok();
    // A name whose bytes did not all reach the disk before a crash (the link
    // is made before the flush) must not be indexed: the key is the content's
    // SHA-256, so the content proves itself.
    BASTION_ASSIGN_OR_RETURN(bool intact, ContentMatchesKey(key));
    if (!intact) {
      spdlog::error("recovery: stored object {} does not hash to its key; left in place, not indexed", key.hex());
      return Status::Ok();
    }
    auto header = dicom::ReadHeader(*path);
    if (!header.ok()) {
      spdlog::error("recovery: stored object {} cannot be parsed; left in place: {}", key.hex(),
                    header.status().ToString());
      return Status::Ok();
    }
    index::InstanceRecord record;
    record.header = std::move(*header);
    record.blob_key = key.hex();
    std::error_code ec;
    record.size_bytes = std::filesystem::file_size(*path, ec);
    record.received_at = UtcTimestampNow();
    record.source = "recovery";
    std::vector<index::InstanceRecord> one{record};
    auto outcomes = CommitBatch(one);
    if (!outcomes[0].ok()) return outcomes[0].status();
    if (outcomes[0]->result == index::InsertResult::kConflict) {
      // A second copy that was never kept (keep-first): it was not acknowledged as stored.
      BASTION_RETURN_IF_ERROR(deps_.blobs->Remove(key));
      ++report.objects_removed;
      return Status::Ok();
    }
    ++report.objects_reindexed;
    const auto& h = record.header;
    (void)Audit(audit::AuditEvent{"instance.store", true, system,
                            {{"sop_instance_uid", h.sop_instance_uid}, {"study_instance_uid", h.study_instance_uid},
                             {"patient_id", h.patient_id}, {"blob", record.blob_key}, {"outcome", "reindexed"}}});
    return Status::Ok();
  }));
  BASTION_RETURN_IF_ERROR(deps_.catalog->ForEachInstance([&](const std::string&, const std::string& key) -> Status {
    auto k = blobs::BlobKey::FromHex(key);
    if (!k) return Status::Ok();
    BASTION_ASSIGN_OR_RETURN(bool exists, deps_.blobs->Exists(*k));
    if (!exists) {
      ++report.catalog_rows_missing_blob;
      spdlog::error("recovery: catalog row points at missing object {}", key);
    }
    return Status::Ok();
  }));
  (void)Audit(audit::AuditEvent{"recovery", report.catalog_rows_missing_blob == 0, system,
                          {{"staging_leftovers_removed", report.staging_leftovers_removed},
                           {"objects_reindexed", report.objects_reindexed},
                           {"objects_removed", report.objects_removed},
                           {"catalog_rows_missing_blob", report.catalog_rows_missing_blob}}});
  return report;
}

}  // namespace bastion::archive
