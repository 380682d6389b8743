// The algorithm's life in the clinics (services/deployments.h, services/shadow_runs.h):
// the vendor sees every clinic's version, promotes, rolls back, schedules, runs a version
// in shadow and reads the comparison; each clinic reads what it runs and every change
// to it, with its date.
#pragma once

#include "api/guard.h"

namespace vg::api {

void AddDeploymentRoutes(http::Router& router, const ApiDeps& deps);
// Reference cases and acceptance runs (acceptance_routes.cpp).
void AddAcceptanceRoutes(http::Router& router, const ApiDeps& deps);

}  // namespace vg::api
