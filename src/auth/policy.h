// Policy: which principals may perform which action, in one table. A bearer token needs
// the action's scope; a signed-in person needs one of the action's roles. Vendor roles
// are absent from every clinic-data action: they reach a clinic's images only through a
// support grant (to come), never by role.
#pragma once

#include <string_view>
#include <vector>

#include "auth/principal.h"
#include "core/result.h"

namespace vg::auth {

struct ActionPolicy {
  std::string_view action;               // e.g. "dicomweb.qido"
  std::string_view scope;                // what a token needs
  std::vector<std::string_view> roles;   // what a person needs (any of)
};

// The whole table (for documentation and the authorization tests).
const std::vector<ActionPolicy>& Policies();

// kForbidden with a reason, or ok. An action missing from the table is refused.
Result<void> Authorize(const Principal& principal, std::string_view action);

}  // namespace vg::auth
