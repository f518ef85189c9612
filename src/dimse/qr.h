// The Query/Retrieve services on an admitted association: C-FIND, C-MOVE
// and C-GET (PS3.4 Annex C), translated into archive calls. Private to dimse/.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>

#include <string>

#include "archive/archive.h"
#include "security/principal.h"
#include "util/config.h"

namespace bastion::dimse {

struct ServiceContext {
  T_ASC_Association* assoc;
  const security::Principal& principal;
  archive::Archive& archive;
  const Config& config;
  std::string peer_log;  // "ADDR (AE)", printable, no PHI
};

enum class QrService { kFind, kMove, kGet };

// For a Q/R SOP class UID: which service and model it is. False for others.
bool QueryRetrieveSopClass(std::string_view uid, QrService* service, dicom::InformationModel* model);
// The Q/R SOP classes we accept, for negotiation.
const std::vector<std::string>& QueryRetrieveSopClasses();

OFCondition HandleFind(ServiceContext& ctx, T_ASC_PresentationContextID pres_id, T_DIMSE_C_FindRQ& request);
OFCondition HandleMove(ServiceContext& ctx, T_ASC_PresentationContextID pres_id, T_DIMSE_C_MoveRQ& request);
OFCondition HandleGet(ServiceContext& ctx, T_ASC_PresentationContextID pres_id, T_DIMSE_C_GetRQ& request);

}  // namespace bastion::dimse
