#include "dimse/scu.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcdicent.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmtls/tlslayer.h>

#include <cstring>
#include <mutex>
#include <set>
#include <vector>

#include "dicom/dicom.h"
#include "dimse/commitment.h"
#include "dimse/transport.h"
#include "security/association_policy.h"
#include "security/pki.h"
#include "util/text.h"

namespace bastion::dimse {
namespace {

bool IsUncompressed(std::string_view ts) {
  return ts == UID_LittleEndianExplicitTransferSyntax || ts == UID_LittleEndianImplicitTransferSyntax ||
         ts == UID_BigEndianExplicitTransferSyntax;
}

const char* FindModelUid(dicom::InformationModel model) {
  return model == dicom::InformationModel::kPatientRoot ? UID_FINDPatientRootQueryRetrieveInformationModel
                                                        : UID_FINDStudyRootQueryRetrieveInformationModel;
}

std::string RejectText(T_ASC_Association* assoc) {
  T_ASC_RejectParameters rej;
  ASC_getRejectParameters(assoc->params, &rej);
  OFString text;
  ASC_printRejectParameters(text, &rej);
  return std::string(text.c_str());
}

}  // namespace

void RegisterCodecs() { dicom::RegisterDecoders(); }

SendResult SendObject(T_ASC_Association* assoc, const OutgoingObject& object, std::uint16_t message_id,
                      int dimse_timeout, bool we_are_acceptor, const std::string& move_originator_ae,
                      std::uint16_t move_originator_id) {
  SendResult result;
  T_ASC_PresentationContextID as_is = 0, fallback = 0;
  std::string fallback_ts;
  for (int i = 0; i < ASC_countPresentationContexts(assoc->params); ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(assoc->params, i, &pc).bad()) continue;
    if (pc.resultReason != ASC_P_ACCEPTANCE || object.sop_class_uid != pc.abstractSyntax) continue;
    // On a C-GET association we send as the storage SCU inside the
    // requester's association: only contexts where it took the SCP role.
    if (we_are_acceptor && pc.acceptedRole != ASC_SC_ROLE_SCP && pc.acceptedRole != ASC_SC_ROLE_SCUSCP) continue;
    std::string ts = pc.acceptedTransferSyntax;
    if (ts == object.transfer_syntax_uid && as_is == 0) as_is = pc.presentationContextID;
    // Explicit VR Little Endian first: it keeps the VRs.
    if (IsUncompressed(ts) && (fallback == 0 || ts == UID_LittleEndianExplicitTransferSyntax)) {
      if (fallback == 0 || fallback_ts != UID_LittleEndianExplicitTransferSyntax) {
        fallback = pc.presentationContextID;
        fallback_ts = ts;
      }
    }
  }
  if (as_is == 0 && fallback == 0) {
    result.error = "the peer accepted no presentation context for " + object.sop_class_uid;
    return result;
  }

  T_DIMSE_C_StoreRQ req;
  std::memset(&req, 0, sizeof req);
  req.MessageID = message_id;
  OFStandard::strlcpy(req.AffectedSOPClassUID, object.sop_class_uid.c_str(), sizeof req.AffectedSOPClassUID);
  OFStandard::strlcpy(req.AffectedSOPInstanceUID, object.sop_instance_uid.c_str(), sizeof req.AffectedSOPInstanceUID);
  req.DataSetType = DIMSE_DATASET_PRESENT;
  req.Priority = DIMSE_PRIORITY_MEDIUM;
  if (!move_originator_ae.empty()) {
    req.opts = O_STORE_MOVEORIGINATORAETITLE | O_STORE_MOVEORIGINATORID;
    OFStandard::strlcpy(req.MoveOriginatorApplicationEntityTitle, move_originator_ae.c_str(),
                        sizeof req.MoveOriginatorApplicationEntityTitle);
    req.MoveOriginatorID = move_originator_id;
  }
  T_DIMSE_C_StoreRSP rsp;
  std::memset(&rsp, 0, sizeof rsp);
  DcmDataset* detail = nullptr;
  OFCondition cond;
  if (as_is != 0) {
    // The stored bytes as received: DCMTK streams the file's dataset unchanged.
    cond = DIMSE_storeUser(assoc, as_is, &req, object.file.c_str(), nullptr, nullptr, nullptr, DIMSE_BLOCKING,
                           dimse_timeout, &rsp, &detail);
  } else {
    RegisterCodecs();
    DcmFileFormat ff;
    cond = ff.loadFile(object.file.c_str());
    if (cond.bad()) {
      result.error = std::string("reading the stored object: ") + cond.text();
      return result;
    }
    E_TransferSyntax target = DcmXfer(fallback_ts.c_str()).getXfer();
    DcmDataset* ds = ff.getDataset();
    if (ds->chooseRepresentation(target, nullptr).bad() || !ds->canWriteXfer(target)) {
      result.error = "cannot convert " + dicom::TransferSyntaxName(object.transfer_syntax_uid) + " to " +
                     dicom::TransferSyntaxName(fallback_ts) + ", and the peer accepts nothing else";
      return result;
    }
    result.converted = true;
    cond = DIMSE_storeUser(assoc, fallback, &req, nullptr, ds, nullptr, nullptr, DIMSE_BLOCKING, dimse_timeout, &rsp,
                           &detail);
  }
  delete detail;
  if (cond.bad()) {
    result.error = std::string("C-STORE: ") + cond.text();
    return result;
  }
  result.ok = true;
  result.status = rsp.DimseStatus;
  return result;
}

ClientAssociation::~ClientAssociation() {
  if (assoc_) {
    ASC_abortAssociation(assoc_);
    ASC_destroyAssociation(&assoc_);
  }
  if (net_) ASC_dropNetwork(&net_);
}

void ClientAssociation::Release() {
  if (!assoc_) return;
  if (ASC_releaseAssociation(assoc_).bad()) ASC_abortAssociation(assoc_);
  ASC_destroyAssociation(&assoc_);
}

Result<std::unique_ptr<ClientAssociation>> ClientAssociation::Open(
    const Config& config, const RemoteNode& node,
    const std::vector<std::pair<std::string, std::vector<std::string>>>& contexts, bool propose_scp_role) {
  if (contexts.empty()) return Status(Code::kInvalidArgument, "nothing to negotiate");
  if (contexts.size() > 128) return Status(Code::kTooLarge, "more than 128 presentation contexts needed");
  std::unique_ptr<ClientAssociation> c(new ClientAssociation());
  c->dimse_timeout_ = config.dicom.dimse_timeout_seconds;
  auto fail = [](const std::string& what, OFCondition cond) {
    return Status(Code::kUnavailable, what + ": " + cond.text());
  };
  OFCondition cond = ASC_initializeNetwork(NET_REQUESTOR, 0, config.dicom.acse_timeout_seconds, &c->net_);
  if (cond.bad()) return fail("network", cond);
  if (node.tls) {
    c->tls_ = std::make_unique<DcmTLSTransportLayer>(NET_REQUESTOR, nullptr, OFTrue);
    auto check = [](OFCondition cc, const std::string& what) {
      return cc.good() ? Status::Ok() : Status(Code::kInvalidArgument, what + ": " + cc.text());
    };
    BASTION_RETURN_IF_ERROR(check(c->tls_->setTLSProfile(TSP_Profile_BCP195_ND), "TLS profile"));
    BASTION_RETURN_IF_ERROR(check(c->tls_->activateCipherSuites(), "TLS cipher suites"));
    BASTION_RETURN_IF_ERROR(
        check(c->tls_->setPrivateKeyFile(config.tls.private_key.c_str(), DCF_Filetype_PEM), "TLS private key"));
    BASTION_RETURN_IF_ERROR(
        check(c->tls_->setCertificateFile(config.tls.certificate.c_str(), DCF_Filetype_PEM), "TLS certificate"));
    BASTION_RETURN_IF_ERROR(
        check(c->tls_->addTrustedCertificateFile(config.tls.client_ca.c_str(), DCF_Filetype_PEM), "TLS CA"));
    c->tls_->setCertificateVerification(DCV_requireCertificate);
    KeepVerifyFailures(c->tls_->getNativeHandle());
  }
  c->layer_ = std::make_unique<ClientLayer>(c->tls_ ? c->tls_->getNativeHandle() : nullptr);
  cond = ASC_setTransportLayer(c->net_, c->layer_.get(), 0);
  if (cond.bad()) return fail("transport", cond);

  T_ASC_Parameters* params = nullptr;
  cond = ASC_createAssociationParameters(&params, config.dicom.max_pdu_bytes);
  if (cond.bad()) return fail("association parameters", cond);
  ASC_setAPTitles(params, config.dicom.ae_title.c_str(), node.ae_title.c_str(), nullptr);
  OFStandard::strlcpy(params->ourImplementationClassUID, dicom::kImplementationClassUid,
                      sizeof params->ourImplementationClassUID);
  OFStandard::strlcpy(params->ourImplementationVersionName, dicom::kImplementationVersionName,
                      sizeof params->ourImplementationVersionName);
  ASC_setTransportLayerType(params, node.tls ? OFTrue : OFFalse);
  std::string address = node.endpoint.address.v6 ? "[" + node.endpoint.address.ToString() + "]"
                                                  : node.endpoint.address.ToString();
  address += ":" + std::to_string(node.endpoint.port);
  ASC_setPresentationAddresses(params, "bastion", address.c_str());
  T_ASC_PresentationContextID id = 1;
  for (const auto& [abstract, syntaxes] : contexts) {
    std::vector<const char*> ts;
    for (const auto& s : syntaxes) ts.push_back(s.c_str());
    cond = ASC_addPresentationContext(params, id, abstract.c_str(), ts.data(), static_cast<int>(ts.size()),
                                      propose_scp_role ? ASC_SC_ROLE_SCP : ASC_SC_ROLE_DEFAULT);
    if (cond.bad()) {
      ASC_destroyAssociationParameters(&params);
      return fail("presentation context", cond);
    }
    id += 2;
  }
  ClearVerifyFailure();
  cond = ASC_requestAssociation(c->net_, params, &c->assoc_);
  if (cond.bad()) {
    std::string why = cond == DUL_ASSOCIATIONREJECTED ? "rejected: " + RejectText(c->assoc_) : cond.text();
    if (std::string peer = VerifyFailure(); !peer.empty()) why += " (its " + peer + ")";
    if (c->assoc_) ASC_destroyAssociation(&c->assoc_);
    else ASC_destroyAssociationParameters(&params);
    return Status(Code::kUnavailable, "association with " + node.ae_title + " at " + address + " failed: " + why);
  }
  if (node.tls) {
    // The handshake proved only that the CA issued the peer's certificate.
    std::string cn, sha256;
    unsigned long len = ASC_getPeerCertificateLength(c->assoc_);
    if (len > 0 && len < (1u << 20)) {
      std::vector<unsigned char> der(len);
      ASC_getPeerCertificate(c->assoc_, der.data(), len);
      sha256 = security::DerFingerprint(der.data(), der.size());
      cn = security::DerCommonName(der.data(), der.size());
    }
    std::string why = security::CertificateMismatch(node.ae_title, node.tls_cert_sha256, cn, sha256);
    if (!why.empty())
      return Status(Code::kPermissionDenied, "association with " + node.ae_title + " at " + address +
                                                 " abandoned: its " + why + " (CN=" + Printable(cn) + ", SHA-256 " +
                                                 sha256 + ")");
  }
  if (ASC_countAcceptedPresentationContexts(c->assoc_->params) == 0)
    return Status(Code::kUnsupported, node.ae_title + " accepted no presentation context");
  return c;
}

Result<std::unique_ptr<ClientAssociation>> ClientAssociation::OpenForStore(
    const Config& config, const RemoteNode& node,
    const std::vector<std::pair<std::string, std::string>>& sop_class_and_syntax) {
  std::vector<std::pair<std::string, std::vector<std::string>>> contexts;
  std::set<std::pair<std::string, std::string>> seen;
  std::set<std::string> fallback_added;
  for (const auto& [sop, ts] : sop_class_and_syntax) {
    if (!IsUncompressed(ts) && seen.insert({sop, ts}).second) contexts.push_back({sop, {ts}});
    if (fallback_added.insert(sop).second)
      contexts.push_back({sop, {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax}});
  }
  return Open(config, node, contexts);
}

Result<std::unique_ptr<ClientAssociation>> ClientAssociation::OpenForFind(const Config& config, const RemoteNode& node,
                                                                         dicom::InformationModel model) {
  return Open(config, node,
              {{FindModelUid(model), {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax}}});
}

Result<std::unique_ptr<ClientAssociation>> ClientAssociation::OpenForCommitmentReport(const Config& config,
                                                                                     const RemoteNode& node) {
  return Open(config, node,
              {{UID_StorageCommitmentPushModelSOPClass,
                {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax}}},
              /*propose_scp_role=*/true);
}

Result<std::uint16_t> ClientAssociation::ReportCommitment(std::uint16_t event_type, DcmDataset& event_information) {
  if (!assoc_) return Status(Code::kUnavailable, "association closed");
  // Whichever role the node answered with: some accept the context without
  // role selection (PS3.7 D.3.3.4), and the report is what they wait for.
  T_ASC_PresentationContextID pcid =
      ASC_findAcceptedPresentationContextID(assoc_, UID_StorageCommitmentPushModelSOPClass);
  if (pcid == 0) return Status(Code::kUnavailable, "it did not accept Storage Commitment reports");
  ReportResult r =
      SendCommitmentReport(assoc_, pcid, next_message_id_++, event_type, event_information, dimse_timeout_);
  if (!r.answered) {
    ASC_abortAssociation(assoc_);
    ASC_destroyAssociation(&assoc_);
    return Status(Code::kUnavailable, r.error);
  }
  return r.status;
}

SendResult ClientAssociation::Store(const OutgoingObject& object, const std::string& move_originator_ae,
                                    std::uint16_t move_originator_id) {
  if (!assoc_) return SendResult{false, 0, "association closed", false};
  return SendObject(assoc_, object, next_message_id_++, dimse_timeout_, false, move_originator_ae, move_originator_id);
}

namespace {

struct FindContext {
  std::size_t max = 0;
  T_ASC_Association* assoc = nullptr;
  T_ASC_PresentationContextID pcid = 0;
  bool cancel_sent = false;
  std::vector<std::vector<std::pair<std::string, std::string>>> matches;
};

void OnFindResponse(void* data, T_DIMSE_C_FindRQ* request, int, T_DIMSE_C_FindRSP*, DcmDataset* ids) {
  auto* ctx = static_cast<FindContext*>(data);
  if (ctx->matches.size() >= ctx->max) {
    if (!ctx->cancel_sent) DIMSE_sendCancelRequest(ctx->assoc, ctx->pcid, request->MessageID);
    ctx->cancel_sent = true;
    return;
  }
  if (ids == nullptr) return;
  OFString charset;
  ids->findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
  std::vector<std::pair<std::string, std::string>> row;
  for (unsigned long i = 0; i < ids->card(); ++i) {
    DcmElement* e = ids->getElement(i);
    DcmTag tag = e->getTag();
    if (tag == DCM_SpecificCharacterSet) continue;
    OFString value;
    e->getOFStringArray(value);
    std::string v(Trim(value.c_str()));
    auto utf8 = dicom::ConvertToUtf8(v, charset.c_str());
    row.emplace_back(tag.getTagName(), utf8.ok() ? *utf8 : Printable(v));
  }
  ctx->matches.push_back(std::move(row));
}

}  // namespace

Result<ClientAssociation::FindAnswer> ClientAssociation::Find(
    dicom::InformationModel model, dicom::QueryLevel level,
    const std::vector<std::pair<std::string, std::string>>& keys, std::size_t max_results) {
  if (!assoc_) return Status(Code::kUnavailable, "association closed");
  T_ASC_PresentationContextID pcid = ASC_findAcceptedPresentationContextID(assoc_, FindModelUid(model));
  if (pcid == 0) return Status(Code::kUnsupported, "the peer does not accept this query model");
  DcmDataset query;
  query.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
  query.putAndInsertString(DCM_QueryRetrieveLevel, std::string(dicom::QueryLevelName(level)).c_str());
  for (const auto& [keyword, value] : keys) {
    DcmTag tag;
    if (DcmTag::findTagFromName(keyword.c_str(), tag).bad())
      return Status(Code::kInvalidArgument, "unknown attribute keyword '" + Printable(keyword) + "'");
    if (query.putAndInsertString(tag, value.c_str()).bad())
      return Status(Code::kInvalidArgument, "bad value for " + keyword);
  }
  T_DIMSE_C_FindRQ req;
  std::memset(&req, 0, sizeof req);
  req.MessageID = next_message_id_++;
  OFStandard::strlcpy(req.AffectedSOPClassUID, FindModelUid(model), sizeof req.AffectedSOPClassUID);
  req.DataSetType = DIMSE_DATASET_PRESENT;
  req.Priority = DIMSE_PRIORITY_MEDIUM;
  FindContext ctx{max_results, assoc_, pcid, false, {}};
  T_DIMSE_C_FindRSP rsp;
  std::memset(&rsp, 0, sizeof rsp);
  DcmDataset* detail = nullptr;
  int count = 0;
  OFCondition cond = DIMSE_findUser(assoc_, pcid, &req, &query, count, OnFindResponse, &ctx, DIMSE_BLOCKING,
                                    dimse_timeout_, &rsp, &detail);
  FindAnswer answer;
  if (detail) {
    OFString comment;
    if (detail->findAndGetOFString(DCM_ErrorComment, comment).good()) answer.error_comment = Printable(comment.c_str());
    delete detail;
  }
  if (cond.bad()) return Status(Code::kUnavailable, std::string("C-FIND: ") + cond.text());
  answer.final_status = rsp.DimseStatus;
  answer.matches = std::move(ctx.matches);
  return answer;
}

}  // namespace bastion::dimse
