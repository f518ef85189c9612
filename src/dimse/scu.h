// Bastion as a DICOM client (SCU): C-STORE to a registered node (C-MOVE
// sub-operations, `bastion send`) and C-FIND on one (`bastion query`).
// Our sockets have Nagle off and quick ACKs on, whatever the environment says.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dicom/query.h"
#include "util/config.h"
#include "util/net.h"
#include "util/status.h"

class DcmDataset;
struct T_ASC_Association;
struct T_ASC_Network;
class DcmTLSTransportLayer;

namespace bastion::dimse {

struct RemoteNode {
  std::string ae_title;
  Endpoint endpoint;
  bool tls = false;  // DICOM over TLS, with our server certificate as the client certificate
  // Over TLS, the peer's certificate must be the node's: this fingerprint if
  // pinned, otherwise one issued to its AE title (security::CertificateMismatch).
  std::string tls_cert_sha256;
};

// A stored object to send: where DCMTK can read it and what it is.
struct OutgoingObject {
  std::filesystem::path file;
  std::string sop_class_uid, sop_instance_uid, transfer_syntax_uid;
};

// DIMSE status of a C-STORE sub-operation, or a local failure.
struct SendResult {
  bool ok = false;            // the peer answered (see status)
  std::uint16_t status = 0;   // its status; 0x0000 success, 0xBxxx warning
  std::string error;          // when !ok: why nothing was answered
  bool converted = false;     // sent in another transfer syntax than stored
};

// Sends one stored object on an association whose accepted contexts include
// its SOP class: as stored when its transfer syntax was accepted, otherwise
// decompressed to Explicit/Implicit VR Little Endian when DCMTK can.
// `we_are_acceptor`: on a C-GET association (the requester's), only
// contexts where the requester took the SCP role count.
SendResult SendObject(T_ASC_Association* assoc, const OutgoingObject& object, std::uint16_t message_id,
                      int dimse_timeout, bool we_are_acceptor, const std::string& move_originator_ae = {},
                      std::uint16_t move_originator_id = 0);

// Registers DCMTK's decoders (JPEG, JPEG-LS, RLE) once per process.
void RegisterCodecs();

// An association we opened. Released (or aborted) on destruction.
class ClientAssociation {
 public:
  ~ClientAssociation();
  ClientAssociation(const ClientAssociation&) = delete;
  ClientAssociation& operator=(const ClientAssociation&) = delete;

  // Storage contexts for each (SOP class, transfer syntax) to send: the
  // stored syntax, and the uncompressed ones as a fallback.
  static Result<std::unique_ptr<ClientAssociation>> OpenForStore(
      const Config& config, const RemoteNode& node,
      const std::vector<std::pair<std::string, std::string>>& sop_class_and_syntax);
  // One C-FIND context for the model.
  static Result<std::unique_ptr<ClientAssociation>> OpenForFind(const Config& config, const RemoteNode& node,
                                                                dicom::InformationModel model);

  // One Storage Commitment Push Model context, with us in the SCP role
  // (PS3.4 J.3.3: the report of a commitment the node asked for earlier).
  static Result<std::unique_ptr<ClientAssociation>> OpenForCommitmentReport(const Config& config,
                                                                            const RemoteNode& node);

  SendResult Store(const OutgoingObject& object,
                   const std::string& move_originator_ae = {}, std::uint16_t move_originator_id = 0);

  // C-FIND with `keys` (keyword, value); each match as (keyword, value) pairs.
  // Stops after `max_results`.
  struct FindAnswer {
    std::vector<std::vector<std::pair<std::string, std::string>>> matches;
    std::uint16_t final_status = 0;
    std::string error_comment;
  };
  Result<FindAnswer> Find(dicom::InformationModel model, dicom::QueryLevel level,
                          const std::vector<std::pair<std::string, std::string>>& keys, std::size_t max_results);

  // N-EVENT-REPORT of a commitment (OpenForCommitmentReport): the node's status.
  Result<std::uint16_t> ReportCommitment(std::uint16_t event_type, DcmDataset& event_information);

  void Release();

 private:
  ClientAssociation() = default;
  static Result<std::unique_ptr<ClientAssociation>> Open(const Config& config, const RemoteNode& node,
                                                         const std::vector<std::pair<std::string, std::vector<std::string>>>& contexts,
                                                         bool propose_scp_role = false);

  T_ASC_Network* net_ = nullptr;
  T_ASC_Association* assoc_ = nullptr;
  std::unique_ptr<DcmTLSTransportLayer> tls_;
  std::unique_ptr<class ClientLayer> layer_;
  int dimse_timeout_ = 120;
  std::uint16_t next_message_id_ = 1;
};

}  // namespace bastion::dimse
