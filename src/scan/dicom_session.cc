// DICOM associations and DIMSE operations for the scanner, through DCMTK's
// SCU API. Received datasets are counted and dropped: no value is copied out
// except the first Study Instance UID of a study-level C-FIND, which stays in
// memory to aim the retrieve proof when no canary was given.
#include <arpa/inet.h>
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/dul.h>
#include <dcmtk/dcmtls/tlslayer.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "dicom/dicom.h"
#include "scan/probe.h"
#include "util/net.h"
#include "util/text.h"

namespace bastion::scan {
namespace {

constexpr const char* kPatientRootFind = UID_FINDPatientRootQueryRetrieveInformationModel;
constexpr const char* kPatientRootMove = UID_MOVEPatientRootQueryRetrieveInformationModel;
constexpr const char* kPatientRootGet = UID_GETPatientRootQueryRetrieveInformationModel;
constexpr const char* kStudyRootFind = UID_FINDStudyRootQueryRetrieveInformationModel;
constexpr const char* kStudyRootMove = UID_MOVEStudyRootQueryRetrieveInformationModel;
constexpr const char* kStudyRootGet = UID_GETStudyRootQueryRetrieveInformationModel;
constexpr const char* kWorklistFind = UID_FINDModalityWorklistInformationModel;

struct NamedSyntax {
  const char* uid;
  const char* name;
};
const NamedSyntax kCapability[] = {
    {UID_VerificationSOPClass, "Verification"},
    {kPatientRootFind, "Patient Root FIND"},
    {kPatientRootMove, "Patient Root MOVE"},
    {kPatientRootGet, "Patient Root GET"},
    {kStudyRootFind, "Study Root FIND"},
    {kStudyRootMove, "Study Root MOVE"},
    {kStudyRootGet, "Study Root GET"},
    {kWorklistFind, "Modality Worklist FIND"},
    {UID_CTImageStorage, "CT Image Storage"},
    {UID_MRImageStorage, "MR Image Storage"},
    {UID_SecondaryCaptureImageStorage, "Secondary Capture Image Storage"},
};

const char* kUncompressed[] = {UID_LittleEndianExplicitTransferSyntax,
                               UID_LittleEndianImplicitTransferSyntax};

std::string NameFor(const std::string& uid) {
  for (const auto& s : kCapability)
    if (uid == s.uid) return s.name;
  const char* name = dcmFindNameOfUID(uid.c_str(), nullptr);
  return name ? name : uid;
}

std::string Hex(std::uint16_t v) {
  char b[8];
  std::snprintf(b, sizeof b, "0x%04X", v);
  return b;
}

// The local address the kernel would use to reach `address` (no packet sent).
std::string LocalAddressFor(const std::string& address, std::uint16_t port) {
  auto ip = IpAddress::Parse(address);
  if (!ip) return "";
  int fd = ::socket(ip->v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_storage ss{};
  socklen_t len = ToSockaddr(*ip, port, &ss);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    sockaddr_storage local{};
    socklen_t llen = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0)
      if (auto l = IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&local)))
        out = l->ToString();
  }
  ::close(fd);
  return out;
}

// The synthetic instance: Secondary Capture, marked in every human-readable field.
std::unique_ptr<DcmFileFormat> MakeSynthetic() {
  auto ff = std::make_unique<DcmFileFormat>();
  DcmDataset* ds = ff->getDataset();
  char study[100], series[100], instance[100];
  dcmGenerateUniqueIdentifier(study, SITE_STUDY_UID_ROOT);
  dcmGenerateUniqueIdentifier(series, SITE_SERIES_UID_ROOT);
  dcmGenerateUniqueIdentifier(instance, SITE_INSTANCE_UID_ROOT);
  ds->putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, instance);
  ds->putAndInsertString(DCM_StudyInstanceUID, study);
  ds->putAndInsertString(DCM_SeriesInstanceUID, series);
  ds->putAndInsertString(DCM_PatientName, "BASTION^SCAN^SYNTHETIC");
  ds->putAndInsertString(DCM_PatientID, "BASTION-SCAN-SYNTHETIC");
  ds->putAndInsertString(DCM_PatientBirthDate, "");
  ds->putAndInsertString(DCM_PatientSex, "O");
  ds->putAndInsertString(DCM_StudyDescription,
                         "bastion scan write test: synthetic, no patient, safe to delete");
  ds->putAndInsertString(DCM_SeriesDescription, "bastion scan synthetic instance");
  ds->putAndInsertString(DCM_StudyID, "SCAN");
  ds->putAndInsertString(DCM_AccessionNumber, "");
  ds->putAndInsertString(DCM_ReferringPhysicianName, "");
  ds->putAndInsertString(DCM_StudyDate, "20000101");
  ds->putAndInsertString(DCM_StudyTime, "000000");
  ds->putAndInsertString(DCM_Modality, "OT");
  ds->putAndInsertString(DCM_ConversionType, "SYN");
  ds->putAndInsertString(DCM_SeriesNumber, "1");
  ds->putAndInsertString(DCM_InstanceNumber, "1");
  ds->putAndInsertString(DCM_PatientOrientation, "");
  ds->putAndInsertString(
      DCM_ImageComments,
      "Written by `bastion scan --allow-write` to prove that anyone may store here.");
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds->putAndInsertUint16(DCM_Rows, 8);
  ds->putAndInsertUint16(DCM_Columns, 8);
  ds->putAndInsertUint16(DCM_BitsAllocated, 8);
  ds->putAndInsertUint16(DCM_BitsStored, 8);
  ds->putAndInsertUint16(DCM_HighBit, 7);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  Uint8 pixels[64];
  for (int i = 0; i < 64; ++i) pixels[i] = static_cast<Uint8>(((i / 8 + i % 8) % 2) ? 255 : 0);
  ds->putAndInsertUint8Array(DCM_PixelData, pixels, 64);
  return ff;
}

}  // namespace

std::string SyntheticInstancePart10() {
  auto ff = MakeSynthetic();
  char tmpl[] = "/tmp/bastion-scan-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) return "";
  ::close(fd);
  std::string out;
  if (ff->saveFile(tmpl, EXS_LittleEndianExplicit).good()) {
    std::ifstream in(tmpl, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    out = s.str();
  }
  std::filesystem::remove(tmpl);
  return out;
}

// ---------------------------------------------------------------- outcome

bool AssociationOutcome::Accepts(std::string_view part) const {
  for (const auto& c : contexts)
    if (c.accepted && c.name.find(part) != std::string::npos) return true;
  return false;
}

bool AssociationOutcome::AcceptsData() const {
  for (const auto& c : contexts)
    if (c.accepted && c.abstract_syntax != UID_VerificationSOPClass) return true;
  return false;
}

std::vector<std::string> AssociationOutcome::AcceptedNames() const {
  std::vector<std::string> out;
  for (const auto& c : contexts)
    if (c.accepted && std::find(out.begin(), out.end(), c.name) == out.end()) out.push_back(c.name);
  return out;
}

std::string AssociationOutcome::Describe() const {
  switch (kind) {
    case kAccepted: {
      int n = 0, total = 0;
      std::string names;
      for (const auto& c : contexts) {
        ++total;
        if (!c.accepted) continue;
        ++n;
        if (names.find(c.name) == std::string::npos) names += (names.empty() ? "" : ", ") + c.name;
      }
      std::string s = "A-ASSOCIATE-AC, " + std::to_string(n) + " of " + std::to_string(total) +
                      " presentation contexts accepted" + (names.empty() ? "" : " (" + names + ")");
      if (identity_acknowledged) s += ", User Identity response received";
      return s;
    }
    case kRejected:
      return DescribeReject(reject);
    case kAborted:
      return "A-ABORT (" + detail + ")";
    case kNotDicom:
      return "no DICOM answer (" + detail + ")";
    case kNoConnection:
      return "no connection (" + detail + ")";
    case kTlsFailed:
      return "TLS failed (" + detail + ")";
  }
  return detail;
}

// ---------------------------------------------------------------- session

struct DicomSession::State {
  T_ASC_Network* net = nullptr;
  std::unique_ptr<DcmTLSTransportLayer> tls;
  std::vector<std::string> storage_classes;
};

DicomSession::DicomSession(const Options& options, Pacer& pacer)
    : options_(options), pacer_(pacer), state_(std::make_unique<State>()) {}

DicomSession::~DicomSession() {
  Release();
  if (state_->net) ASC_dropNetwork(&state_->net);
}

void DicomSession::Release() {
  auto* assoc = static_cast<T_ASC_Association*>(assoc_);
  if (!assoc) return;
  if (ASC_releaseAssociation(assoc).bad()) ASC_abortAssociation(assoc);
  ASC_destroyAssociation(&assoc);
  assoc_ = nullptr;
}

AssociationOutcome DicomSession::Open(const std::string& address, std::uint16_t port, bool tls,
                                      const std::string& calling, const std::string& called,
                                      Proposal proposal, const Identity* identity) {
  Release();
  AssociationOutcome out;
  out.local_address = LocalAddressFor(address, port);
  dcmDisableGethostbyaddr.set(OFTrue);
  dcmConnectionTimeout.set(options_.connect_timeout_seconds);
  if (state_->net) ASC_dropNetwork(&state_->net);
  OFCondition cond =
      ASC_initializeNetwork(NET_REQUESTOR, 0, options_.acse_timeout_seconds, &state_->net);
  if (cond.bad()) {
    out.detail = cond.text();
    return out;
  }
  if (tls) {
    state_->tls = std::make_unique<DcmTLSTransportLayer>(NET_REQUESTOR, nullptr, OFTrue);
    state_->tls->setTLSProfile(TSP_Profile_BCP195);
    state_->tls->activateCipherSuites();
    state_->tls->setCertificateVerification(DCV_ignoreCertificate);
    if (!options_.tls_certificate.empty()) {
      OFCondition c =
          state_->tls->setPrivateKeyFile(options_.tls_private_key.c_str(), DCF_Filetype_PEM);
      if (c.good())
        c = state_->tls->setCertificateFile(options_.tls_certificate.c_str(), DCF_Filetype_PEM);
      if (c.bad() || !state_->tls->checkPrivateKeyMatchesCertificate()) {
        out.kind = AssociationOutcome::kTlsFailed;
        out.detail = "the client certificate or key given with --tls-cert/--tls-key is unusable";
        return out;
      }
    }
    ASC_setTransportLayer(state_->net, state_->tls.get(), 0);
  }
  static const std::vector<const char*> all_ts = [] {
    std::vector<const char*> v;
    for (const auto& t : dicom::AcceptedTransferSyntaxes())
      if (v.size() < 20) v.push_back(t.c_str());
    return v;
  }();
  std::vector<std::pair<const char*, bool>> proposed;  // abstract syntax, storage in the SCP role
  if (proposal == Proposal::kVerification) {
    proposed.push_back({UID_VerificationSOPClass, false});
  } else if (proposal == Proposal::kCapability) {
    for (const auto& s : kCapability) proposed.push_back({s.uid, false});
  } else {
    proposed.push_back({kStudyRootGet, false});
    proposed.push_back({kPatientRootGet, false});
    // Storage in the SCP role, every transfer syntax we can take (the bytes are dropped anyway).
    for (const auto& sop : dicom::StorageSopClasses()) {
      if (proposed.size() >= 120) break;
      proposed.push_back({sop.c_str(), true});
    }
  }
  for (const auto& [uid, scp] : proposed) out.contexts.push_back({NameFor(uid), uid, false});
  std::string peer = (address.find(':') != std::string::npos ? "[" + address + "]" : address) +
                     ":" + std::to_string(port);
  // The association owns its parameters, so every attempt gets new ones.
  auto make_params = [&] {
    T_ASC_Parameters* params = nullptr;
    ASC_createAssociationParameters(&params, ASC_DEFAULTMAXPDU);
    ASC_setAPTitles(params, calling.c_str(), called.c_str(), nullptr);
    ASC_setPresentationAddresses(params, "localhost", peer.c_str());
    if (tls) ASC_setTransportLayerType(params, OFTrue);
    T_ASC_PresentationContextID id = 1;
    for (const auto& [uid, scp] : proposed) {
      if (scp)
        ASC_addPresentationContext(params, id, uid, const_cast<const char**>(all_ts.data()),
                                   static_cast<int>(all_ts.size()), ASC_SC_ROLE_SCP);
      else
        ASC_addPresentationContext(params, id, uid, kUncompressed, 2);
      id += 2;
    }
    if (identity)
      ASC_setIdentRQUserPassword(params, identity->user.c_str(), identity->passcode.c_str(),
                                 OFTrue);
    return params;
  };

  T_ASC_Association* assoc = nullptr;
  T_ASC_Parameters* params = nullptr;
  for (int attempt = 0; attempt <= options_.retries; ++attempt) {
    if (assoc) {
      ASC_dropAssociation(assoc);
      ASC_destroyAssociation(&assoc);
    } else if (params) {
      ASC_destroyAssociationParameters(&params);
    }
    params = make_params();
    pacer_.Wait();
    cond = ASC_requestAssociation(state_->net, params, &assoc);
    // Retry only where the network, not the peer, failed (no answer at all).
    if (cond.good() || cond == DUL_ASSOCIATIONREJECTED || cond == DUL_PEERABORTEDASSOCIATION) break;
    if (std::string(cond.text()).find("Connection refused") != std::string::npos) break;
  }
  if (cond.good()) {
    out.kind = AssociationOutcome::kAccepted;
    for (int i = 0; i < ASC_countPresentationContexts(params); ++i) {
      T_ASC_PresentationContext pc;
      if (ASC_getPresentationContext(params, i, &pc).bad()) continue;
      for (auto& c : out.contexts)
        if (c.abstract_syntax == pc.abstractSyntax && pc.resultReason == ASC_P_ACCEPTANCE)
          c.accepted = true;
    }
    out.implementation_class_uid = params->theirImplementationClassUID;
    out.implementation_version = params->theirImplementationVersionName;
    UserIdentityNegotiationSubItemAC* ac = nullptr;
    ASC_getUserIdentAC(params, &ac);
    out.identity_acknowledged = ac != nullptr;
    assoc_ = assoc;
    return out;
  }
  out.detail = cond.text();
  if (cond == DUL_ASSOCIATIONREJECTED) {
    T_ASC_RejectParameters rej;
    ASC_getRejectParameters(params, &rej);
    out.kind = AssociationOutcome::kRejected;
    out.reject.result = static_cast<int>(rej.result);
    out.reject.source = static_cast<int>(rej.source);
    out.reject.reason = static_cast<int>(rej.reason) & 0xff;
  } else if (cond == DUL_PEERABORTEDASSOCIATION) {
    out.kind = AssociationOutcome::kAborted;
  } else if (tls) {
    out.kind = AssociationOutcome::kTlsFailed;
  } else if (out.detail.find("Connection refused") != std::string::npos ||
             out.detail.find("timed out") != std::string::npos ||
             out.detail.find("No route") != std::string::npos) {
    out.kind = AssociationOutcome::kNoConnection;
  } else {
    out.kind = AssociationOutcome::kNotDicom;
  }
  if (assoc) {
    ASC_dropAssociation(assoc);
    ASC_destroyAssociation(&assoc);
  } else {
    ASC_destroyAssociationParameters(&params);
  }
  return out;
}

// ---------------------------------------------------------------- C-FIND

namespace {

struct FindCounter {
  T_ASC_Association* assoc;
  T_ASC_PresentationContextID pid;
  FindOutcome* out;
  std::string* first_study;
  int limit;
};

void OnFindAnswer(void* data, T_DIMSE_C_FindRQ* request, int count, T_DIMSE_C_FindRSP* /*rsp*/,
                  DcmDataset* identifiers) {
  auto* c = static_cast<FindCounter*>(data);
  ++c->out->answers;  // one per pending response (DCMTK's own count includes the final one)
  if (identifiers) {
    // Which attributes were filled: names only, never values.
    for (unsigned long i = 0; i < identifiers->card(); ++i) {
      DcmElement* e = identifiers->getElement(i);
      if (!e || e->getLength() == 0) continue;
      DcmTag tag = e->getTag();
      if (tag == DCM_QueryRetrieveLevel || tag == DCM_SpecificCharacterSet) continue;
      c->out->filled.insert(tag.getTagName());
      if (tag == DCM_StudyInstanceUID && c->first_study && c->first_study->empty()) {
        OFString uid;
        if (e->getOFString(uid, 0).good()) *c->first_study = uid.c_str();
      }
    }
  }
  (void)count;
  if (c->out->answers >= c->limit && !c->out->cancelled) {
    c->out->cancelled = true;
    DIMSE_sendCancelRequest(c->assoc, c->pid, request->MessageID);
  }
}

}  // namespace

FindOutcome DicomSession::FindAll(bool study_level, std::string* first_study) {
  FindOutcome out;
  auto* assoc = static_cast<T_ASC_Association*>(assoc_);
  if (!assoc) return out;
  const char* sop = study_level ? kStudyRootFind : kPatientRootFind;
  T_ASC_PresentationContextID pid = ASC_findAcceptedPresentationContextID(assoc, sop);
  if (pid == 0) return out;
  DcmDataset query;
  query.putAndInsertString(DCM_QueryRetrieveLevel, study_level ? "STUDY" : "PATIENT");
  query.putAndInsertString(DCM_PatientName, "*");
  query.putAndInsertString(DCM_PatientID, "");
  query.putAndInsertString(DCM_PatientBirthDate, "");
  query.putAndInsertString(DCM_PatientSex, "");
  if (study_level) {
    query.putAndInsertString(DCM_StudyInstanceUID, "");
    query.putAndInsertString(DCM_StudyDate, "");
    query.putAndInsertString(DCM_StudyDescription, "");
    query.putAndInsertString(DCM_AccessionNumber, "");
    query.putAndInsertString(DCM_ModalitiesInStudy, "");
  }
  T_DIMSE_C_FindRQ req{};
  req.MessageID = assoc->nextMsgID++;
  OFStandard::strlcpy(req.AffectedSOPClassUID, sop, sizeof req.AffectedSOPClassUID);
  req.Priority = DIMSE_PRIORITY_MEDIUM;
  req.DataSetType = DIMSE_DATASET_PRESENT;
  T_DIMSE_C_FindRSP rsp{};
  DcmDataset* detail = nullptr;
  FindCounter counter{assoc, pid, &out, first_study, options_.max_find_results};
  int count = 0;
  out.sent = true;
  OFCondition cond = DIMSE_findUser(assoc, pid, &req, &query, count, OnFindAnswer, &counter,
                                    DIMSE_BLOCKING, options_.dimse_timeout_seconds, &rsp, &detail);
  delete detail;
  if (cond.good())
    out.final_status = rsp.DimseStatus;
  else
    out.error = cond.text();
  return out;
}

// ---------------------------------------------------------------- C-GET

namespace {

// Receives C-STORE sub-operations on `assoc` until the final C-GET/C-MOVE
// response (or, for our move SCP, a release). Datasets are dropped unread.
void AnswerStore(T_ASC_Association* assoc, T_ASC_PresentationContextID pid, T_DIMSE_C_StoreRQ& rq) {
  T_DIMSE_C_StoreRSP rsp{};
  rsp.MessageIDBeingRespondedTo = rq.MessageID;
  OFStandard::strlcpy(rsp.AffectedSOPClassUID, rq.AffectedSOPClassUID,
                      sizeof rsp.AffectedSOPClassUID);
  OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, rq.AffectedSOPInstanceUID,
                      sizeof rsp.AffectedSOPInstanceUID);
  rsp.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
  rsp.DataSetType = DIMSE_DATASET_NULL;
  rsp.DimseStatus = STATUS_Success;
  DIMSE_sendStoreResponse(assoc, pid, &rq, &rsp, nullptr);
}

constexpr int kMaxRetrievedInstances = 200;  // the proof needs one; stop a runaway transfer

}  // namespace

RetrieveOutcome DicomSession::GetStudy(const std::string& study_uid) {
  RetrieveOutcome out;
  auto* assoc = static_cast<T_ASC_Association*>(assoc_);
  if (!assoc) return out;
  const char* sop = kStudyRootGet;
  T_ASC_PresentationContextID pid = ASC_findAcceptedPresentationContextID(assoc, sop);
  bool patient_root = false;
  if (pid == 0) {
    sop = kPatientRootGet;
    pid = ASC_findAcceptedPresentationContextID(assoc, sop);
    patient_root = true;
  }
  if (pid == 0) return out;
  DcmDataset query;
  query.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  query.putAndInsertString(DCM_StudyInstanceUID, study_uid.c_str());
  (void)patient_root;  // patient root needs the Patient ID, which we do not keep: the request may
                       // fail
  T_DIMSE_Message msg{};
  msg.CommandField = DIMSE_C_GET_RQ;
  T_DIMSE_C_GetRQ& rq = msg.msg.CGetRQ;
  rq.MessageID = assoc->nextMsgID++;
  OFStandard::strlcpy(rq.AffectedSOPClassUID, sop, sizeof rq.AffectedSOPClassUID);
  rq.Priority = DIMSE_PRIORITY_MEDIUM;
  rq.DataSetType = DIMSE_DATASET_PRESENT;
  out.sent = true;
  OFCondition cond =
      DIMSE_sendMessageUsingMemoryData(assoc, pid, &msg, nullptr, &query, nullptr, nullptr);
  if (cond.bad()) {
    out.error = cond.text();
    return out;
  }
  for (int guard = 0; guard < kMaxRetrievedInstances * 2 + 10; ++guard) {
    T_DIMSE_Message in{};
    T_ASC_PresentationContextID rpid = 0;
    DcmDataset* detail = nullptr;
    cond = DIMSE_receiveCommand(assoc, DIMSE_BLOCKING, options_.dimse_timeout_seconds, &rpid, &in,
                                &detail);
    delete detail;
    if (cond.bad()) {
      out.error = cond.text();
      break;
    }
    if (in.CommandField == DIMSE_C_STORE_RQ) {
      DIC_UL bytes = 0, pdvs = 0;
      cond =
          DIMSE_ignoreDataSet(assoc, DIMSE_BLOCKING, options_.dimse_timeout_seconds, &bytes, &pdvs);
      if (cond.bad()) {
        out.error = cond.text();
        break;
      }
      ++out.instances_received;
      AnswerStore(assoc, rpid, in.msg.CStoreRQ);
      if (out.instances_received >= kMaxRetrievedInstances) {
        ASC_abortAssociation(assoc);
        ASC_destroyAssociation(&assoc);
        assoc_ = nullptr;
        break;
      }
      continue;
    }
    if (in.CommandField == DIMSE_C_GET_RSP) {
      T_DIMSE_C_GetRSP& r = in.msg.CGetRSP;
      if (r.DataSetType != DIMSE_DATASET_NULL) {
        DIC_UL bytes = 0, pdvs = 0;
        DIMSE_ignoreDataSet(assoc, DIMSE_BLOCKING, options_.dimse_timeout_seconds, &bytes, &pdvs);
      }
      out.final_status = r.DimseStatus;
      out.completed = r.NumberOfCompletedSubOperations;
      out.failed = r.NumberOfFailedSubOperations;
      out.warning = r.NumberOfWarningSubOperations;
      if (r.DimseStatus == STATUS_Pending) continue;
      break;
    }
    out.error = "unexpected command " + Hex(in.CommandField);
    break;
  }
  return out;
}

// ---------------------------------------------------------------- C-MOVE

int ListenForMove(const std::string& local_address, std::uint16_t port, std::uint16_t* bound_port,
                  std::string* error) {
  auto ip = IpAddress::Parse(local_address.empty() ? "127.0.0.1" : local_address);
  if (!ip) {
    *error = "no local address";
    return -1;
  }
  int fd = ::socket(ip->v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::strerror(errno);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len = ToSockaddr(*ip, port, &ss);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 4) != 0) {
    *error = std::string("cannot listen on ") + EndpointName(ip->ToString(), port) + ": " +
             std::strerror(errno);
    ::close(fd);
    return -1;
  }
  sockaddr_storage got{};
  socklen_t glen = sizeof got;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&got), &glen);
  *bound_port = ntohs(ip->v6 ? reinterpret_cast<sockaddr_in6*>(&got)->sin6_port
                             : reinterpret_cast<sockaddr_in*>(&got)->sin_port);
  return fd;
}

namespace {

// Our short-lived storage SCP: accepts the associations the server opens
// while the C-MOVE runs, counts the instances and drops them.
void ServeMoveDestination(int listen_fd, const std::string& our_ae, int timeout_seconds,
                          std::atomic<bool>& done, RetrieveOutcome& out) {
  while (!done.load()) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    auto peer = IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss));
    timeval tv{timeout_seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    T_ASC_Network* net = nullptr;
    T_ASC_Association* assoc = nullptr;
    dcmExternalSocketHandle.set(fd);
    OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, 0, timeout_seconds, &net);
    if (cond.good())
      cond = ASC_receiveAssociation(net, &assoc, ASC_DEFAULTMAXPDU, nullptr, nullptr, OFFalse,
                                    DUL_BLOCK, timeout_seconds);
    dcmExternalSocketHandle.set(-1);
    if (cond.bad()) {
      if (!assoc) ::close(fd);
      if (assoc) {
        ASC_dropAssociation(assoc);
        ASC_destroyAssociation(&assoc);
      }
      if (net) ASC_dropNetwork(&net);
      continue;
    }
    out.connected_back = true;
    out.connect_back_from = std::string("calling AE ") +
                            Printable(Trim(assoc->params->DULparams.callingAPTitle)) + " from " +
                            (peer ? peer->ToString() : "?");
    static std::vector<const char*> ts = [] {
      std::vector<const char*> v;
      for (const auto& t : dicom::AcceptedTransferSyntaxes()) v.push_back(t.c_str());
      return v;
    }();
    for (int i = 0; i < ASC_countPresentationContexts(assoc->params); ++i) {
      T_ASC_PresentationContext pc;
      if (ASC_getPresentationContext(assoc->params, i, &pc).bad()) continue;
      const char* chosen = nullptr;
      for (int t = 0; t < pc.transferSyntaxCount && !chosen; ++t)
        for (const char* ok : ts)
          if (std::string(pc.proposedTransferSyntaxes[t]) == ok)
            chosen = pc.proposedTransferSyntaxes[t];
      if (chosen)
        ASC_acceptPresentationContext(assoc->params, pc.presentationContextID, chosen);
      else
        ASC_refusePresentationContext(assoc->params, pc.presentationContextID,
                                      ASC_P_TRANSFERSYNTAXESNOTSUPPORTED);
    }
    ASC_setAPTitles(assoc->params, nullptr, nullptr, our_ae.c_str());
    if (ASC_acknowledgeAssociation(assoc).good()) {
      for (int guard = 0; guard < kMaxRetrievedInstances + 5; ++guard) {
        T_DIMSE_Message msg{};
        T_ASC_PresentationContextID pid = 0;
        DcmDataset* detail = nullptr;
        cond = DIMSE_receiveCommand(assoc, DIMSE_BLOCKING, timeout_seconds, &pid, &msg, &detail);
        delete detail;
        if (cond == DUL_PEERREQUESTEDRELEASE) {
          ASC_acknowledgeRelease(assoc);
          break;
        }
        if (cond.bad()) break;
        if (msg.CommandField == DIMSE_C_STORE_RQ) {
          DIC_UL bytes = 0, pdvs = 0;
          if (DIMSE_ignoreDataSet(assoc, DIMSE_BLOCKING, timeout_seconds, &bytes, &pdvs).bad())
            break;
          ++out.instances_received;
          AnswerStore(assoc, pid, msg.msg.CStoreRQ);
        } else if (msg.CommandField == DIMSE_C_ECHO_RQ) {
          DIMSE_sendEchoResponse(assoc, pid, &msg.msg.CEchoRQ, STATUS_Success, nullptr);
        } else {
          ASC_abortAssociation(assoc);
          break;
        }
      }
    }
    ASC_dropSCPAssociation(assoc, 1);
    ASC_destroyAssociation(&assoc);
    ASC_dropNetwork(&net);
  }
}

}  // namespace

RetrieveOutcome DicomSession::MoveStudy(const std::string& study_uid,
                                        const std::string& destination_ae, int scp_fd) {
  RetrieveOutcome out;
  auto* assoc = static_cast<T_ASC_Association*>(assoc_);
  if (!assoc) return out;
  const char* sop = kStudyRootMove;
  T_ASC_PresentationContextID pid = ASC_findAcceptedPresentationContextID(assoc, sop);
  if (pid == 0) {
    sop = kPatientRootMove;
    pid = ASC_findAcceptedPresentationContextID(assoc, sop);
  }
  if (pid == 0) return out;
  DcmDataset query;
  query.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  query.putAndInsertString(DCM_StudyInstanceUID, study_uid.c_str());
  T_DIMSE_C_MoveRQ req{};
  req.MessageID = assoc->nextMsgID++;
  OFStandard::strlcpy(req.AffectedSOPClassUID, sop, sizeof req.AffectedSOPClassUID);
  req.Priority = DIMSE_PRIORITY_MEDIUM;
  req.DataSetType = DIMSE_DATASET_PRESENT;
  OFStandard::strlcpy(req.MoveDestination, destination_ae.c_str(), sizeof req.MoveDestination);
  std::atomic<bool> done{false};
  RetrieveOutcome scp;
  std::thread server([&] {
    ServeMoveDestination(scp_fd, destination_ae, options_.dimse_timeout_seconds, done, scp);
  });
  T_DIMSE_C_MoveRSP rsp{};
  DcmDataset* detail = nullptr;
  DcmDataset* ids = nullptr;
  out.sent = true;
  OFCondition cond = DIMSE_moveUser(assoc, pid, &req, &query, nullptr, nullptr, DIMSE_BLOCKING,
                                    options_.dimse_timeout_seconds, nullptr, nullptr, nullptr, &rsp,
                                    &detail, &ids, OFTrue);
  delete detail;
  delete ids;
  done.store(true);
  server.join();
  if (cond.good()) {
    out.final_status = rsp.DimseStatus;
    out.completed = rsp.NumberOfCompletedSubOperations;
    out.failed = rsp.NumberOfFailedSubOperations;
    out.warning = rsp.NumberOfWarningSubOperations;
  } else {
    out.error = cond.text();
  }
  out.connected_back = scp.connected_back;
  out.connect_back_from = scp.connect_back_from;
  out.instances_received = scp.instances_received;
  return out;
}

// ---------------------------------------------------------------- C-STORE

StoreOutcome DicomSession::StoreSynthetic() {
  StoreOutcome out;
  auto* assoc = static_cast<T_ASC_Association*>(assoc_);
  if (!assoc) return out;
  T_ASC_PresentationContextID pid =
      ASC_findAcceptedPresentationContextID(assoc, UID_SecondaryCaptureImageStorage);
  if (pid == 0) return out;
  auto ff = MakeSynthetic();
  DcmDataset* ds = ff->getDataset();
  T_ASC_PresentationContext pc;
  ASC_findAcceptedPresentationContext(assoc->params, pid, &pc);
  ds->chooseRepresentation(DcmXfer(pc.acceptedTransferSyntax).getXfer(), nullptr);
  OFString instance;
  ds->findAndGetOFString(DCM_SOPInstanceUID, instance);
  T_DIMSE_C_StoreRQ req{};
  req.MessageID = assoc->nextMsgID++;
  OFStandard::strlcpy(req.AffectedSOPClassUID, UID_SecondaryCaptureImageStorage,
                      sizeof req.AffectedSOPClassUID);
  OFStandard::strlcpy(req.AffectedSOPInstanceUID, instance.c_str(),
                      sizeof req.AffectedSOPInstanceUID);
  req.Priority = DIMSE_PRIORITY_MEDIUM;
  req.DataSetType = DIMSE_DATASET_PRESENT;
  T_DIMSE_C_StoreRSP rsp{};
  DcmDataset* detail = nullptr;
  out.sent = true;
  OFCondition cond = DIMSE_storeUser(assoc, pid, &req, nullptr, ds, nullptr, nullptr,
                                     DIMSE_BLOCKING, options_.dimse_timeout_seconds, &rsp, &detail);
  delete detail;
  if (cond.good())
    out.status = rsp.DimseStatus;
  else
    out.error = cond.text();
  return out;
}

}  // namespace bastion::scan
