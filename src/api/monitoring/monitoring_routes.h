// Monitoring over HTTP (docs/api-monitoring.md): feedback on results, bug reports with
// their comments, screenshot and reproduction bundle, the dashboard summary (JSON or
// CSV), run records and alerts. The vendor's staff see every clinic's metadata; pixels
// only where the clinic shares cases or a support grant covers the study.
#pragma once

#include "api/guard.h"

namespace vg::api {

void AddMonitoringRoutes(http::Router& router, const ApiDeps& deps);

}  // namespace vg::api
