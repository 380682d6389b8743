#include "dimse/gateway_scp.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/dimse.h>

#include <algorithm>
#include <cstring>

#include "core/logging.h"
#include "core/metrics.h"
#include "core/strings.h"
#include "dicom/dicom.h"
#include "dimse/association_listener.h"
#include "dimse/receive.h"

namespace vg::dimse {
namespace {

// What the gateway stores, in the syntax it arrives in (never transcoded).
const char* kStorageSyntaxes[] = {
    UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax, UID_BigEndianExplicitTransferSyntax,
    UID_DeflatedExplicitVRLittleEndianTransferSyntax, UID_JPEGProcess1TransferSyntax, UID_JPEGProcess2_4TransferSyntax,
    UID_JPEGProcess14TransferSyntax, UID_JPEGProcess14SV1TransferSyntax, UID_JPEGLSLosslessTransferSyntax,
    UID_JPEGLSLossyTransferSyntax, UID_JPEG2000LosslessOnlyTransferSyntax, UID_JPEG2000TransferSyntax,
    UID_RLELosslessTransferSyntax};
const char* kVerificationSyntaxes[] = {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax};

void Reject(T_ASC_Association* assoc, T_ASC_RejectParametersReason reason) {
  T_ASC_RejectParameters rejection{ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, reason};
  ASC_rejectAssociation(assoc, &rejection);
}

// Verification, and every storage SOP class in the first proposed syntax we keep.
OFCondition Negotiate(T_ASC_Parameters* params) {
  const char* verification[] = {UID_VerificationSOPClass};
  OFCondition cond = ASC_acceptContextsWithPreferredTransferSyntaxes(params, verification, 1, kVerificationSyntaxes,
                                                                      static_cast<int>(std::size(kVerificationSyntaxes)));
  if (cond.bad()) return cond;
  const int count = ASC_countPresentationContexts(params);
  for (int i = 0; i < count; ++i) {
    T_ASC_PresentationContext pc;
    ASC_getPresentationContext(params, i, &pc);
    if (!dicom::IsStorageSopClass(pc.abstractSyntax)) continue;
    for (int j = 0; j < static_cast<int>(pc.transferSyntaxCount); ++j) {
      auto kept = std::find_if(std::begin(kStorageSyntaxes), std::end(kStorageSyntaxes),
                               [&](const char* ts) { return std::strcmp(ts, pc.proposedTransferSyntaxes[j]) == 0; });
      if (kept == std::end(kStorageSyntaxes)) continue;
      cond = ASC_acceptPresentationContext(params, pc.presentationContextID, *kept, ASC_SC_ROLE_DEFAULT);
      if (cond.bad()) return cond;
      break;
    }
  }
  return EC_Normal;
}

DcmDataset* Comment(const std::string& message) {
  if (message.empty()) return nullptr;
  auto* detail = new DcmDataset;
  detail->putAndInsertString(DCM_ErrorComment, message.substr(0, 64).c_str());
  return detail;
}

}  // namespace

struct GatewayScp::Impl {
  GatewayScpOptions options;
  StoreSink sink;
  std::unique_ptr<AssociationListener> listener;

  // On the association's own thread: one association, from request to release.
  void Serve(AssociationHandle& handle, const std::string& peer);
  OFCondition Store(T_ASC_Association* assoc, T_DIMSE_Message& msg, T_ASC_PresentationContextID pid,
                    const std::string& calling_ae);
};

void GatewayScp::Impl::Serve(AssociationHandle& handle, const std::string& peer) {
  T_ASC_Association* assoc = handle.get();
  char calling[17] = {}, called[17] = {};
  ASC_getAPTitles(assoc->params, calling, sizeof calling, called, sizeof called, nullptr, 0);
  const std::string calling_ae(Trim(calling));
  char context_name[65] = {};
  ASC_getApplicationContextName(assoc->params, context_name, sizeof context_name);
  if (std::string(context_name) != UID_StandardApplicationContext)
    return Reject(assoc, ASC_REASON_SU_APPCONTEXTNAMENOTSUPPORTED);
  const auto& allowed = options.allowed_callers;
  if (std::find(allowed.begin(), allowed.end(), calling_ae) == allowed.end()) {
    LogWarn("gateway_association_rejected", "\"calling_ae\":\"" + JsonEscape(calling_ae) + "\",\"peer\":\"" +
                                                JsonEscape(peer) + "\",\"reason\":\"caller not allowed\"");
    return Reject(assoc, ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED);
  }
  OFCondition cond = Negotiate(assoc->params);
  if (cond.good()) {
    ASC_setAPTitles(assoc->params, nullptr, nullptr, options.ae_title.c_str());
    cond = ASC_acknowledgeAssociation(assoc);
  }
  if (cond.bad()) return;
  while (true) {
    T_DIMSE_Message msg;
    T_ASC_PresentationContextID pid = 0;
    DcmDataset* status_detail = nullptr;
    cond = DIMSE_receiveCommand(assoc, DIMSE_BLOCKING, 120, &pid, &msg, &status_detail);
    delete status_detail;
    if (cond == DUL_PEERREQUESTEDRELEASE) {
      ASC_acknowledgeRelease(assoc);
      return;
    }
    if (cond.bad()) {
      if (cond != DUL_PEERABORTEDASSOCIATION) ASC_abortAssociation(assoc);
      return;
    }
    if (msg.CommandField == DIMSE_C_ECHO_RQ) {
      cond = DIMSE_sendEchoResponse(assoc, pid, &msg.msg.CEchoRQ, STATUS_Success, nullptr);
    } else if (msg.CommandField == DIMSE_C_STORE_RQ) {
      cond = Store(assoc, msg, pid, calling_ae);
    } else {
      ASC_abortAssociation(assoc);
      return;
    }
    if (cond.bad()) {
      ASC_abortAssociation(assoc);
      return;
    }
  }
}

OFCondition GatewayScp::Impl::Store(T_ASC_Association* assoc, T_DIMSE_Message& msg, T_ASC_PresentationContextID pid,
                                    const std::string& calling_ae) {
  T_DIMSE_C_StoreRQ& request = msg.msg.CStoreRQ;
  T_ASC_PresentationContext pc;
  ASC_findAcceptedPresentationContext(assoc->params, pid, &pc);
  // The data set as it arrived, behind a meta header: the sink parses it (through the
  // structure check) and forwards it unchanged.
  std::string file = dicom::WrapAsPart10("", request.AffectedSOPClassUID, request.AffectedSOPInstanceUID,
                                         pc.acceptedTransferSyntax, calling_ae);
  ReceivedDataset received;
  OFCondition cond = ReceiveStoreDataset(assoc, pid, 120, file, options.max_instance_bytes + file.size(), nullptr,
                                         received);
  if (cond.bad()) return cond;
  ScpReply reply;
  if (received.too_large) {
    Metrics::Global().CountLimit("gateway", "max_instance_bytes");
    reply = {0xA700, "instance exceeds the gateway's max_instance_bytes (" + std::to_string(options.max_instance_bytes) +
                         " bytes)"};
  } else {
    reply = sink(std::move(file), calling_ae);
  }
  T_DIMSE_C_StoreRSP response{};
  response.MessageIDBeingRespondedTo = request.MessageID;
  response.DataSetType = DIMSE_DATASET_NULL;
  response.DimseStatus = reply.status;
  OFStandard::strlcpy(response.AffectedSOPClassUID, request.AffectedSOPClassUID, sizeof response.AffectedSOPClassUID);
  OFStandard::strlcpy(response.AffectedSOPInstanceUID, request.AffectedSOPInstanceUID,
                      sizeof response.AffectedSOPInstanceUID);
  response.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
  DcmDataset* detail = reply.status != 0 ? Comment(reply.comment) : nullptr;
  cond = DIMSE_sendStoreResponse(assoc, pid, &request, &response, detail);
  delete detail;
  return cond;
}

GatewayScp::GatewayScp(GatewayScpOptions options, StoreSink sink) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->sink = std::move(sink);
}

GatewayScp::~GatewayScp() { Stop(); }

Result<void> GatewayScp::Start() {
  dcmDisableGethostbyaddr.set(OFTrue);
  ListenerOptions listen;
  listen.name = "gateway";
  listen.host = impl_->options.host;
  listen.port = impl_->options.port;
  listen.max_pdu = 128 * 1024;
  listen.max_associations = std::max(1, impl_->options.max_associations);
  listen.max_associations_per_address = std::max(1, impl_->options.max_associations);
  impl_->listener = std::make_unique<AssociationListener>(listen);
  auto started = impl_->listener->Start(
      [impl = impl_.get()](AssociationHandle& assoc, const std::string& peer) { impl->Serve(assoc, peer); });
  if (!started) return std::unexpected(started.error());
  return {};
}

void GatewayScp::Stop() {
  if (impl_ && impl_->listener) impl_->listener->Stop();
}

}  // namespace vg::dimse
