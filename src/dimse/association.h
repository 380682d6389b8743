// Private to dimse/: one accepted association and the handlers of its commands.
#pragma once

#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>

#include <string>

#include "auth/dicom_access.h"
#include "auth/policy.h"
#include "dimse/dimse_server.h"
#include "services/archive.h"

namespace vg::dimse {

struct AssociationContext {
  T_ASC_Association* assoc = nullptr;
  auth::Principal principal;
  std::string calling_ae, called_ae, peer;
  services::Archive& archive;
  auth::DicomAccess& access;
  auth::AuditTrail& audit;
  const DimseOptions& options;
  std::size_t last_instance_bytes = 0;  // size hint for the next C-STORE's buffer

  // Writes one operation of this association to the audit trail.
  void Audit(const std::string& action, const std::string& object, const std::string& outcome,
             const std::string& detail = {}) const;
  // Checks `action` against auth/policy.h for the calling node's role. On a refusal:
  // audits it, sets `status` to 0x0124 "Refused: Not authorized" and `reason` (for the
  // response's ErrorComment), and returns true.
  bool Refused(const std::string& action, const std::string& object, Uint16& status, std::string& reason) const;
};

// PS3.7 C.4 general status "Refused: Not authorized".
inline constexpr Uint16 kStatusNotAuthorized = 0x0124;

// Accepts the presentation contexts we serve (verification, storage with either role,
// query/retrieve). Returns false when the association should be refused.
OFCondition NegotiatePresentationContexts(T_ASC_Parameters* params);

// Serves commands until release, abort or error.
void ServeAssociation(AssociationContext& ctx);

// Each handler answers its request; a bad condition means the association is broken.
OFCondition HandleStore(AssociationContext& ctx, T_DIMSE_Message& msg, T_ASC_PresentationContextID pid);
OFCondition HandleFind(AssociationContext& ctx, T_DIMSE_Message& msg, T_ASC_PresentationContextID pid);
OFCondition HandleMove(AssociationContext& ctx, T_DIMSE_Message& msg, T_ASC_PresentationContextID pid);
OFCondition HandleGet(AssociationContext& ctx, T_DIMSE_Message& msg, T_ASC_PresentationContextID pid);

// A status detail dataset carrying ErrorComment (0000,0902), or nullptr for no message.
DcmDataset* ErrorComment(const std::string& message);

}  // namespace vg::dimse
