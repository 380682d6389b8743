#include "dimse/dimse_server.h"

#include <cstdlib>

#include "core/logging.h"
#include "core/strings.h"
#include "dimse/association.h"
#include "dimse/association_listener.h"

namespace vg::dimse {
namespace {

void Reject(T_ASC_Association* assoc, T_ASC_RejectParametersResult result, T_ASC_RejectParametersSource source,
            T_ASC_RejectParametersReason reason) {
  T_ASC_RejectParameters rejection{result, source, reason};
  ASC_rejectAssociation(assoc, &rejection);
}

}  // namespace

struct DimseServer::Impl {
  DimseOptions options;
  services::Archive& archive;
  auth::DicomAccess& access;
  auth::AuditTrail& audit;
  AssociationListener listener;

  Impl(DimseOptions o, services::Archive& a, auth::DicomAccess& d, auth::AuditTrail& t)
      : options(std::move(o)), archive(a), access(d), audit(t), listener(ListenerOptionsOf(options)) {}

  static ListenerOptions ListenerOptionsOf(const DimseOptions& o) {
    ListenerOptions l;
    l.name = "dicom";
    l.host = o.host;
    l.port = o.port;
    l.max_pdu = o.max_pdu;
    l.acse_timeout_s = o.acse_timeout_s;
    l.artim_timeout_s = o.artim_timeout_s;
    l.max_associations = o.max_associations;
    l.max_associations_per_address = o.max_associations_per_address;
    l.max_pending = o.max_pending;
    l.max_pending_per_address = o.max_pending_per_address;
    return l;
  }

  // On the association's own thread (AssociationListener): decide, negotiate, serve.
  void Serve(AssociationHandle& handle, const std::string& peer);
};

void DimseServer::Impl::Serve(AssociationHandle& handle, const std::string& peer) {
  T_ASC_Association* assoc = handle.get();
  char calling[17] = {}, called[17] = {};
  ASC_getAPTitles(assoc->params, calling, sizeof calling, called, sizeof called, nullptr, 0);
  std::string calling_ae(Trim(calling)), called_ae(Trim(called));
  std::string fields = "\"calling_ae\":\"" + JsonEscape(calling_ae) + "\",\"called_ae\":\"" + JsonEscape(called_ae) +
                       "\",\"peer\":\"" + peer + "\"";

  if (listener.stopping()) {
    Reject(assoc, ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
           ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED);
    LogWarn("dimse_association_rejected", fields + ",\"reason\":\"the server is stopping\"");
    return;
  }
  char context_name[65] = {};
  ASC_getApplicationContextName(assoc->params, context_name, sizeof context_name);
  if (std::string(context_name) != UID_StandardApplicationContext) {
    Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_APPCONTEXTNAMENOTSUPPORTED);
    return;
  }
  auth::AssociationDecision decision = access.Decide(called_ae, calling_ae, peer);
  switch (decision.refusal) {
    case auth::AssociationRefusal::kNone: break;
    case auth::AssociationRefusal::kUnknownCalledAe:
      Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED);
      break;
    case auth::AssociationRefusal::kCallingAeNotAllowed:
      Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED);
      break;
    case auth::AssociationRefusal::kUnavailable:
      Reject(assoc, ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_NOREASON);
      break;
  }
  storage::AuditEvent event;
  event.actor = "dimse:" + calling_ae;
  event.actor_kind = "dimse";
  event.action = "dimse.associate";
  event.object = "called_ae=" + called_ae;
  event.remote = peer;
  if (decision.refusal != auth::AssociationRefusal::kNone) {
    LogWarn("dimse_association_rejected", fields + ",\"reason\":\"" + JsonEscape(decision.reason) + "\"");
    event.outcome = "denied";
    event.detail = decision.reason;
    audit.Record(std::move(event));
    return;
  }
  event.tenant_id = decision.principal.tenant_id;
  event.outcome = "ok";
  audit.Record(std::move(event));
  OFCondition cond = NegotiatePresentationContexts(assoc->params);
  if (cond.good()) {
    ASC_setAPTitles(assoc->params, nullptr, nullptr, called_ae.c_str());
    cond = ASC_acknowledgeAssociation(assoc);
  }
  if (cond.bad()) {
    LogWarn("dimse_association_failed", fields + ",\"detail\":\"" + JsonEscape(cond.text()) + "\"");
    return;
  }
  LogInfo("dimse_association", fields + ",\"tenant\":\"" + decision.principal.tenant_slug + "\"");
  AssociationContext ctx{assoc, decision.principal, calling_ae, called_ae, peer, archive, access, audit, options};
  ServeAssociation(ctx);
}

DimseServer::DimseServer(DimseOptions options, services::Archive& archive, auth::DicomAccess& access,
                         auth::AuditTrail& audit)
    : impl_(std::make_unique<Impl>(std::move(options), archive, access, audit)) {}

DimseServer::~DimseServer() { Stop(); }

Result<std::uint16_t> DimseServer::Start() {
  // Outgoing (C-MOVE) sockets are opened by DCMTK, which disables Nagle only when asked
  // through the environment; without it every response waits on delayed ACKs.
  ::setenv("TCP_NODELAY", "1", 1);
  dcmDisableGethostbyaddr.set(OFTrue);
  return impl_->listener.Start(
      [impl = impl_.get()](AssociationHandle& assoc, const std::string& peer) { impl->Serve(assoc, peer); });
}

void DimseServer::Stop() { impl_->listener.Stop(); }

}  // namespace vg::dimse
