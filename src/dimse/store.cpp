// C-STORE SCP: the dataset is received as raw bytes (never re-encoded), wrapped in a
// Part 10 meta header and stored through the same ingest pipeline as STOW-RS. The
// response goes out only after the instance is durable.
//
// A modality sends one instance and waits for its response, so everything done between
// the last byte and the response is the sender's idle time. Where the clinic stores
// what it sends unchanged (no de-identification at ingest), the bytes are therefore
// encrypted and written to the staging area while they arrive, and only parsing,
// indexing and the fsyncs are left for after the last PDV.
#include "core/logging.h"
#include "core/metrics.h"
#include "dicom/dicom.h"
#include "dimse/association.h"
#include "dimse/receive.h"
#include "services/ingest.h"
#include "storage/blob_store.h"

namespace vg::dimse {
namespace {

Uint16 StatusFor(int failure_reason) {
  switch (failure_reason) {
    case services::kReasonOutOfResources: return STATUS_STORE_Refused_OutOfResources;          // A700
    case services::kReasonNotMatchingStudy: return STATUS_STORE_Error_DataSetDoesNotMatchSOPClass;  // A900
    case services::kReasonCannotUnderstand: return STATUS_STORE_Error_CannotUnderstand;       // C000
    case services::kReasonDuplicate: return 0x0111;                                              // duplicate SOP instance
    default: return 0x0110;                                                                      // processing failure
  }
}

}  // namespace

OFCondition HandleStore(AssociationContext& ctx, T_DIMSE_Message& msg, T_ASC_PresentationContextID pid) {
  T_DIMSE_C_StoreRQ& request = msg.msg.CStoreRQ;
  T_ASC_PresentationContext pc;
  ASC_findAcceptedPresentationContext(ctx.assoc->params, pid, &pc);
  // The meta header depends only on the request, so the dataset streams in right behind
  // it: the file is assembled in one buffer, sized like the previous instance.
  std::string file = dicom::WrapAsPart10("", request.AffectedSOPClassUID, request.AffectedSOPInstanceUID,
                                         pc.acceptedTransferSyntax, ctx.calling_ae);
  file.reserve(file.size() + ctx.last_instance_bytes + 4096);
  services::IngestSession session(ctx.archive, ctx.principal.tenant_id, {}, /*pipelined=*/false);
  std::unique_ptr<storage::BlobWriter> writer;
  if (session.StoresBytesAsReceived()) {
    auto opened =
        ctx.archive.blobs.StageStream({ctx.principal.tenant_id, storage::NewBlobName()}, storage::SyncWhen::kSoon);
    if (opened) writer = std::move(*opened);
  }
  ReceivedDataset received;
  const std::uint64_t limit = ctx.archive.max_instance_bytes + file.size();
  OFCondition cond = ReceiveStoreDataset(ctx.assoc, pid, ctx.options.dimse_timeout_s, file, limit, &writer, received);
  if (cond.bad()) return cond;  // the link broke mid-instance: nothing is stored (the writer removes its file)
  ctx.last_instance_bytes = received.too_large ? 0 : file.size();

  T_DIMSE_C_StoreRSP response{};
  response.MessageIDBeingRespondedTo = request.MessageID;
  response.DataSetType = DIMSE_DATASET_NULL;
  OFStandard::strlcpy(response.AffectedSOPClassUID, request.AffectedSOPClassUID, sizeof response.AffectedSOPClassUID);
  OFStandard::strlcpy(response.AffectedSOPInstanceUID, request.AffectedSOPInstanceUID,
                      sizeof response.AffectedSOPInstanceUID);
  response.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;

  const std::string object = std::string("instance=") + request.AffectedSOPInstanceUID;
  if (std::string reason; ctx.Refused("dimse.store", object, response.DimseStatus, reason)) {
    DcmDataset* detail = ErrorComment(reason);
    cond = DIMSE_sendStoreResponse(ctx.assoc, pid, &request, &response, detail);
    delete detail;
    return cond;
  }
  if (received.too_large) {
    response.DimseStatus = STATUS_STORE_Refused_OutOfResources;
    Metrics::Global().CountLimit("dicom", "max_instance_bytes");
    ctx.Audit("dimse.store", object, "failed A700");
    DcmDataset* detail = ErrorComment("instance exceeds limits.max_instance_bytes (" +
                                      std::to_string(ctx.archive.max_instance_bytes) + " bytes)");
    cond = DIMSE_sendStoreResponse(ctx.assoc, pid, &request, &response, detail);
    delete detail;
    return cond;
  }
  std::optional<storage::StagedBlob> staged;
  if (writer)
    if (auto closed = writer->Close()) staged = std::move(*closed);
  if (staged) session.AddStaged(std::move(file), request.AffectedSOPInstanceUID, std::move(*staged));
  else session.Add(std::move(file), request.AffectedSOPInstanceUID);
  const services::StoreOutcome outcome = session.Finish().front();
  response.DimseStatus = outcome.stored ? STATUS_Success : StatusFor(outcome.failure_reason);
  const std::string& message = outcome.message;
  if (response.DimseStatus != STATUS_Success)
    LogWarn("dimse_store_refused", "\"tenant\":\"" + ctx.principal.tenant_slug + "\",\"status\":" +
                                       std::to_string(response.DimseStatus));
  char status_hex[8];
  std::snprintf(status_hex, sizeof status_hex, "%04X", response.DimseStatus);
  ctx.Audit("dimse.store", object,
            std::string(response.DimseStatus == STATUS_Success ? "ok " : "failed ") + status_hex);
  DcmDataset* detail = ErrorComment(message);
  cond = DIMSE_sendStoreResponse(ctx.assoc, pid, &request, &response, detail);
  delete detail;
  return cond;
}

}  // namespace vg::dimse
