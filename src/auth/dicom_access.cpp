#include "auth/dicom_access.h"

#include <netdb.h>
#include <sys/socket.h>

#include <cstring>

#include "auth/tenants.h"

namespace vg::auth {

bool HostMatches(const std::string& host, const std::string& address) {
  if (host == address) return true;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0) return false;
  bool match = false;
  for (addrinfo* ai = result; ai && !match; ai = ai->ai_next) {
    char text[NI_MAXHOST];
    if (::getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof text, nullptr, 0, NI_NUMERICHOST) == 0)
      match = address == text;
  }
  ::freeaddrinfo(result);
  return match;
}

AssociationDecision DicomAccess::Decide(const std::string& called_ae, const std::string& calling_ae,
                                        const std::string& peer_address) {
  AssociationDecision decision;
  auto tenant = catalog_.FindTenantByAeTitle(called_ae);
  if (!tenant) {
    decision.refusal = tenant.error().code == ErrorCode::kNotFound ? AssociationRefusal::kUnknownCalledAe
                                                                   : AssociationRefusal::kUnavailable;
    decision.reason = "called AE title '" + called_ae + "' is not a tenant's";
    return decision;
  }
  std::string role = "service";  // a tenant that accepts any caller trusts it with everything
  if (!tenant->accept_any_caller) {
    auto nodes = catalog_.ListDicomNodes(tenant->id);
    if (!nodes) {
      decision.refusal = AssociationRefusal::kUnavailable;
      decision.reason = "node list unavailable";
      return decision;
    }
    bool allowed = false;
    for (const auto& node : *nodes)
      if (node.ae_title == calling_ae && HostMatches(node.host, peer_address)) {
        allowed = true;
        role = node.role;
      }
    if (!allowed) {
      decision.refusal = AssociationRefusal::kCallingAeNotAllowed;
      decision.reason = "calling AE title '" + calling_ae + "' from " + peer_address + " is not registered for tenant '" +
                        tenant->slug + "'";
      return decision;
    }
  }
  Principal& principal = decision.principal;
  principal.credential = Credential::kDicomNode;
  principal.tenant_id = principal.home_tenant_id = tenant->id;
  principal.tenant_slug = tenant->slug;
  principal.role = role;
  principal.calling_ae = calling_ae;
  return decision;
}

Result<storage::DicomNodeRecord> DicomAccess::Destination(std::int64_t tenant_id, const std::string& ae_title) {
  auto nodes = catalog_.ListDicomNodes(tenant_id);
  if (!nodes) return std::unexpected(nodes.error());
  for (const auto& node : *nodes)
    if (node.ae_title == ae_title) return node;
  return Fail(ErrorCode::kNotFound, "move destination '" + ae_title + "' is not a registered node of this tenant");
}

Result<void> DicomAccess::AddNode(std::int64_t tenant_id, const std::string& ae_title, const std::string& host, int port,
                                  const std::string& role) {
  if (role != "service" && role != "uploader")
    return Fail(ErrorCode::kInvalidArgument, "a node's role is service (store, find, retrieve) or uploader (store only)");
  if (!IsValidAeTitle(ae_title))
    return Fail(ErrorCode::kInvalidArgument, "AE title must be 1-16 characters of A-Z, 0-9, space, '_', '-', '.'");
  if (host.empty() || host.size() > 253) return Fail(ErrorCode::kInvalidArgument, "host must be a name or an address");
  if (port < 1 || port > 65535) return Fail(ErrorCode::kInvalidArgument, "port must be 1-65535");
  return catalog_.AddDicomNode({tenant_id, ae_title, host, port, role});
}

}  // namespace vg::auth
