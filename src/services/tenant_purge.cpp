#include "services/tenant_purge.h"

namespace vg::services {

Result<void> PurgeTenant(Archive& archive, licensing::Licensing& licensing, std::int64_t tenant_id, std::int64_t now) {
  if (auto ok = licensing.CheckPurge(tenant_id, now); !ok) return ok;
  // The key first: from this commit on, nothing of the clinic can be decrypted, whatever
  // happens to the files below.
  if (auto ok = archive.catalog.PurgeTenant(tenant_id); !ok) return ok;
  archive.tenants.Forget(tenant_id);
  return archive.blobs.RemoveTenant(tenant_id);
}

}  // namespace vg::services
