// Storage Commitment Push Model as SCP (PS3.4 Annex J) on an admitted
// association, translated into an archive call. Private to dimse/.
//
// The report (N-EVENT-REPORT) follows the N-ACTION response at once on the
// same association, since every instance the archive answered a C-STORE for
// is already durable. A requester that released first (some modalities wait
// for the report on their own listener) gets it on a new association to the
// node's registered address and port, with us in the SCP role.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "archive/archive.h"
#include "dimse/qr.h"
#include "util/config.h"

namespace bastion::dimse {

// A report the requester's association did not take.
struct UndeliveredReport {
  std::string transaction_uid;
  std::uint16_t event_type = 1;
  std::unique_ptr<DcmDataset> event_information;
  std::optional<archive::Destination> to;  // the node's address and port, when registered
  std::string why;                         // why it did not go on the same association
};

enum class AssociationState { kOpen, kReleased, kAborted };

// Answers an N-ACTION-RQ (its dataset still to be read) and, when the archive
// accepted it, sends the report on the same association. When the requester
// released or aborted before answering the report, `undelivered` holds it.
// The association is released/aborted here when the result says so.
AssociationState HandleStorageCommitment(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                                         T_DIMSE_N_ActionRQ& request, std::optional<UndeliveredReport>& undelivered);

// Sends a report on a new association to the node that asked (one attempt)
// and audits how it went, as on the same association.
void DeliverReportLater(const Config& config, archive::Archive& archive, const security::Principal& who,
                        UndeliveredReport& report);

// N-EVENT-REPORT-RQ on `pres_id`, then its response. Used on both sides.
struct ReportResult {
  bool answered = false;  // a response came; `status` is its status
  std::uint16_t status = 0;
  bool peer_released = false;  // the peer asked to release instead (not yet acknowledged)
  std::string error;           // when !answered
};
ReportResult SendCommitmentReport(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                                  std::uint16_t message_id, std::uint16_t event_type, DcmDataset& event_information,
                                  int timeout_seconds);

}  // namespace bastion::dimse
