// Query and retrieve through the archive: permission, PS3.4 C.4 hierarchy,
// limits and the audit record of every request.
#include <set>

#include "archive/archive.h"
#include "util/log.h"
#include "util/text.h"

namespace bastion::archive {

using dicom::Attribute;
using dicom::InformationModel;
using dicom::Matcher;
using dicom::QueryLevel;
using security::Permission;
using security::Principal;

namespace {

std::string_view ModelName(InformationModel m) {
  return m == InformationModel::kPatientRoot ? "patient-root" : "study-root";
}

QueryLevel TopLevel(InformationModel m) {
  return m == InformationModel::kPatientRoot ? QueryLevel::kPatient : QueryLevel::kStudy;
}

nlohmann::json KeysForAudit(const QueryRequest& r) {
  nlohmann::json keys = nlohmann::json::object();
  for (const auto& [a, v] : r.keys) keys[std::string(dicom::InfoOf(a).keyword)] = v;
  for (const auto& k : r.other_keys) keys[k] = nullptr;
  return keys;
}

// The catalog query for a request; validates it against the model's hierarchy.
// `retrieve`: the unique key of the level itself must also be given (a
// retrieve names what it wants; it never means "everything").
Result<index::CatalogQuery> BuildQuery(const QueryRequest& r, bool retrieve) {
  if (r.level < TopLevel(r.model))
    return Status(Code::kInvalidArgument,
                  "the Study Root model has no PATIENT level; use Patient Root or query at STUDY level");
  index::CatalogQuery q;
  q.level = retrieve ? QueryLevel::kImage : r.level;
  std::set<Attribute> seen;
  for (const auto& [attribute, value] : r.keys) {
    const auto& info = dicom::InfoOf(attribute);
    if (!seen.insert(attribute).second) continue;
    // Keys below the query level are not matched (hierarchical search).
    if (info.level > r.level) continue;
    // In Patient Root, patient attributes are matched at the PATIENT level
    // only; below it the unique key (PatientID) says which patient.
    if (r.model == InformationModel::kPatientRoot && info.level < r.level && attribute != dicom::UniqueKeyOf(info.level))
      continue;
    auto m = Matcher::Parse(info.kind, value);
    if (!m.ok()) return m.status().Annotate(std::string(info.keyword));
    q.conditions.push_back({attribute, std::move(*m)});
  }
  // PS3.4 C.4.1.3.1: every level above the query level is named by its
  // unique key, with single value matching (a list of UIDs for a retrieve).
  auto check_unique = [&](QueryLevel level, bool list_ok) -> Status {
    Attribute key = dicom::UniqueKeyOf(level);
    for (const auto& c : q.conditions) {
      if (c.attribute != key) continue;
      if (c.matcher.kind() == Matcher::Kind::kSingle ||
          (list_ok && c.matcher.kind() == Matcher::Kind::kList && dicom::InfoOf(key).kind == dicom::ValueKind::kUid))
        return Status::Ok();
      break;
    }
    return Status(Code::kInvalidArgument,
                  std::string(dicom::InfoOf(key).keyword) + " must be given (a single value) for a " +
                      std::string(ModelName(r.model)) + " " + std::string(dicom::QueryLevelName(r.level)) +
                      (retrieve ? " retrieve" : "-level query"));
  };
  if (!r.relational || retrieve)
    for (int l = static_cast<int>(TopLevel(r.model)); l < static_cast<int>(r.level); ++l)
      BASTION_RETURN_IF_ERROR(check_unique(static_cast<QueryLevel>(l), false));
  if (retrieve) BASTION_RETURN_IF_ERROR(check_unique(r.level, true));
  return q;
}

}  // namespace

Result<QueryAnswer> Archive::Find(const Principal& who, const QueryRequest& request) {
  nlohmann::json details = {{"model", ModelName(request.model)},
                            {"level", dicom::QueryLevelName(request.level)},
                            {"keys", KeysForAudit(request)}};
  auto refuse = [&](Status why) {
    details["error"] = why.message();
    (void)Audit(audit::AuditEvent{"query", false, ActorOf(who), details});
    return why;
  };
  if (!who.May(Permission::kFind)) return refuse(Status(Code::kPermissionDenied, "not allowed to query"));
  auto query = BuildQuery(request, false);
  if (!query.ok()) return refuse(query.status());
  std::size_t max = static_cast<std::size_t>(config_.query.max_matches);
  if (request.limit > 0 && request.limit < max) max = request.limit;
  query->limit = request.offset + max + 1;
  auto rows = deps_.catalog->Find(*query);
  if (!rows.ok()) return refuse(rows.status());
  QueryAnswer answer;
  if (request.offset >= rows->size()) rows->clear();
  else rows->erase(rows->begin(), rows->begin() + static_cast<std::ptrdiff_t>(request.offset));
  answer.truncated = rows->size() > max;
  if (answer.truncated) rows->resize(max);
  answer.matches = std::move(*rows);
  if (request.offset > 0) details["offset"] = request.offset;
  details["matches"] = answer.matches.size();
  details["truncated"] = answer.truncated;
  // A query that was answered but not audited would be an unrecorded disclosure.
  BASTION_RETURN_IF_ERROR(Audit(audit::AuditEvent{"query", true, ActorOf(who), details})
                              .Annotate("query not answered: the audit log cannot be written"));
  return answer;
}

Result<std::vector<index::CatalogRow>> Archive::RetrieveRows(const QueryRequest& request) {
  auto query = BuildQuery(request, true);
  if (!query.ok()) return query.status();
  const std::size_t max = static_cast<std::size_t>(config_.query.max_retrieve_instances);
  query->limit = max + 1;
  auto rows = deps_.catalog->Find(*query);
  if (!rows.ok()) return rows.status();
  if (rows->size() > max)
    return Status(Code::kTooLarge, "more than " + std::to_string(max) + " instances; retrieve less at once");
  return rows;
}

std::optional<Destination> DestinationOf(const security::Node& node) {
  if (node.port == 0) return std::nullopt;
  for (const auto& range : node.hosts)
    if (range.IsSingleAddress())
      return Destination{node.ae_title, Endpoint{range.base, node.port}, node.tls_only, node.tls_cert_sha256};
  return std::nullopt;
}

Result<RetrievePlan> Archive::PlanRetrieve(const Principal& who, RetrieveKind kind, const QueryRequest& request,
                                           const std::string& move_destination) {
  RetrievePlan plan;
  plan.kind = kind;
  nlohmann::json details = {{"operation", kind == RetrieveKind::kMove ? "move" : "get"},
                            {"model", ModelName(request.model)},
                            {"level", dicom::QueryLevelName(request.level)},
                            {"keys", KeysForAudit(request)}};
  if (kind == RetrieveKind::kMove) details["destination"] = move_destination;
  plan.audit_scope = details.dump();
  auto refuse = [&](Status why) {
    details["error"] = why.message();
    (void)Audit(audit::AuditEvent{"retrieve", false, ActorOf(who), details});
    return why;
  };
  if (!who.May(kind == RetrieveKind::kMove ? Permission::kMove : Permission::kGet))
    return refuse(Status(Code::kPermissionDenied, kind == RetrieveKind::kMove ? "not allowed to move" : "not allowed to get"));
  if (kind == RetrieveKind::kMove) {
    std::string ae(Trim(move_destination));
    auto node = deps_.nodes->Find(ae);
    if (!node) return refuse(Status(Code::kNotFound, "move destination is not a registered node"));
    if (!node->permissions.Has(Permission::kReceive))
      return refuse(Status(Code::kNotFound, "move destination is not allowed to receive"));
    plan.destination = DestinationOf(*node);
    if (!plan.destination)
      return refuse(Status(Code::kNotFound, "move destination has no single address and port registered"));
  }
  auto rows = RetrieveRows(request);
  if (!rows.ok()) return refuse(rows.status());
  plan.instances = std::move(*rows);
  return plan;
}

Result<RetrievePlan> Archive::PlanView(const Principal& who, std::string_view what, const std::string& study_uid,
                                       const std::string& series_uid, const std::string& sop_instance_uid) {
  nlohmann::json details = {{"operation", what}, {"study", study_uid}};
  if (!series_uid.empty()) details["series"] = series_uid;
  if (!sop_instance_uid.empty()) details["instance"] = sop_instance_uid;
  auto refuse = [&](Status why) {
    details["error"] = why.message();
    (void)Audit(audit::AuditEvent{"view", false, ActorOf(who), details});
    return why;
  };
  if (!who.May(Permission::kView)) return refuse(Status(Code::kPermissionDenied, "not allowed to view images"));
  QueryRequest request;
  request.level = sop_instance_uid.empty() ? (series_uid.empty() ? QueryLevel::kStudy : QueryLevel::kSeries)
                                           : QueryLevel::kImage;
  request.keys.emplace_back(Attribute::kStudyInstanceUID, study_uid);
  if (!series_uid.empty()) request.keys.emplace_back(Attribute::kSeriesInstanceUID, series_uid);
  if (!sop_instance_uid.empty()) request.keys.emplace_back(Attribute::kSOPInstanceUID, sop_instance_uid);
  auto rows = RetrieveRows(request);
  if (!rows.ok()) return refuse(rows.status());
  if (rows->empty()) return refuse(Status(Code::kNotFound, "no such study, series or instance"));
  RetrievePlan plan;
  plan.kind = RetrieveKind::kGet;
  plan.instances = std::move(*rows);
  details["instances"] = plan.instances.size();
  nlohmann::json uids = nlohmann::json::array();
  for (const auto& row : plan.instances) uids.push_back(row.Get(Attribute::kSOPInstanceUID));
  details["sop_instances"] = std::move(uids);
  plan.audit_scope = details.dump();
  BASTION_RETURN_IF_ERROR(Audit(audit::AuditEvent{"view", true, ActorOf(who), details})
                              .Annotate("not shown: the audit log cannot be written"));
  return plan;
}

Result<std::filesystem::path> Archive::LocalObjectPath(const index::CatalogRow& instance) {
  auto key = blobs::BlobKey::FromHex(instance.blob_key);
  if (!key) return Status(Code::kCorrupt, "catalog row with a malformed blob key");
  auto path = deps_.blobs->LocalPath(*key);
  if (!path) return Status(Code::kUnsupported, "the blob store has no local files");
  return *path;
}

void Archive::RecordRefusedQuery(const Principal& who, const std::string& operation, const std::string& why) {
  const bool query = operation == "find" || operation == "qido";
  (void)Audit(audit::AuditEvent{query ? "query" : "retrieve", false, ActorOf(who),
                                {{"operation", operation}, {"error", why}}});
}

void Archive::RecordRetrieve(const Principal& who, const RetrievePlan& plan, const RetrieveOutcome& outcome) {
  nlohmann::json details = nlohmann::json::parse(plan.audit_scope, nullptr, false);
  if (plan.destination) details["destination_address"] = plan.destination->endpoint.ToString();
  details["instances"] = plan.instances.size();
  details["completed"] = outcome.completed;
  details["failed"] = outcome.failed;
  details["warning"] = outcome.warning;
  details["cancelled"] = outcome.cancelled;
  details["sent"] = outcome.sent_uids;
  if (!outcome.failed_uids.empty()) details["failed_instances"] = outcome.failed_uids;
  if (!outcome.error.empty()) details["error"] = outcome.error;
  (void)Audit(audit::AuditEvent{"retrieve", outcome.failed == 0 && outcome.error.empty(), ActorOf(who), details});
}

}  // namespace bastion::archive
