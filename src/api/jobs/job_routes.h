// Algorithms and their runs: the registry (GET for everyone who may run, POST for the
// vendor), jobs (submit, follow, cancel, Server-Sent Events), auto-run rules.
#pragma once

#include "api/guard.h"

namespace vg::api {

void AddJobRoutes(http::Router& router, const ApiDeps& deps);

}  // namespace vg::api
