// Plans, tenants and subscriptions for the vendor; a clinic's own subscription; usage
// (what invoices are made from), JSON or CSV.
#pragma once

#include "api/guard.h"

namespace vg::api {

void AddLicensingRoutes(http::Router& router, const ApiDeps& deps);

}  // namespace vg::api
