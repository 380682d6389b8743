// Training-set exports (docs/api-annotations.md): submit, follow, download.
#pragma once

#include "api/guard.h"

namespace vg::api {

void AddExportRoutes(http::Router& router, const ApiDeps& deps);

// A job as the API shows it (exports now, algorithm runs later).
nlohmann::json JobJson(const storage::JobRecord& job);

}  // namespace vg::api
