#include "dimse/commitment.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrma.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <atomic>
#include <cstring>

#include "dimse/scu.h"
#include "util/log.h"
#include "util/text.h"

namespace bastion::dimse {

namespace {

// The action information of one request: 50,000 references (the archive's
// limit) take about 7 MB; more than this is read, dropped and refused.
constexpr std::uint64_t kMaxActionInformationBytes = 16u << 20;

// Collects a dataset in memory up to a bound; past it, counts and drops.
class BoundedConsumer final : public DcmConsumer {
 public:
  BoundedConsumer(std::string& out, std::uint64_t limit) : out_(out), limit_(limit) {}
  OFBool good() const override { return OFTrue; }
  OFCondition status() const override { return EC_Normal; }
  OFBool isFlushed() const override { return OFTrue; }
  offile_off_t avail() const override { return 1 << 30; }
  offile_off_t write(const void* buf, offile_off_t len) override {
    if (!over_ && out_.size() + static_cast<std::uint64_t>(len) <= limit_)
      out_.append(static_cast<const char*>(buf), static_cast<std::size_t>(len));
    else
      over_ = true;
    return len;
  }
  void flush() override {}
  bool over() const { return over_; }

 private:
  std::string& out_;
  std::uint64_t limit_;
  bool over_ = false;
};

struct ConsumerHolder {
  BoundedConsumer consumer;
};

class BoundedStream final : private ConsumerHolder, public DcmOutputStream {
 public:
  BoundedStream(std::string& out, std::uint64_t limit)
      : ConsumerHolder{BoundedConsumer(out, limit)}, DcmOutputStream(&consumer) {}
  bool over() const { return consumer.over(); }
};

std::string StringOf(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  item.findAndGetOFString(tag, value);
  return std::string(Trim(value.c_str()));
}

// Reads the Transaction UID and the references out of the action information.
void ParseActionInformation(DcmDataset& ds, archive::CommitmentRequest& out) {
  out.transaction_uid = StringOf(ds, DCM_TransactionUID);
  DcmSequenceOfItems* seq = nullptr;
  if (ds.findAndGetSequence(DCM_ReferencedSOPSequence, seq).bad() || seq == nullptr) return;
  for (unsigned long i = 0; i < seq->card(); ++i) {
    DcmItem* item = seq->getItem(i);
    if (item == nullptr) continue;
    out.references.push_back(
        {StringOf(*item, DCM_ReferencedSOPClassUID), StringOf(*item, DCM_ReferencedSOPInstanceUID)});
  }
}

std::unique_ptr<DcmDataset> EventInformation(const std::string& transaction_uid, const std::string& our_ae,
                                             const archive::CommitmentAnswer& answer) {
  auto info = std::make_unique<DcmDataset>();
  info->putAndInsertString(DCM_TransactionUID, transaction_uid.c_str());
  // Where the committed instances can be retrieved from (PS3.4 J.3.3.1.1).
  if (!answer.committed.empty()) info->putAndInsertString(DCM_RetrieveAETitle, our_ae.c_str());
  for (const auto& ref : answer.committed) {
    DcmItem* item = nullptr;
    if (info->findOrCreateSequenceItem(DCM_ReferencedSOPSequence, item, -2).bad()) continue;
    item->putAndInsertString(DCM_ReferencedSOPClassUID, ref.sop_class_uid.c_str());
    item->putAndInsertString(DCM_ReferencedSOPInstanceUID, ref.sop_instance_uid.c_str());
  }
  for (const auto& failed : answer.failed) {
    DcmItem* item = nullptr;
    if (info->findOrCreateSequenceItem(DCM_FailedSOPSequence, item, -2).bad()) continue;
    item->putAndInsertString(DCM_ReferencedSOPClassUID, failed.reference.sop_class_uid.c_str());
    item->putAndInsertString(DCM_ReferencedSOPInstanceUID, failed.reference.sop_instance_uid.c_str());
    item->putAndInsertUint16(DCM_FailureReason, static_cast<Uint16>(failed.reason));
  }
  return info;
}

OFCondition SendActionResponse(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                               const T_DIMSE_N_ActionRQ& request, std::uint16_t status, const std::string& comment) {
  T_DIMSE_Message rsp;
  std::memset(&rsp, 0, sizeof rsp);
  rsp.CommandField = DIMSE_N_ACTION_RSP;
  T_DIMSE_N_ActionRSP& r = rsp.msg.NActionRSP;
  r.MessageIDBeingRespondedTo = request.MessageID;
  OFStandard::strlcpy(r.AffectedSOPClassUID, request.RequestedSOPClassUID, sizeof r.AffectedSOPClassUID);
  OFStandard::strlcpy(r.AffectedSOPInstanceUID, request.RequestedSOPInstanceUID, sizeof r.AffectedSOPInstanceUID);
  r.DimseStatus = status;
  r.DataSetType = DIMSE_DATASET_NULL;
  r.opts = O_NACTION_AFFECTEDSOPCLASSUID | O_NACTION_AFFECTEDSOPINSTANCEUID;
  DcmDataset detail;
  // Error Comment is LO: at most 64 characters. Messages never carry PHI.
  if (!comment.empty()) detail.putAndInsertString(DCM_ErrorComment, comment.substr(0, 64).c_str());
  return DIMSE_sendMessageUsingMemoryData(assoc, pres_id, &rsp, comment.empty() ? nullptr : &detail, nullptr, nullptr,
                                          nullptr);
}

std::string StatusHex(std::uint16_t v) { return fmt::format("0x{:04X}", v); }

// Message IDs of the reports we send (unique among our outstanding requests on any association).
std::atomic<std::uint16_t> next_report_id{1};

}  // namespace

ReportResult SendCommitmentReport(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                                  std::uint16_t message_id, std::uint16_t event_type, DcmDataset& event_information,
                                  int timeout_seconds) {
  ReportResult result;
  T_DIMSE_Message rq;
  std::memset(&rq, 0, sizeof rq);
  rq.CommandField = DIMSE_N_EVENT_REPORT_RQ;
  T_DIMSE_N_EventReportRQ& r = rq.msg.NEventReportRQ;
  r.MessageID = message_id;
  OFStandard::strlcpy(r.AffectedSOPClassUID, UID_StorageCommitmentPushModelSOPClass, sizeof r.AffectedSOPClassUID);
  OFStandard::strlcpy(r.AffectedSOPInstanceUID, UID_StorageCommitmentPushModelSOPInstance,
                      sizeof r.AffectedSOPInstanceUID);
  r.DataSetType = DIMSE_DATASET_PRESENT;
  r.EventTypeID = event_type;
  OFCondition cond =
      DIMSE_sendMessageUsingMemoryData(assoc, pres_id, &rq, nullptr, &event_information, nullptr, nullptr, nullptr);
  if (cond.bad()) {
    result.error = std::string("sending the report: ") + cond.text();
    return result;
  }
  T_DIMSE_Message rsp;
  T_ASC_PresentationContextID rsp_pres = 0;
  DcmDataset* detail = nullptr;
  cond = DIMSE_receiveCommand(assoc, DIMSE_BLOCKING, timeout_seconds, &rsp_pres, &rsp, &detail);
  delete detail;
  if (cond == DUL_PEERREQUESTEDRELEASE) {
    result.peer_released = true;
    result.error = "it released the association before answering the report";
    return result;
  }
  if (cond.bad()) {
    result.error = std::string("waiting for its answer: ") + cond.text();
    return result;
  }
  if (rsp.CommandField != DIMSE_N_EVENT_REPORT_RSP || rsp.msg.NEventReportRSP.MessageIDBeingRespondedTo != message_id) {
    result.error = "it sent another message instead of answering the report";
    return result;
  }
  if (rsp.msg.NEventReportRSP.DataSetType != DIMSE_DATASET_NULL) {
    DIC_UL bytes = 0, pdvs = 0;
    DIMSE_ignoreDataSet(assoc, DIMSE_BLOCKING, timeout_seconds, &bytes, &pdvs);
  }
  result.answered = true;
  result.status = rsp.msg.NEventReportRSP.DimseStatus;
  return result;
}

AssociationState HandleStorageCommitment(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                                         T_DIMSE_N_ActionRQ& request, std::optional<UndeliveredReport>& undelivered) {
  const int timeout = ctx.config.dicom.dimse_timeout_seconds;
  archive::CommitmentRequest req;
  std::uint16_t refusal = 0;  // the N-ACTION status when the request cannot be read
  auto malformed = [&](std::uint16_t status, std::string why) {
    if (refusal != 0) return;
    refusal = status;
    req.malformed = std::move(why);
  };

  // The action information, bounded in memory (drained past the bound).
  std::string bytes;
  bool over = false;
  if (request.DataSetType != DIMSE_DATASET_NULL) {
    BoundedStream stream(bytes, kMaxActionInformationBytes);
    T_ASC_PresentationContextID data_pres = pres_id;
    OFCondition cond =
        DIMSE_receiveDataSetInFile(ctx.assoc, DIMSE_BLOCKING, timeout, &data_pres, &stream, nullptr, nullptr);
    stream.flush();
    over = stream.over();
    if (cond.bad()) {
      spdlog::info("association with {}: storage commitment request not received whole ({}), aborting", ctx.peer_log,
                   cond.text());
      ctx.archive.RecordSecurityEvent("storage.commit", archive::Archive::ActorOf(ctx.principal),
                                      {{"error", std::string("request not received whole: ") + cond.text()}});
      ASC_abortAssociation(ctx.assoc);
      return AssociationState::kAborted;
    }
  }

  T_ASC_PresentationContext pc;
  std::memset(&pc, 0, sizeof pc);
  ASC_findAcceptedPresentationContext(ctx.assoc->params, pres_id, &pc);
  if (std::strcmp(pc.abstractSyntax, UID_StorageCommitmentPushModelSOPClass) != 0)
    malformed(STATUS_N_NoSuchSOPClass, "N-ACTION on a context that is not Storage Commitment");
  if (std::string(Trim(request.RequestedSOPClassUID)) != UID_StorageCommitmentPushModelSOPClass)
    malformed(STATUS_N_NoSuchSOPClass, "not the Storage Commitment Push Model SOP class");
  if (std::string(Trim(request.RequestedSOPInstanceUID)) != UID_StorageCommitmentPushModelSOPInstance)
    malformed(STATUS_N_NoSuchSOPInstance, "not the Storage Commitment Push Model SOP instance");
  if (request.ActionTypeID != 1) malformed(STATUS_N_NoSuchAction, "action type is not 1 (request commitment)");
  if (request.DataSetType == DIMSE_DATASET_NULL) malformed(STATUS_N_MissingAttribute, "no action information");
  if (over) malformed(STATUS_N_ResourceLimitation, "action information over 16 MiB");
  if (refusal == 0) {
    DcmInputBufferStream in;
    in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
    in.setEos();
    DcmDataset ds;
    ds.transferInit();
    OFCondition cond = ds.read(in, DcmXfer(pc.acceptedTransferSyntax).getXfer());
    ds.transferEnd();
    if (cond.bad())
      malformed(STATUS_N_InvalidArgumentValue, std::string("action information unreadable: ") + cond.text());
    else
      ParseActionInformation(ds, req);
  }

  auto answer = ctx.archive.CommitStorage(ctx.principal, req);
  if (!answer.ok()) {
    const Code code = answer.status().code();
    // Who may not ask is told so first, whatever else is wrong with the request.
    const std::uint16_t status = code == Code::kPermissionDenied  ? STATUS_N_Refused_NotAuthorized
                                 : refusal != 0                   ? refusal
                                 : code != Code::kInvalidArgument ? STATUS_N_ProcessingFailure
                                 : req.transaction_uid.empty() || req.references.empty()
                                     ? STATUS_N_MissingAttribute
                                     : STATUS_N_InvalidAttributeValue;
    spdlog::info("association with {}: storage commitment request refused ({}): {}", ctx.peer_log, StatusHex(status),
                 answer.status().message());
    OFCondition cond = SendActionResponse(ctx.assoc, pres_id, request, status, answer.status().message());
    if (cond.bad()) {
      ASC_abortAssociation(ctx.assoc);
      return AssociationState::kAborted;
    }
    return AssociationState::kOpen;
  }

  OFCondition cond = SendActionResponse(ctx.assoc, pres_id, request, STATUS_N_Success, "");
  const std::uint16_t event_type = answer->failed.empty() ? 1 : 2;
  std::unique_ptr<DcmDataset> info = EventInformation(req.transaction_uid, ctx.config.dicom.ae_title, *answer);
  spdlog::info("association with {}: storage commitment {}: {} committed, {} failed", ctx.peer_log, req.transaction_uid,
               answer->committed.size(), answer->failed.size());
  auto keep = [&](std::string why) {
    undelivered =
        UndeliveredReport{req.transaction_uid, event_type, std::move(info), answer->report_to, std::move(why)};
  };
  if (cond.bad()) {
    keep(std::string("the N-ACTION response could not be sent: ") + cond.text());
    ASC_abortAssociation(ctx.assoc);
    return AssociationState::kAborted;
  }

  ReportResult sent = SendCommitmentReport(ctx.assoc, pres_id, next_report_id++, event_type, *info, timeout);
  if (sent.answered) {
    archive::CommitmentReportOutcome outcome{sent.status == STATUS_Success, "same association", ""};
    if (!outcome.delivered) outcome.error = "it answered the report with status " + StatusHex(sent.status);
    ctx.archive.RecordCommitmentReport(ctx.principal, req.transaction_uid, outcome);
    if (!outcome.delivered)
      spdlog::warn("association with {}: storage commitment {}: {}", ctx.peer_log, req.transaction_uid, outcome.error);
    return AssociationState::kOpen;
  }
  keep(sent.error);
  if (sent.peer_released) {
    ASC_acknowledgeRelease(ctx.assoc);
    return AssociationState::kReleased;
  }
  ASC_abortAssociation(ctx.assoc);
  return AssociationState::kAborted;
}

void DeliverReportLater(const Config& config, archive::Archive& archive, const security::Principal& who,
                        UndeliveredReport& report) {
  archive::CommitmentReportOutcome outcome;
  outcome.how = "new association";
  const std::string node = who.kind == security::PrincipalKind::kNode ? who.id : who.via_node;
  if (!report.to) {
    outcome.error = report.why + "; no single address and port are registered for " + node + " to send it to";
    spdlog::warn("storage commitment {} for {}: report not delivered: {} (bastion node add --port)",
                 report.transaction_uid, node, outcome.error);
    archive.RecordCommitmentReport(who, report.transaction_uid, outcome);
    return;
  }
  const archive::Destination& to = *report.to;
  auto assoc = ClientAssociation::OpenForCommitmentReport(
      config, RemoteNode{to.ae_title, to.endpoint, to.tls, to.tls_cert_sha256});
  if (!assoc.ok()) {
    outcome.error = assoc.status().message();
  } else {
    auto status = (*assoc)->ReportCommitment(report.event_type, *report.event_information);
    if (!status.ok())
      outcome.error = status.status().message();
    else if (*status != STATUS_Success)
      outcome.error = "it answered the report with status " + StatusHex(*status);
    else
      outcome.delivered = true;
    (*assoc)->Release();
  }
  if (outcome.delivered)
    spdlog::info("storage commitment {} for {}: report delivered to {} on a new association", report.transaction_uid,
                 node, to.endpoint.ToString());
  else
    spdlog::warn("storage commitment {} for {}: report not delivered to {}: {}", report.transaction_uid, node,
                 to.endpoint.ToString(), outcome.error);
  archive.RecordCommitmentReport(who, report.transaction_uid, outcome);
}

}  // namespace bastion::dimse
