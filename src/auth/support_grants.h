// SupportGrants: a clinic admin lets the vendor's support staff read the clinic's data
// (one study, or everything) until a given time. A provider_support request names the
// clinic (X-Voxelgate-Tenant); Resolve turns the person's principal into one acting on
// that clinic under the grant, or refuses. Every check reads the catalog, so a revocation
// takes effect at the next request.
#pragma once

#include <optional>
#include <string>

#include "auth/principal.h"
#include "storage/catalog.h"

namespace vg::auth {

inline constexpr std::int64_t kMaxGrantSeconds = 30ll * 24 * 3600;

class SupportGrants {
 public:
  explicit SupportGrants(storage::Catalog& catalog) : catalog_(catalog) {}

  // By a clinic admin, for their tenant, to one vendor support user (`support_user`, a
  // provider_support username). `hours` in 1..720.
  Result<storage::SupportGrantRecord> Grant(const Principal& clinic_admin, const std::string& support_user,
                                            std::optional<std::string> study_uid, std::int64_t hours,
                                            const std::string& reason);
  Result<void> Revoke(const Principal& clinic_admin, std::int64_t grant_id);
  // A clinic admin sees their tenant's grants; vendor staff see every tenant's.
  Result<std::vector<storage::SupportGrantRecord>> List(const Principal& principal);

  // The principal acting on `tenant_slug` under an active grant made out to this person.
  // kForbidden when the person is not vendor support or no grant of theirs covers it.
  Result<Principal> Resolve(const Principal& person, const std::string& tenant_slug);

 private:
  storage::Catalog& catalog_;
};

}  // namespace vg::auth
