// Storage Commitment (PS3.4 Annex J) through the archive: which of the
// instances a node names the archive has taken responsibility for.
#include <string_view>
#include <unordered_map>

#include "archive/archive.h"
#include "dicom/dicom.h"
#include "util/text.h"

namespace bastion::archive {

using security::Permission;
using security::Principal;

namespace {

// At most this many failed UIDs are listed in an audit record (the counts are always whole).
constexpr std::size_t kAuditedFailures = 200;

std::string_view ReasonName(CommitmentFailure reason) {
  switch (reason) {
    case CommitmentFailure::kProcessingFailure:
      return "processing failure";
    case CommitmentFailure::kNoSuchObjectInstance:
      return "no such object instance";
    case CommitmentFailure::kClassInstanceConflict:
      return "class/instance conflict";
    case CommitmentFailure::kResourceLimitation:
      return "resource limitation";
  }
  return "failure";
}

}  // namespace

Result<CommitmentAnswer> Archive::CommitStorage(const Principal& who, const CommitmentRequest& request) {
  // What the requester sent is recorded at most as long as a UID may be.
  auto bounded = [](const std::string& uid) { return uid.substr(0, 64); };
  nlohmann::json details = {{"transaction_uid", bounded(request.transaction_uid)},
                            {"requested", request.references.size()}};
  auto refuse = [&](Status why) {
    details["error"] = why.message();
    (void)Audit(audit::AuditEvent{"storage.commit", false, ActorOf(who), details});
    return why;
  };
  if (!who.May(Permission::kStore)) return refuse(Status(Code::kPermissionDenied, "not allowed to store"));
  if (!request.malformed.empty()) return refuse(Status(Code::kInvalidArgument, request.malformed));
  if (request.transaction_uid.empty()) return refuse(Status(Code::kInvalidArgument, "no Transaction UID"));
  if (!dicom::IsValidUid(request.transaction_uid))
    return refuse(Status(Code::kInvalidArgument, "the Transaction UID is not a valid UID"));
  if (request.references.empty()) return refuse(Status(Code::kInvalidArgument, "no Referenced SOP Sequence items"));

  CommitmentAnswer answer;
  const std::size_t considered = std::min(request.references.size(), kMaxCommitmentReferences);
  std::vector<std::string> uids;
  uids.reserve(considered);
  for (std::size_t i = 0; i < considered; ++i) {
    const auto& ref = request.references[i];
    if (dicom::IsValidUid(ref.sop_instance_uid)) uids.push_back(ref.sop_instance_uid);
  }
  auto held = deps_.catalog->LookupInstances(uids);
  std::unordered_map<std::string, index::HeldInstance> by_uid;
  if (held.ok())
    for (auto& h : *held) by_uid.emplace(h.sop_instance_uid, std::move(h));
  // Without find, a node learns only of what it sent itself.
  const bool sees_all = who.May(Permission::kFind);
  for (std::size_t i = 0; i < request.references.size(); ++i) {
    const auto& ref = request.references[i];
    auto fail = [&](CommitmentFailure reason) { answer.failed.push_back({ref, reason}); };
    if (i >= considered) {
      fail(CommitmentFailure::kResourceLimitation);
      continue;
    }
    if (!held.ok()) {
      fail(CommitmentFailure::kProcessingFailure);
      continue;
    }
    auto it = by_uid.find(ref.sop_instance_uid);
    if (it == by_uid.end() || (!sees_all && it->second.source != who.id)) {
      fail(CommitmentFailure::kNoSuchObjectInstance);
      continue;
    }
    if (it->second.sop_class_uid != ref.sop_class_uid) {
      fail(CommitmentFailure::kClassInstanceConflict);
      continue;
    }
    answer.committed.push_back(ref);
  }

  // Where the report goes when the requester's association is gone.
  const std::string& node_ae = who.kind == security::PrincipalKind::kNode ? who.id : who.via_node;
  if (auto node = node_ae.empty() ? std::nullopt : deps_.nodes->Find(node_ae)) answer.report_to = DestinationOf(*node);

  details["committed"] = answer.committed.size();
  details["failed"] = answer.failed.size();
  if (!held.ok()) details["error"] = held.status().message();
  nlohmann::json failed = nlohmann::json::array();
  for (std::size_t i = 0; i < answer.failed.size() && i < kAuditedFailures; ++i)
    failed.push_back({{"sop_instance_uid", bounded(answer.failed[i].reference.sop_instance_uid)},
                      {"reason", ReasonName(answer.failed[i].reason)}});
  if (!failed.empty()) details["failed_instances"] = std::move(failed);
  BASTION_RETURN_IF_ERROR(Audit(audit::AuditEvent{"storage.commit", held.ok(), ActorOf(who), details})
                              .Annotate("not answered: the audit log cannot be written"));
  return answer;
}

void Archive::RecordCommitmentReport(const Principal& who, const std::string& transaction_uid,
                                     const CommitmentReportOutcome& outcome) {
  nlohmann::json details = {{"transaction_uid", transaction_uid.substr(0, 64)}, {"delivered", outcome.delivered}};
  if (!outcome.how.empty()) details["how"] = outcome.how;
  if (!outcome.error.empty()) details["error"] = outcome.error;
  (void)Audit(audit::AuditEvent{"storage.commit.report", outcome.delivered, ActorOf(who), details});
}

}  // namespace bastion::archive
