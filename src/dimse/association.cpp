#include "dimse/association.h"

#include "dicom/dicom.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <cstring>

#include "core/logging.h"
#include "core/strings.h"

namespace vg::dimse {
namespace {

// Every transfer syntax we accept for storage (stored as received, never transcoded).
const char* kStorageTransferSyntaxes[] = {
    UID_JPEG2000LosslessOnlyTransferSyntax,
    UID_JPEG2000TransferSyntax,
    "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93",  // JPEG 2000 part 2
    "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203",  // HTJ2K
    UID_JPEGLSLosslessTransferSyntax,
    UID_JPEGLSLossyTransferSyntax,
    UID_JPEGProcess14SV1TransferSyntax,
    UID_JPEGProcess14TransferSyntax,
    UID_JPEGProcess1TransferSyntax,
    UID_JPEGProcess2_4TransferSyntax,
    // Retired JPEG processes still found in archives.
    "1.2.840.10008.1.2.4.52", "1.2.840.10008.1.2.4.53", "1.2.840.10008.1.2.4.54", "1.2.840.10008.1.2.4.55",
    "1.2.840.10008.1.2.4.56", "1.2.840.10008.1.2.4.58", "1.2.840.10008.1.2.4.59", "1.2.840.10008.1.2.4.60",
    "1.2.840.10008.1.2.4.61", "1.2.840.10008.1.2.4.62", "1.2.840.10008.1.2.4.63", "1.2.840.10008.1.2.4.64",
    "1.2.840.10008.1.2.4.65", "1.2.840.10008.1.2.4.66",
    UID_RLELosslessTransferSyntax,
    UID_MPEG2MainProfileAtMainLevelTransferSyntax,
    UID_MPEG4HighProfileLevel4_1TransferSyntax,
    UID_DeflatedExplicitVRLittleEndianTransferSyntax,
    UID_LittleEndianExplicitTransferSyntax,
    UID_LittleEndianImplicitTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
};
const char* kPlainTransferSyntaxes[] = {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax,
                                        UID_BigEndianExplicitTransferSyntax};
const char* kServiceSyntaxes[] = {
    UID_VerificationSOPClass,
    UID_FINDPatientRootQueryRetrieveInformationModel, UID_FINDStudyRootQueryRetrieveInformationModel,
    UID_MOVEPatientRootQueryRetrieveInformationModel, UID_MOVEStudyRootQueryRetrieveInformationModel,
    UID_GETPatientRootQueryRetrieveInformationModel,  UID_GETStudyRootQueryRetrieveInformationModel,
};

}  // namespace

void AssociationContext::Audit(const std::string& action, const std::string& object, const std::string& outcome,
                               const std::string& detail) const {
  storage::AuditEvent event;
  event.tenant_id = event.actor_tenant_id = principal.tenant_id;
  event.actor = principal.Actor();
  event.actor_kind = principal.ActorKind();
  event.action = action;
  event.object = object;
  event.outcome = outcome;
  event.remote = peer;
  event.detail = detail;
  audit.Record(std::move(event));
}

bool AssociationContext::Refused(const std::string& action, const std::string& object, Uint16& status,
                                 std::string& reason) const {
  auto allowed = auth::Authorize(principal, action);
  if (allowed) return false;
  Audit(action, object, "denied 0124");
  status = kStatusNotAuthorized;
  reason = allowed.error().public_message;
  return true;
}

DcmDataset* ErrorComment(const std::string& message) {
  if (message.empty()) return nullptr;
  auto* detail = new DcmDataset;
  detail->putAndInsertString(DCM_ErrorComment, message.substr(0, 64).c_str());
  return detail;
}

OFCondition NegotiatePresentationContexts(T_ASC_Parameters* params) {
  OFCondition cond = ASC_acceptContextsWithPreferredTransferSyntaxes(
      params, kServiceSyntaxes, static_cast<int>(std::size(kServiceSyntaxes)), kPlainTransferSyntaxes,
      static_cast<int>(std::size(kPlainTransferSyntaxes)));
  if (cond.bad()) return cond;
  // Storage: whatever role is proposed (SCU for C-STORE to us, SCP for our C-GET
  // sub-operations), in the first transfer syntax the caller proposed that we support:
  // data is stored as the sender prefers to send it, and returned as the caller prefers.
  const int count = ASC_countPresentationContexts(params);
  for (int i = 0; i < count; ++i) {
    T_ASC_PresentationContext pc;
    ASC_getPresentationContext(params, i, &pc);
    if (!dicom::IsStorageSopClass(pc.abstractSyntax)) continue;
    for (int j = 0; j < static_cast<int>(pc.transferSyntaxCount); ++j) {
      auto supported = std::find_if(std::begin(kStorageTransferSyntaxes), std::end(kStorageTransferSyntaxes),
                                    [&](const char* ts) { return std::strcmp(ts, pc.proposedTransferSyntaxes[j]) == 0; });
      if (supported == std::end(kStorageTransferSyntaxes)) continue;
      cond = ASC_acceptPresentationContext(params, pc.presentationContextID, *supported, pc.proposedRole);
      if (cond.bad()) return cond;
      break;
    }
  }
  return EC_Normal;
}

void ServeAssociation(AssociationContext& ctx) {
  while (true) {
    T_DIMSE_Message msg;
    T_ASC_PresentationContextID pid = 0;
    DcmDataset* status_detail = nullptr;
    OFCondition cond = DIMSE_receiveCommand(ctx.assoc, DIMSE_NONBLOCKING, ctx.options.dimse_timeout_s, &pid, &msg,
                                            &status_detail);
    delete status_detail;
    if (cond == DUL_PEERREQUESTEDRELEASE) {
      ASC_acknowledgeRelease(ctx.assoc);
      return;
    }
    if (cond == DUL_PEERABORTEDASSOCIATION) return;
    if (cond.bad()) {
      if (cond != DIMSE_NODATAAVAILABLE)
        LogWarn("dimse_receive_failed", "\"calling_ae\":\"" + JsonEscape(ctx.calling_ae) + "\",\"detail\":\"" +
                                            JsonEscape(cond.text()) + "\"");
      ASC_abortAssociation(ctx.assoc);
      return;
    }
    switch (msg.CommandField) {
      case DIMSE_C_ECHO_RQ: {
        Uint16 status = STATUS_Success;
        std::string reason;
        ctx.Refused("dimse.echo", "", status, reason);
        DcmDataset* detail = ErrorComment(reason);
        DIMSE_sendEchoResponse(ctx.assoc, pid, &msg.msg.CEchoRQ, status, detail);
        delete detail;
        break;
      }
      case DIMSE_C_STORE_RQ:
        cond = HandleStore(ctx, msg, pid);
        break;
      case DIMSE_C_FIND_RQ:
        cond = HandleFind(ctx, msg, pid);
        break;
      case DIMSE_C_MOVE_RQ:
        cond = HandleMove(ctx, msg, pid);
        break;
      case DIMSE_C_GET_RQ:
        cond = HandleGet(ctx, msg, pid);
        break;
      default:
        LogWarn("dimse_unsupported_command", "\"command\":" + std::to_string(static_cast<int>(msg.CommandField)));
        ASC_abortAssociation(ctx.assoc);
        return;
    }
    if (cond.bad()) {
      // The peer went away mid-operation (or the link broke): nothing half-done was kept.
      LogWarn("dimse_operation_failed", "\"calling_ae\":\"" + JsonEscape(ctx.calling_ae) + "\",\"detail\":\"" +
                                            JsonEscape(cond.text()) + "\"");
      ASC_abortAssociation(ctx.assoc);
      return;
    }
  }
}

}  // namespace vg::dimse
