// The algorithm's life in the clinics (services/deployments.h, services/shadow_runs.h):
// the vendor sees every clinic's version, promotes, rolls back, schedules, runs a version
// in shadow and reads the comparison; each clinic reads what it runs and every change
// to it, with its date.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "api/guard.h"

namespace vg::api {

void AddDeploymentRoutes(http::Router& router, const ApiDeps& deps);
// Reference cases and acceptance runs (acceptance_routes.cpp).
void AddAcceptanceRoutes(http::Router& router, const ApiDeps& deps);

// The clinics a vendor action names: a list of 1-1,000 slugs, or "all" where `allow_all`;
// 400 for another shape, 404 naming a slug that is no clinic (the vendor's own tenant is none).
Result<std::vector<storage::TenantRecord>> ClinicsNamed(const nlohmann::json& clinics, const ApiDeps& deps, bool allow_all);

}  // namespace vg::api
