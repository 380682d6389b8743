// Operations endpoints: /healthz (process up), /readyz (catalog answers), /metrics.
#pragma once

#include "http/router.h"
#include "storage/catalog.h"

namespace vg::api {
void AddOpsRoutes(http::Router& router, storage::Catalog& catalog);
}  // namespace vg::api
