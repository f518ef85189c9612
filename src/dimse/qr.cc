#include "dimse/qr.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/diutil.h>

#include <cstring>
#include <functional>

#include "dicom/dicom.h"
#include "dimse/scu.h"
#include "util/log.h"
#include "util/text.h"

namespace bastion::dimse {
namespace {

using dicom::InformationModel;
using dicom::QueryLevel;

constexpr std::uint16_t kPending = 0xFF00;
constexpr std::uint16_t kPendingUnsupportedKeys = 0xFF01;
constexpr std::uint16_t kCancelled = 0xFE00;
constexpr std::uint16_t kOutOfResources = 0xA700;
constexpr std::uint16_t kUnableToCalculateMatches = 0xA701;
constexpr std::uint16_t kUnableToPerformSubOps = 0xA702;
constexpr std::uint16_t kMoveDestinationUnknown = 0xA801;
constexpr std::uint16_t kIdentifierDoesNotMatch = 0xA900;
constexpr std::uint16_t kNotAuthorized = 0x0124;
constexpr std::uint16_t kUnableToProcess = 0xC000;
constexpr std::uint16_t kSubOpsWithFailures = 0xB000;

struct QrClass {
  const char* uid;
  QrService service;
  InformationModel model;
};
constexpr QrClass kClasses[] = {
    {UID_FINDPatientRootQueryRetrieveInformationModel, QrService::kFind, InformationModel::kPatientRoot},
    {UID_FINDStudyRootQueryRetrieveInformationModel, QrService::kFind, InformationModel::kStudyRoot},
    {UID_MOVEPatientRootQueryRetrieveInformationModel, QrService::kMove, InformationModel::kPatientRoot},
    {UID_MOVEStudyRootQueryRetrieveInformationModel, QrService::kMove, InformationModel::kStudyRoot},
    {UID_GETPatientRootQueryRetrieveInformationModel, QrService::kGet, InformationModel::kPatientRoot},
    {UID_GETStudyRootQueryRetrieveInformationModel, QrService::kGet, InformationModel::kStudyRoot},
};

DcmTag TagOf(std::uint32_t t) {
  return DcmTag(static_cast<Uint16>(t >> 16), static_cast<Uint16>(t & 0xFFFF));
}

std::uint32_t TagKey(const DcmTagKey& t) {
  return (static_cast<std::uint32_t>(t.getGroup()) << 16) | t.getElement();
}

// A Status as the failure status of a C-FIND/C-MOVE/C-GET (PS3.4 C.4).
std::uint16_t QrFailureStatus(const Status& s, QrService service) {
  switch (s.code()) {
    case Code::kInvalidArgument: return kIdentifierDoesNotMatch;
    case Code::kPermissionDenied:
    case Code::kUnauthenticated: return kNotAuthorized;
    case Code::kNotFound: return service == QrService::kMove ? kMoveDestinationUnknown : kUnableToProcess;
    case Code::kTooLarge: return service == QrService::kFind ? kOutOfResources : kUnableToCalculateMatches;
    case Code::kUnavailable:
    case Code::kNoSpace:
    case Code::kIo: return service == QrService::kFind ? kOutOfResources : kUnableToPerformSubOps;
    default: return kUnableToProcess;
  }
}

DcmDataset* ErrorComment(const std::string& message) {
  auto* detail = new DcmDataset;
  // Error Comment is LO: at most 64 characters. Our messages carry no PHI.
  detail->putAndInsertString(DCM_ErrorComment, message.substr(0, 64).c_str());
  return detail;
}

// The identifier of a request, in our terms.
struct Identifier {
  archive::QueryRequest request;
  std::vector<DcmTag> requested;  // the keys asked for, in order (without level and character set)
  std::string charset;            // Specific Character Set as sent
};

Result<Identifier> ParseIdentifier(DcmDataset* ids, InformationModel model) {
  if (ids == nullptr) return Status(Code::kInvalidArgument, "no identifier");
  Identifier out;
  out.request.model = model;
  OFString level, charset;
  if (ids->findAndGetOFString(DCM_QueryRetrieveLevel, level).bad())
    return Status(Code::kInvalidArgument, "QueryRetrieveLevel is missing");
  auto parsed = dicom::ParseQueryLevel(level.c_str());
  if (!parsed) return Status(Code::kInvalidArgument, "QueryRetrieveLevel must be PATIENT, STUDY, SERIES or IMAGE");
  out.request.level = *parsed;
  ids->findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
  out.charset = std::string(Trim(charset.c_str()));
  for (unsigned long i = 0; i < ids->card(); ++i) {
    DcmElement* e = ids->getElement(i);
    DcmTag tag = e->getTag();
    if (tag.getElement() == 0x0000 || tag == DCM_QueryRetrieveLevel || tag == DCM_SpecificCharacterSet) continue;
    out.requested.push_back(tag);
    const dicom::AttributeInfo* info = dicom::FindAttribute(TagKey(tag));
    if (info == nullptr) {
      if (tag != DCM_RetrieveAETitle && tag != DCM_InstanceAvailability)
        out.request.other_keys.push_back(tag.getTagName());
      continue;
    }
    OFString raw;
    e->getOFStringArray(raw);
    std::string value(Trim(raw.c_str()));
    auto utf8 = dicom::ConvertToUtf8(value, out.charset);
    if (!utf8.ok()) {
      if (!out.charset.empty())
        return Status(Code::kInvalidArgument, "a key cannot be decoded in its Specific Character Set");
      utf8 = value;  // undeclared non-ASCII: taken as UTF-8
    }
    out.request.keys.emplace_back(info->attribute, std::move(*utf8));
  }
  return out;
}

DcmDataset* BuildMatch(const Identifier& id, const index::CatalogRow& row, const std::string& our_ae,
                       bool convert_back) {
  auto* ds = new DcmDataset;
  const QueryLevel level = id.request.level;
  ds->putAndInsertString(DCM_QueryRetrieveLevel, std::string(dicom::QueryLevelName(level)).c_str());
  bool non_ascii = false;
  auto put = [&](const DcmTag& tag, const std::string& value) {
    if (value.empty()) {
      ds->insertEmptyElement(tag);
      return;
    }
    for (char c : value)
      if (c & 0x80) non_ascii = true;
    ds->putAndInsertString(tag, value.c_str());
  };
  for (const auto& tag : id.requested) {
    if (tag == DCM_RetrieveAETitle) {
      put(tag, our_ae);
      continue;
    }
    if (tag == DCM_InstanceAvailability) {
      put(tag, "ONLINE");
      continue;
    }
    const dicom::AttributeInfo* info = dicom::FindAttribute(TagKey(tag));
    if (info && info->level <= level) put(tag, row.Get(info->attribute));
    else ds->insertEmptyElement(tag);
  }
  // The unique keys of this level and the ones above are always returned.
  QueryLevel top = id.request.model == InformationModel::kPatientRoot ? QueryLevel::kPatient : QueryLevel::kStudy;
  for (int l = static_cast<int>(top); l <= static_cast<int>(level); ++l) {
    const auto& info = dicom::InfoOf(dicom::UniqueKeyOf(static_cast<QueryLevel>(l)));
    DcmTag tag = TagOf(info.tag);
    if (!ds->tagExists(tag)) put(tag, row.Get(info.attribute));
  }
  if (non_ascii) {
    ds->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
    // Answer in the requester's character set when it named one and every
    // value fits; otherwise UTF-8 (which it must then decode).
    if (convert_back && !id.charset.empty() && id.charset != "ISO_IR 192" &&
        ds->convertCharacterSet(id.charset.c_str()).bad()) {
      delete ds;
      return BuildMatch(id, row, our_ae, false);
    }
  }
  return ds;
}

// --- C-FIND ---

struct FindState {
  ServiceContext* ctx = nullptr;
  InformationModel model = InformationModel::kStudyRoot;
  bool started = false;
  Identifier id;
  archive::QueryAnswer answer;
  std::size_t next = 0;
  bool done = false;
};

void FindCallback(void* data, OFBool cancelled, T_DIMSE_C_FindRQ*, DcmDataset* ids, int, T_DIMSE_C_FindRSP* rsp,
                  DcmDataset** rsp_ids, DcmDataset** detail) {
  auto* st = static_cast<FindState*>(data);
  *rsp_ids = nullptr;
  *detail = nullptr;
  if (!st->started) {
    st->started = true;
    auto id = ParseIdentifier(ids, st->model);
    if (!id.ok()) {
      rsp->DimseStatus = QrFailureStatus(id.status(), QrService::kFind);
      *detail = ErrorComment(id.status().message());
      // Still audited: a malformed query is an attempt to read.
      st->ctx->archive.RecordRefusedQuery(st->ctx->principal, "find", id.status().message());
      spdlog::info("C-FIND from {} refused: {}", st->ctx->peer_log, id.status().message());
      return;
    }
    st->id = std::move(*id);
    auto answer = st->ctx->archive.Find(st->ctx->principal, st->id.request);
    if (!answer.ok()) {
      rsp->DimseStatus = QrFailureStatus(answer.status(), QrService::kFind);
      *detail = ErrorComment(answer.status().message());
      spdlog::info("C-FIND from {} refused: {}", st->ctx->peer_log, answer.status().message());
      return;
    }
    st->answer = std::move(*answer);
    spdlog::info("C-FIND from {} at {} level: {} matches{}", st->ctx->peer_log,
                 dicom::QueryLevelName(st->id.request.level), st->answer.matches.size(),
                 st->answer.truncated ? " (limit reached)" : "");
  }
  if (cancelled) {
    rsp->DimseStatus = kCancelled;
    return;
  }
  if (st->next < st->answer.matches.size()) {
    *rsp_ids = BuildMatch(st->id, st->answer.matches[st->next++], st->ctx->config.dicom.ae_title, true);
    rsp->DimseStatus = st->id.request.other_keys.empty() ? kPending : kPendingUnsupportedKeys;
    return;
  }
  if (st->answer.truncated) {
    rsp->DimseStatus = kOutOfResources;
    *detail = ErrorComment("more than " + std::to_string(st->ctx->config.query.max_matches) +
                           " matches; narrow the query");
    return;
  }
  rsp->DimseStatus = STATUS_Success;
}

// --- C-MOVE and C-GET ---

struct RetrieveState {
  ServiceContext* ctx = nullptr;
  QrService service = QrService::kGet;
  InformationModel model = InformationModel::kStudyRoot;
  std::string destination;  // C-MOVE
  std::uint16_t request_id = 0;
  bool started = false;
  bool finished = false;
  archive::RetrievePlan plan;
  archive::RetrieveOutcome outcome;
  std::size_t next = 0;
  std::unique_ptr<ClientAssociation> sub;  // C-MOVE: to the destination
  std::uint16_t sub_message_id = 1;        // C-GET: our C-STORE-RQ message IDs
};

struct Counts {
  DIC_US remaining = 0, completed = 0, failed = 0, warning = 0;
};

DIC_US Clamp(std::size_t n) { return static_cast<DIC_US>(std::min<std::size_t>(n, 0xFFFF)); }

// One step of a retrieve: the first call plans (and may fail the whole
// request); each later call sends one instance; the last reports.
void RetrieveStep(RetrieveState* st, bool cancelled, DcmDataset* ids, std::uint16_t* status, Counts* counts,
                  DcmDataset** detail, DcmDataset** rsp_ids) {
  *detail = nullptr;
  *rsp_ids = nullptr;
  ServiceContext& ctx = *st->ctx;
  const char* what = st->service == QrService::kMove ? "C-MOVE" : "C-GET";
  auto finish = [&](std::uint16_t final_status) {
    if (st->sub) st->sub->Release();
    st->finished = true;
    *status = final_status;
    counts->remaining = Clamp(st->plan.instances.size() - st->next);
    counts->completed = Clamp(st->outcome.completed);
    counts->failed = Clamp(st->outcome.failed);
    counts->warning = Clamp(st->outcome.warning);
    if (!st->outcome.failed_uids.empty()) {
      *rsp_ids = new DcmDataset;
      std::string list;
      for (const auto& uid : st->outcome.failed_uids) list += (list.empty() ? "" : "\\") + uid;
      (*rsp_ids)->putAndInsertString(DCM_FailedSOPInstanceUIDList, list.c_str());
    }
    ctx.archive.RecordRetrieve(ctx.principal, st->plan, st->outcome);
    spdlog::info("{} from {}: {} sent, {} failed, {} warnings{}", what, ctx.peer_log, st->outcome.completed,
                 st->outcome.failed, st->outcome.warning, st->outcome.cancelled ? " (cancelled)" : "");
  };

  if (!st->started) {
    st->started = true;
    auto id = ParseIdentifier(ids, st->model);
    archive::QueryRequest request;
    request.model = st->model;
    if (id.ok()) request = id->request;
    auto plan = ctx.archive.PlanRetrieve(ctx.principal,
                                         st->service == QrService::kMove ? archive::RetrieveKind::kMove
                                                                         : archive::RetrieveKind::kGet,
                                         request, st->destination);
    // (A malformed identifier still goes through PlanRetrieve with a bare
    // request: the permission check and the refusal's audit record happen there.)
    Status why = !id.ok() ? id.status() : plan.status();
    if (!id.ok() || !plan.ok()) {
      st->finished = true;
      *status = QrFailureStatus(why, st->service);
      *detail = ErrorComment(why.message());
      spdlog::info("{} from {} refused: {}", what, ctx.peer_log, why.message());
      return;
    }
    st->plan = std::move(*plan);
    if (st->service == QrService::kMove && !st->plan.instances.empty()) {
      std::vector<std::pair<std::string, std::string>> kinds;
      for (const auto& row : st->plan.instances)
        kinds.emplace_back(row.Get(dicom::Attribute::kSOPClassUID), row.transfer_syntax_uid);
      const auto& d = *st->plan.destination;
      RemoteNode destination{d.ae_title, d.endpoint, d.tls, d.tls_cert_sha256};
      auto sub = ClientAssociation::OpenForStore(ctx.config, destination, kinds);
      if (!sub.ok()) {
        st->outcome.error = sub.status().message();
        st->outcome.failed = static_cast<int>(st->plan.instances.size());
        for (const auto& row : st->plan.instances) st->outcome.failed_uids.push_back(row.Get(dicom::Attribute::kSOPInstanceUID));
        st->next = st->plan.instances.size();
        spdlog::warn("C-MOVE from {}: cannot reach {}: {}", ctx.peer_log, d.ae_title, sub.status().message());
        finish(kUnableToPerformSubOps);
        *detail = ErrorComment("cannot reach the move destination");
        return;
      }
      st->sub = std::move(*sub);
    }
  }
  if (cancelled) {
    st->outcome.cancelled = true;
    finish(kCancelled);
    return;
  }
  if (st->next < st->plan.instances.size()) {
    const index::CatalogRow& row = st->plan.instances[st->next++];
    OutgoingObject object;
    object.sop_class_uid = row.Get(dicom::Attribute::kSOPClassUID);
    object.sop_instance_uid = row.Get(dicom::Attribute::kSOPInstanceUID);
    object.transfer_syntax_uid = row.transfer_syntax_uid;
    SendResult sent;
    auto path = ctx.archive.LocalObjectPath(row);
    if (!path.ok()) {
      sent.error = path.status().message();
    } else {
      object.file = *path;
      if (st->service == QrService::kMove) {
        sent = st->sub->Store(object, ctx.principal.id, st->request_id);
      } else {
        sent = SendObject(ctx.assoc, object, st->sub_message_id++, ctx.config.dicom.dimse_timeout_seconds, true);
      }
    }
    if (sent.ok && sent.status == STATUS_Success) {
      ++st->outcome.completed;
      st->outcome.sent_uids.push_back(object.sop_instance_uid);
    } else if (sent.ok && (sent.status & 0xF000) == 0xB000) {
      ++st->outcome.warning;
      st->outcome.sent_uids.push_back(object.sop_instance_uid);
    } else {
      ++st->outcome.failed;
      st->outcome.failed_uids.push_back(object.sop_instance_uid);
      spdlog::info("{} from {}: one sub-operation failed: {}", what, ctx.peer_log,
                   sent.ok ? "status 0x" + fmt::format("{:04x}", sent.status) : sent.error);
    }
  }
  if (st->next < st->plan.instances.size()) {
    *status = kPending;
    counts->remaining = Clamp(st->plan.instances.size() - st->next);
    counts->completed = Clamp(st->outcome.completed);
    counts->failed = Clamp(st->outcome.failed);
    counts->warning = Clamp(st->outcome.warning);
    return;
  }
  finish(st->outcome.failed > 0 || st->outcome.warning > 0 ? kSubOpsWithFailures : STATUS_Success);
}

void MoveCallback(void* data, OFBool cancelled, T_DIMSE_C_MoveRQ*, DcmDataset* ids, int, T_DIMSE_C_MoveRSP* rsp,
                  DcmDataset** detail, DcmDataset** rsp_ids) {
  auto* st = static_cast<RetrieveState*>(data);
  Counts c;
  std::uint16_t status = 0;
  RetrieveStep(st, cancelled, ids, &status, &c, detail, rsp_ids);
  rsp->DimseStatus = status;
  rsp->NumberOfRemainingSubOperations = c.remaining;
  rsp->NumberOfCompletedSubOperations = c.completed;
  rsp->NumberOfFailedSubOperations = c.failed;
  rsp->NumberOfWarningSubOperations = c.warning;
  rsp->opts = O_MOVE_NUMBEROFREMAININGSUBOPERATIONS | O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS |
              O_MOVE_NUMBEROFFAILEDSUBOPERATIONS | O_MOVE_NUMBEROFWARNINGSUBOPERATIONS;
  if (st->finished && st->plan.instances.empty() && status != STATUS_Success) rsp->opts = 0;
}

void GetCallback(void* data, OFBool cancelled, T_DIMSE_C_GetRQ*, DcmDataset* ids, int, T_DIMSE_C_GetRSP* rsp,
                 DcmDataset** detail, DcmDataset** rsp_ids) {
  auto* st = static_cast<RetrieveState*>(data);
  Counts c;
  std::uint16_t status = 0;
  RetrieveStep(st, cancelled, ids, &status, &c, detail, rsp_ids);
  rsp->DimseStatus = status;
  rsp->NumberOfRemainingSubOperations = c.remaining;
  rsp->NumberOfCompletedSubOperations = c.completed;
  rsp->NumberOfFailedSubOperations = c.failed;
  rsp->NumberOfWarningSubOperations = c.warning;
  rsp->opts = O_GET_NUMBEROFREMAININGSUBOPERATIONS | O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS |
              O_GET_NUMBEROFFAILEDSUBOPERATIONS | O_GET_NUMBEROFWARNINGSUBOPERATIONS;
  if (st->finished && st->plan.instances.empty() && status != STATUS_Success) rsp->opts = 0;
}

}  // namespace

bool QueryRetrieveSopClass(std::string_view uid, QrService* service, InformationModel* model) {
  for (const auto& c : kClasses) {
    if (uid != c.uid) continue;
    if (service) *service = c.service;
    if (model) *model = c.model;
    return true;
  }
  return false;
}

const std::vector<std::string>& QueryRetrieveSopClasses() {
  static const std::vector<std::string> kUids = [] {
    std::vector<std::string> out;
    for (const auto& c : kClasses) out.emplace_back(c.uid);
    return out;
  }();
  return kUids;
}

OFCondition HandleFind(ServiceContext& ctx, T_ASC_PresentationContextID pres_id, T_DIMSE_C_FindRQ& request) {
  FindState st;
  st.ctx = &ctx;
  QueryRetrieveSopClass(request.AffectedSOPClassUID, nullptr, &st.model);
  return DIMSE_findProvider(ctx.assoc, pres_id, &request, FindCallback, &st, DIMSE_BLOCKING,
                            ctx.config.dicom.dimse_timeout_seconds);
}

OFCondition HandleMove(ServiceContext& ctx, T_ASC_PresentationContextID pres_id, T_DIMSE_C_MoveRQ& request) {
  RetrieveState st;
  st.ctx = &ctx;
  st.service = QrService::kMove;
  QueryRetrieveSopClass(request.AffectedSOPClassUID, nullptr, &st.model);
  st.destination = std::string(Trim(request.MoveDestination));
  st.request_id = request.MessageID;
  return DIMSE_moveProvider(ctx.assoc, pres_id, &request, MoveCallback, &st, DIMSE_BLOCKING,
                            ctx.config.dicom.dimse_timeout_seconds);
}

OFCondition HandleGet(ServiceContext& ctx, T_ASC_PresentationContextID pres_id, T_DIMSE_C_GetRQ& request) {
  RetrieveState st;
  st.ctx = &ctx;
  QueryRetrieveSopClass(request.AffectedSOPClassUID, nullptr, &st.model);
  st.request_id = request.MessageID;
  return DIMSE_getProvider(ctx.assoc, pres_id, &request, GetCallback, &st, DIMSE_BLOCKING,
                           ctx.config.dicom.dimse_timeout_seconds);
}

}  // namespace bastion::dimse
