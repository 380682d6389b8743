// C-MOVE and C-GET SCP. Both resolve the identifier to the tenant's instances and send
// each one with a C-STORE sub-operation, in the transfer syntax it was stored in: C-MOVE
// over a new association to the registered destination, C-GET back over the requesting
// association. Every callback round sends one instance and reports progress.
#include <dcmtk/dcmdata/dcuid.h>

#include <optional>
#include <set>

#include "core/logging.h"
#include "core/strings.h"
#include "dicom/dcmtk_io.h"
#include "dimse/association.h"
#include "dimse/identifier.h"
#include "dimse/quickack_layer.h"
#include "services/retrieve.h"

namespace vg::dimse {
namespace {

Result<std::vector<storage::InstanceRow>> Resolve(AssociationContext& ctx, const RetrieveKeys& keys) {
  storage::InstanceFilter filter;
  filter.study_uids = keys.study_uids;
  filter.series_uids = keys.series_uids;
  filter.sop_uids = keys.sop_uids;
  if (!keys.patient_ids.empty()) {
    // Patient IDs are kept as keyed hashes: resolve them to studies first.
    auto search_key = ctx.archive.tenants.SearchKey(ctx.principal.tenant_id);
    if (!search_key) return std::unexpected(search_key.error());
    for (const auto& id : keys.patient_ids) {
      storage::StudyFilter by_patient;
      by_patient.patient_id_hash = services::SearchHash(*search_key, "PatientID", id);
      auto studies = ctx.archive.catalog.SearchStudies(ctx.principal.tenant_id, by_patient);
      if (!studies) return std::unexpected(studies.error());
      for (const auto& s : *studies) filter.study_uids.push_back(s.study_uid);
    }
    if (filter.study_uids.empty()) return std::vector<storage::InstanceRow>{};
  }
  return ctx.archive.catalog.SearchInstances(ctx.principal.tenant_id, filter);
}

// Loads a stored instance as a dataset in the encoding it was stored in.
Result<dicom::LoadedFile> LoadDataset(AssociationContext& ctx, const storage::InstanceRow& row) {
  services::Retrieval retrieval(ctx.archive);
  auto bytes = retrieval.ReadWhole(ctx.principal.tenant_id, row);
  if (!bytes) return std::unexpected(bytes.error());
  return dicom::LoadFromMemory(*bytes);  // element values are copied out of `bytes`
}

struct RetrieveState {
  AssociationContext* ctx = nullptr;
  T_ASC_Association* target = nullptr;  // where the C-STOREs go
  T_ASC_Network* target_network = nullptr;  // C-MOVE only: owns the sub-association's network
  std::optional<storage::DicomNodeRecord> destination;  // C-MOVE only
  std::string move_originator_ae;
  Uint16 originator_message_id = 0;
  bool started = false;
  std::vector<storage::InstanceRow> rows;
  size_t next = 0;
  int completed = 0, failed = 0, warning = 0;
  std::vector<std::string> failed_uids;
  Uint16 fatal = 0;
  std::string fatal_message;
  bool link_broken = false;
};

// Sends one instance as a C-STORE sub-operation.
void SendOne(RetrieveState& state, const storage::InstanceRow& row) {
  AssociationContext& ctx = *state.ctx;
  T_ASC_PresentationContextID pcid =
      ASC_findAcceptedPresentationContextID(state.target, row.sop_class_uid.c_str(), row.transfer_syntax.c_str());
  auto failed = [&](const std::string& why) {
    ++state.failed;
    state.failed_uids.push_back(row.sop_uid);
    LogWarn("dimse_suboperation_failed", "\"tenant\":\"" + ctx.principal.tenant_slug + "\",\"why\":\"" +
                                             JsonEscape(why) + "\"");
  };
  // Otherwise any context for the SOP class: DCMTK converts between uncompressed syntaxes
  // and decodes JPEG, JPEG-LS and RLE; what it cannot convert fails alone below.
  if (pcid == 0) pcid = ASC_findAcceptedPresentationContextID(state.target, row.sop_class_uid.c_str());
  if (pcid == 0) return failed("no presentation context was accepted for the SOP class");
  auto file = LoadDataset(ctx, row);
  if (!file) return failed(file.error().detail);
  T_DIMSE_C_StoreRQ request{};
  request.MessageID = state.target->nextMsgID++;
  OFStandard::strlcpy(request.AffectedSOPClassUID, row.sop_class_uid.c_str(), sizeof request.AffectedSOPClassUID);
  OFStandard::strlcpy(request.AffectedSOPInstanceUID, row.sop_uid.c_str(), sizeof request.AffectedSOPInstanceUID);
  request.DataSetType = DIMSE_DATASET_PRESENT;
  request.Priority = DIMSE_PRIORITY_MEDIUM;
  if (!state.move_originator_ae.empty()) {
    request.opts = O_STORE_MOVEORIGINATORAETITLE | O_STORE_MOVEORIGINATORID;
    OFStandard::strlcpy(request.MoveOriginatorApplicationEntityTitle, state.move_originator_ae.c_str(),
                        sizeof request.MoveOriginatorApplicationEntityTitle);
    request.MoveOriginatorID = state.originator_message_id;
  }
  T_DIMSE_C_StoreRSP response{};
  DcmDataset* status_detail = nullptr;
  OFCondition cond = DIMSE_storeUser(state.target, pcid, &request, nullptr, file->dataset, nullptr, nullptr,
                                     DIMSE_BLOCKING, ctx.options.dimse_timeout_s, &response, &status_detail);
  delete status_detail;
  if (cond.bad()) {
    // Only a dead link stops the whole retrieve; a dataset DCMTK refused to send fails alone.
    state.link_broken = cond == DUL_PEERABORTEDASSOCIATION || cond == DUL_NETWORKCLOSED ||
                        cond == DUL_PEERREQUESTEDRELEASE || cond == DIMSE_READPDVFAILED ||
                        cond == DIMSE_NODATAAVAILABLE;
    return failed(std::string("C-STORE sub-operation failed: ") + cond.text());
  }
  if (response.DimseStatus == STATUS_Success) ++state.completed;
  else if ((response.DimseStatus & 0xF000) == 0xB000) ++state.warning;
  else failed("destination answered status " + std::to_string(response.DimseStatus));
}

// Fills a C-MOVE/C-GET response (the two have the same counters).
template <typename Response>
void Report(RetrieveState& state, bool cancelled, Response* response, DcmDataset** status_detail,
            DcmDataset** response_identifier) {
  *status_detail = nullptr;
  *response_identifier = nullptr;
  const int remaining = static_cast<int>(state.rows.size() - state.next);
  if (state.fatal) {
    response->DimseStatus = state.fatal;
    *status_detail = ErrorComment(state.fatal_message);
    return;
  }
  response->NumberOfRemainingSubOperations = static_cast<Uint16>(remaining);
  response->NumberOfCompletedSubOperations = static_cast<Uint16>(state.completed);
  response->NumberOfFailedSubOperations = static_cast<Uint16>(state.failed);
  response->NumberOfWarningSubOperations = static_cast<Uint16>(state.warning);
  response->opts = O_MOVE_NUMBEROFREMAININGSUBOPERATIONS | O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS |
                   O_MOVE_NUMBEROFFAILEDSUBOPERATIONS | O_MOVE_NUMBEROFWARNINGSUBOPERATIONS;
  if (cancelled && remaining > 0) {
    response->DimseStatus = STATUS_MOVE_Cancel_SubOperationsTerminatedDueToCancelIndication;
    return;
  }
  if (remaining > 0 && !state.link_broken) {
    response->DimseStatus = STATUS_Pending;
    return;
  }
  response->opts &= ~O_MOVE_NUMBEROFREMAININGSUBOPERATIONS;
  if (state.failed == 0 && state.warning == 0) {
    response->DimseStatus = STATUS_Success;
  } else {
    response->DimseStatus = state.completed + state.warning == 0 ? STATUS_MOVE_Failed_UnableToProcess
                                                                  : STATUS_MOVE_Warning_SubOperationsCompleteOneOrMoreFailures;
    // The Failed SOP Instance UID List names what did not arrive.
    std::string list;
    for (const auto& uid : state.failed_uids) list += (list.empty() ? "" : "\\") + uid;
    *response_identifier = new DcmDataset;
    (*response_identifier)->putAndInsertString(DCM_FailedSOPInstanceUIDList, list.c_str());
  }
}

// Opens the association to a C-MOVE destination, proposing each needed SOP class in its
// stored transfer syntax.
Result<T_ASC_Association*> OpenDestination(AssociationContext& ctx, const storage::DicomNodeRecord& node,
                                           const std::vector<storage::InstanceRow>& rows, T_ASC_Network** network) {
  OFCondition cond = ASC_initializeNetwork(NET_REQUESTOR, 0, ctx.options.acse_timeout_s, network);
  if (cond.bad()) return Fail(ErrorCode::kUnavailable, "cannot start a sub-association", cond.text());
  PduLimits limits;
  limits.max_pdu = ctx.options.max_pdu;
  limits.structure = dicom::DefaultStructureLimits();
  ASC_setTransportLayer(*network, new QuickAckTransportLayer("dicom", limits), 1);
  T_ASC_Parameters* params = nullptr;
  ASC_createAssociationParameters(&params, ctx.options.max_pdu);
  ASC_setAPTitles(params, ctx.called_ae.c_str(), node.ae_title.c_str(), nullptr);
  std::string address = node.host + ":" + std::to_string(node.port);
  ASC_setPresentationAddresses(params, "localhost", address.c_str());
  std::set<std::pair<std::string, std::string>> contexts;
  for (const auto& row : rows) contexts.emplace(row.sop_class_uid, row.transfer_syntax);
  T_ASC_PresentationContextID id = 1;
  for (const auto& [sop_class, ts] : contexts) {
    if (id > 253) break;
    const char* syntaxes[] = {ts.c_str()};
    ASC_addPresentationContext(params, id, sop_class.c_str(), syntaxes, 1);
    id += 2;
  }
  T_ASC_Association* assoc = nullptr;
  cond = ASC_requestAssociation(*network, params, &assoc);
  if (cond.bad()) {
    if (assoc) ASC_destroyAssociation(&assoc);
    else ASC_destroyAssociationParameters(&params);
    return Fail(ErrorCode::kUnavailable, "the move destination refused or cannot be reached", cond.text());
  }
  return assoc;
}

// Resolves the identifier and the destination once, at the first callback.
void StartMove(RetrieveState& state, T_DIMSE_C_MoveRQ* request, DcmDataset* identifier) {
  AssociationContext& ctx = *state.ctx;
  if (ctx.Refused("dimse.move", "", state.fatal, state.fatal_message)) return;
  auto keys = ParseRetrieveIdentifier(identifier);
  if (!keys) {
    state.fatal = STATUS_MOVE_Failed_IdentifierDoesNotMatchSOPClass;
    state.fatal_message = keys.error().public_message;
    return;
  }
  auto node = ctx.access.Destination(ctx.principal.tenant_id, request->MoveDestination);
  if (!node) {
    state.fatal = STATUS_MOVE_Failed_MoveDestinationUnknown;
    state.fatal_message = node.error().public_message;
    return;
  }
  auto rows = Resolve(ctx, *keys);
  if (!rows) {
    state.fatal = STATUS_MOVE_Failed_UnableToProcess;
    state.fatal_message = rows.error().public_message;
    return;
  }
  state.destination = std::move(*node);
  state.rows = std::move(*rows);
  LogInfo("dimse_move", "\"tenant\":\"" + ctx.principal.tenant_slug + "\",\"destination\":\"" +
                            JsonEscape(request->MoveDestination) + "\",\"instances\":" +
                            std::to_string(state.rows.size()));
}

void MoveCallback(void* data, OFBool cancelled, T_DIMSE_C_MoveRQ* request, DcmDataset* identifier, int,
                  T_DIMSE_C_MoveRSP* response, DcmDataset** status_detail, DcmDataset** response_identifier) {
  auto& state = *static_cast<RetrieveState*>(data);
  AssociationContext& ctx = *state.ctx;
  if (!state.started) {
    state.started = true;
    StartMove(state, request, identifier);
  }
  if (!state.fatal && state.next < state.rows.size() && !cancelled && !state.link_broken) {
    if (!state.target) {
      T_ASC_Network* network = nullptr;
      auto assoc = OpenDestination(ctx, *state.destination, state.rows, &network);
      if (!assoc) {
        state.fatal = STATUS_MOVE_Refused_OutOfResourcesSubOperations;
        state.fatal_message = assoc.error().public_message;
        if (network) ASC_dropNetwork(&network);
      } else {
        state.target = *assoc;
        state.target_network = network;
      }
    }
    if (state.target) SendOne(state, state.rows[state.next++]);
  }
  Report(state, cancelled, response, status_detail, response_identifier);
}

// Resolves the identifier once, at the first callback.
void StartGet(RetrieveState& state, DcmDataset* identifier) {
  if (state.ctx->Refused("dimse.get", "", state.fatal, state.fatal_message)) return;
  auto keys = ParseRetrieveIdentifier(identifier);
  if (!keys) {
    state.fatal = STATUS_GET_Failed_IdentifierDoesNotMatchSOPClass;
    state.fatal_message = keys.error().public_message;
    return;
  }
  auto rows = Resolve(*state.ctx, *keys);
  if (!rows) {
    state.fatal = STATUS_GET_Failed_UnableToProcess;
    state.fatal_message = rows.error().public_message;
    return;
  }
  state.rows = std::move(*rows);
}

void GetCallback(void* data, OFBool cancelled, T_DIMSE_C_GetRQ*, DcmDataset* identifier, int,
                 T_DIMSE_C_GetRSP* response, DcmDataset** status_detail, DcmDataset** response_identifier) {
  auto& state = *static_cast<RetrieveState*>(data);
  if (!state.started) {
    state.started = true;
    StartGet(state, identifier);
  }
  if (!state.fatal && state.next < state.rows.size() && !cancelled && !state.link_broken)
    SendOne(state, state.rows[state.next++]);
  Report(state, cancelled, response, status_detail, response_identifier);
}

}  // namespace

std::string AuditObject(const RetrieveState& state, const std::string& prefix) {
  std::set<std::string> studies;
  for (const auto& row : state.rows) studies.insert(row.study_uid);
  std::string object = prefix;
  for (const auto& s : studies) object += (object.empty() || object.back() == ' ' ? "study=" : ",") + s;
  return object;
}

std::string AuditOutcome(const RetrieveState& state) {
  if (state.fatal) return "failed " + state.fatal_message;
  return (state.failed ? "partial" : "ok") + std::string(" completed=") + std::to_string(state.completed) +
         " failed=" + std::to_string(state.failed);
}

OFCondition HandleMove(AssociationContext& ctx, T_DIMSE_Message& msg, T_ASC_PresentationContextID pid) {
  RetrieveState state;
  state.ctx = &ctx;
  state.move_originator_ae = ctx.calling_ae;
  state.originator_message_id = msg.msg.CMoveRQ.MessageID;
  OFCondition cond = DIMSE_moveProvider(ctx.assoc, pid, &msg.msg.CMoveRQ, MoveCallback, &state, DIMSE_BLOCKING,
                                        ctx.options.dimse_timeout_s);
  if (state.target) {
    if (state.link_broken) ASC_abortAssociation(state.target);
    else ASC_releaseAssociation(state.target);
    ASC_destroyAssociation(&state.target);
  }
  if (state.target_network) ASC_dropNetwork(&state.target_network);
  ctx.Audit("dimse.move", AuditObject(state, std::string("destination=") + msg.msg.CMoveRQ.MoveDestination + " "),
            AuditOutcome(state));
  return cond;
}

OFCondition HandleGet(AssociationContext& ctx, T_DIMSE_Message& msg, T_ASC_PresentationContextID pid) {
  RetrieveState state;
  state.ctx = &ctx;
  state.target = ctx.assoc;
  state.move_originator_ae.clear();
  OFCondition cond = DIMSE_getProvider(ctx.assoc, pid, &msg.msg.CGetRQ, GetCallback, &state, DIMSE_BLOCKING,
                                       ctx.options.dimse_timeout_s);
  ctx.Audit("dimse.get", AuditObject(state, ""), AuditOutcome(state));
  return cond;
}

}  // namespace vg::dimse
