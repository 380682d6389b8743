// Administration of people and credentials, each within the caller's own tenant:
//   /api/v1/users            list, create; PATCH {disabled}; POST .../password-reset
//   /api/v1/tokens           one's own API tokens (admins: the tenant's), create, revoke
//   /api/v1/support-grants   a clinic admin's grants to vendor support; vendor staff list
//   /api/v1/audit            the audit trail: filters, paging, CSV
// Thin handlers: the rules live in auth/ (UserService, TokenService, SupportGrants).
#pragma once

#include "api/guard.h"

namespace vg::api {

void AddAccountRoutes(http::Router& router, const ApiDeps& deps);
void AddAuditRoutes(http::Router& router, const ApiDeps& deps);

}  // namespace vg::api
