#include "dimse/gateway_scp.h"

#include <dcmtk/dcmnet/scpthrd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "dicom/dcmtk_io.h"
#include "dimse/association_listener.h"

namespace vg::dimse {
// Named, not anonymous: GatewayScp::Impl (external linkage) holds these types.
namespace gateway_scp_detail {

// DCMTK makes the pool's workers with their default constructor: what they need is
// reached through this, set once before listening (one gateway per process).
struct Shared {
  StoreSink sink;
  std::vector<std::string> allowed_callers;
};
Shared* g_shared = nullptr;

Result<std::string> AsPart10(DcmDataset& dataset, E_TransferSyntax xfer) {
  DcmFileFormat file(&dataset);  // copies
  auto bytes = dicom::WriteFileToString(file, xfer);
  if (!bytes) return Fail(ErrorCode::kInvalidArgument, "cannot encode the received dataset: " + bytes.error().detail);
  return bytes;
}

class StoreWorker : public DcmThreadSCP {
 protected:
  void notifyAssociationRequest(const T_ASC_Parameters& params, DcmSCPActionType& desiredAction) override {
    DcmThreadSCP::notifyAssociationRequest(params, desiredAction);
    if (desiredAction != DCMSCP_ACTION_UNDEFINED || !g_shared || g_shared->allowed_callers.empty()) return;
    const std::string caller = params.DULparams.callingAPTitle;
    if (std::find(g_shared->allowed_callers.begin(), g_shared->allowed_callers.end(), caller) ==
        g_shared->allowed_callers.end())
      desiredAction = DCMSCP_ACTION_REFUSE_ASSOCIATION;
  }

  OFCondition handleIncomingCommand(T_DIMSE_Message* message, const DcmPresentationContextInfo& info) override {
    if (message->CommandField != DIMSE_C_STORE_RQ) return DcmThreadSCP::handleIncomingCommand(message, info);
    T_DIMSE_C_StoreRQ& request = message->msg.CStoreRQ;
    DcmDataset* dataset = nullptr;
    OFCondition cond = receiveSTORERequest(request, info.presentationContextID, dataset);
    if (cond.bad()) {
      delete dataset;
      return cond;
    }
    std::unique_ptr<DcmDataset> owned(dataset);
    ScpReply reply{0xC000, "the dataset could not be read"};
    const E_TransferSyntax xfer = DcmXfer(info.acceptedTransferSyntax.c_str()).getXfer();
    if (auto part10 = AsPart10(*owned, xfer); part10 && g_shared)
      reply = g_shared->sink(std::move(*part10), getPeerAETitle().c_str());
    else if (!part10)
      reply.comment = part10.error().public_message;
    DcmDataset* detail = nullptr;
    if (reply.status != 0 && !reply.comment.empty()) {
      detail = new DcmDataset;
      detail->putAndInsertString(DCM_ErrorComment, reply.comment.substr(0, 64).c_str());
    }
    cond = sendSTOREResponse(info.presentationContextID, request.MessageID, request.AffectedSOPClassUID,
                             request.AffectedSOPInstanceUID, reply.status, detail);
    delete detail;
    return cond;
  }
};

}  // namespace gateway_scp_detail

struct GatewayScp::Impl {
  GatewayScpOptions options;
  gateway_scp_detail::Shared shared;
  DcmSCPConfig config;
  std::unique_ptr<AssociationListener> listener;
};

GatewayScp::GatewayScp(GatewayScpOptions options, StoreSink sink) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->shared.sink = std::move(sink);
  impl_->shared.allowed_callers = impl_->options.allowed_callers;
}

GatewayScp::~GatewayScp() { Stop(); }

Result<void> GatewayScp::Start() {
  gateway_scp_detail::g_shared = &impl_->shared;
  DcmSCPConfig& config = impl_->config;
  config.setAETitle(impl_->options.ae_title.c_str());
  config.setMaxReceivePDULength(128 * 1024);
  config.setConnectionBlockingMode(DUL_BLOCK);
  config.setACSETimeout(30);
  config.setDIMSETimeout(120);
  config.setHostLookupEnabled(OFFalse);
  OFList<OFString> syntaxes;
  for (const char* uid :
       {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax, UID_BigEndianExplicitTransferSyntax,
        UID_DeflatedExplicitVRLittleEndianTransferSyntax, UID_JPEGProcess1TransferSyntax,
        UID_JPEGProcess2_4TransferSyntax, UID_JPEGProcess14TransferSyntax, UID_JPEGProcess14SV1TransferSyntax,
        UID_JPEGLSLosslessTransferSyntax, UID_JPEGLSLossyTransferSyntax, UID_JPEG2000LosslessOnlyTransferSyntax,
        UID_JPEG2000TransferSyntax, UID_RLELosslessTransferSyntax})
    syntaxes.push_back(uid);
  OFList<OFString> verification;
  verification.push_back(UID_LittleEndianExplicitTransferSyntax);
  verification.push_back(UID_LittleEndianImplicitTransferSyntax);
  config.addPresentationContext(UID_VerificationSOPClass, verification);
  for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i)
    config.addPresentationContext(dcmAllStorageSOPClassUIDs[i], syntaxes);
  ListenerOptions listen;
  listen.name = "gateway";
  listen.host = "";  // every interface: restrict callers with the list and the firewall
  listen.port = impl_->options.port;
  listen.max_pdu = 128 * 1024;
  listen.max_associations = std::max(1, impl_->options.max_associations);
  listen.max_associations_per_address = std::max(1, impl_->options.max_associations);
  impl_->listener = std::make_unique<AssociationListener>(listen);
  DcmSharedSCPConfig shared(config);
  auto started = impl_->listener->Start([shared](AssociationHandle& assoc, const std::string&) {
    gateway_scp_detail::StoreWorker worker;
    worker.setSharedConfig(shared);
    worker.run(assoc.release());  // the worker owns the association from here
  });
  if (!started) return std::unexpected(started.error());
  return {};
}

void GatewayScp::Stop() {
  if (impl_ && impl_->listener) impl_->listener->Stop();
}

}  // namespace vg::dimse
