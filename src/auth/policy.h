// Policy: which principals may perform which action, in one table that every HTTP route
// and every DIMSE operation is checked against.
//
// * A signed-in person needs one of the action's roles.
// * A bearer token needs the action's scope AND its owner's role: a token never does
//   more than its user. Actions without a scope refuse tokens.
// * A DICOM node has the role it was registered with (service or uploader).
// * Vendor roles are absent from every clinic-data action: vendor staff reach a clinic's
//   images only under a support grant, which covers the actions marked `grantable`
//   (reads), and only for the principal the grant was resolved for.
// * Public actions (health, sign-in) need nothing.
// An action missing from the table is refused; the server refuses to start with a route
// whose action is not in the table.
#pragma once

#include <string_view>
#include <vector>

#include "auth/principal.h"
#include "core/result.h"

namespace vg::auth {

struct ActionPolicy {
  std::string_view action;              // e.g. "dicomweb.qido"
  bool is_public = false;               // no credentials needed
  std::string_view scope;               // what a token needs ("" = tokens refused)
  std::vector<std::string_view> roles;  // what the person, token owner or node needs (any of)
  bool grantable = false;               // a support grant covers it
  bool audit_allowed = true;            // false: only refusals are audited (reading one's own identity)
  // Roles allowed only where the clinic's setting `condition` is on; the API's guard checks
  // the setting (the policy cannot read clinic settings) and refuses with 403 otherwise.
  std::vector<std::string_view> conditional_roles = {};
  std::string_view condition = {};
  // The plan feature a clinic needs for it (annotation, export, auto_run, api_tokens);
  // checked by the API's guard against the clinic's subscription or licence.
  std::string_view feature = {};
};

// Every role, for documentation and the authorization matrix.
const std::vector<std::string_view>& AllRoles();
// The whole table (for documentation and the authorization tests).
const std::vector<ActionPolicy>& Policies();
const ActionPolicy* FindPolicy(std::string_view action);

// kForbidden with a reason, or ok. An action missing from the table is refused.
Result<void> Authorize(const Principal& principal, std::string_view action);

// Actions whose audit record is written before the request is answered (and whose
// request fails with 503 when it cannot be): sign-in and sign-out, passwords, tokens,
// users, support grants, clinic settings and tenants (keys, purge), plans and
// subscriptions (licences), exports, algorithm registration, MONAI Label sign-in.
bool IsSecurityEvent(std::string_view action);

}  // namespace vg::auth
