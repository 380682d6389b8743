#include "dimse/gateway_scp.h"

#include <dcmtk/dcmnet/scppool.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "dicom/dcmtk_io.h"

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
  DcmSCPPool<gateway_scp_detail::StoreWorker> pool;
  std::thread listener;
  std::atomic<bool> bound{false};
};

GatewayScp::GatewayScp(GatewayScpOptions options, StoreSink sink) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->shared.sink = std::move(sink);
  impl_->shared.allowed_callers = impl_->options.allowed_callers;
}

GatewayScp::~GatewayScp() { Stop(); }

Result<void> GatewayScp::Start() {
  gateway_scp_detail::g_shared = &impl_->shared;
  DcmSCPConfig& config = impl_->pool.getConfig();
  config.setAETitle(impl_->options.ae_title.c_str());
  config.setPort(impl_->options.port);
  config.setMaxReceivePDULength(128 * 1024);
  config.setConnectionBlockingMode(DUL_NOBLOCK);
  config.setConnectionTimeout(1);  // the listener wakes every second to see whether to stop
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
  impl_->pool.setMaxThreads(static_cast<Uint16>(std::max(1, impl_->options.max_associations)));
  // Bind now, so that a port in use is an error of Start, not of a thread.
  T_ASC_Network* probe = nullptr;
  OFCondition bound = ASC_initializeNetwork(NET_ACCEPTOR, impl_->options.port, 1, &probe);
  if (bound.bad())
    return Fail(ErrorCode::kUnavailable, "cannot listen for DICOM on port " + std::to_string(impl_->options.port),
                bound.text());
  ASC_dropNetwork(&probe);
  impl_->listener = std::thread([this] { impl_->pool.listen(); });
  return {};
}

void GatewayScp::Stop() {
  if (!impl_ || !impl_->listener.joinable()) return;
  impl_->pool.stopAfterCurrentAssociations();
  impl_->listener.join();
}

}  // namespace vg::dimse
