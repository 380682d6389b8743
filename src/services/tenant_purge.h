// Purging a clinic at the end: after its subscription ended and its retention window
// passed, the vendor crypto-shreds its data key, then removes its (unreadable) blobs and
// index. The clinic was warned (its subscription view shows purge_after).
#pragma once

#include "licensing/licensing.h"
#include "services/archive.h"

namespace vg::services {

Result<void> PurgeTenant(Archive& archive, licensing::Licensing& licensing, std::int64_t tenant_id, std::int64_t now);

}  // namespace vg::services
