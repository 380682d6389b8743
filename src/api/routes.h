// The whole HTTP route table, built in one place so that the server, the start-up policy
// check and `voxelgate admin routes` (the authorization matrix test reads it) see the same.
#pragma once

#include <nlohmann/json.hpp>

#include "api/guard.h"

namespace vg::api {

// Every route; fails when a route's action has no policy entry.
Result<http::Router> BuildRouter(const ApiDeps& deps);
// [{method, pattern, name, action, public, scope, roles, grantable}], for tests and docs.
nlohmann::json DescribeRoutes(const http::Router& router);

}  // namespace vg::api
