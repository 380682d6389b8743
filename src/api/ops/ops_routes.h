// Operations endpoints: /healthz (process up), /readyz (catalog answers), /metrics
// (Prometheus text; asks for a bearer token when one is configured).
#pragma once

#include "api/guard.h"

namespace vg::api {
void AddOpsRoutes(http::Router& router, const ApiDeps& deps);
}  // namespace vg::api
