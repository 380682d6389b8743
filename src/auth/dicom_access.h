// DicomAccess: who may open a DICOM association, and where C-MOVE may send.
// The called AE title names the tenant; the calling AE title (and the peer address)
// must be one of the tenant's registered nodes, unless the tenant accepts any caller.
// Every check reads the catalog, so `dicom-node remove` takes effect for the next
// association even while the server runs.
#pragma once

#include "auth/principal.h"
#include "storage/catalog.h"

namespace vg::auth {

enum class AssociationRefusal { kNone, kUnknownCalledAe, kCallingAeNotAllowed, kUnavailable };

struct AssociationDecision {
  AssociationRefusal refusal = AssociationRefusal::kNone;
  Principal principal;  // when accepted: the tenant and the node's role
  std::string reason;   // when refused: for the log (no patient data)
};

class DicomAccess {
 public:
  explicit DicomAccess(storage::Catalog& catalog) : catalog_(catalog) {}

  // `peer_address` is the caller's IP address as text.
  AssociationDecision Decide(const std::string& called_ae, const std::string& calling_ae,
                             const std::string& peer_address);
  // A C-MOVE destination of the tenant, by AE title (kNotFound when unknown).
  Result<storage::DicomNodeRecord> Destination(std::int64_t tenant_id, const std::string& ae_title);
  Result<void> AddNode(std::int64_t tenant_id, const std::string& ae_title, const std::string& host, int port,
                       const std::string& role = "service");

 private:
  storage::Catalog& catalog_;
};

// True when `host` (a name or an address) resolves to `address`.
bool HostMatches(const std::string& host, const std::string& address);

}  // namespace vg::auth
