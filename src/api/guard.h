// The one door of every API route: authenticate, authorize against auth/policy.h, audit.
//
// A guarded route runs its handler only for a principal that auth::Authorize allows to
// perform the route's action: a bearer token, or a signed-in person (session cookie;
// unsafe methods also need the X-CSRF-Token). Vendor support staff name the clinic in
// X-Voxelgate-Tenant and act under that clinic's support grant, limited to its studies.
// A person whose password must be changed can do nothing else first. Every call, allowed
// or not, is written to the audit trail with the caller, tenant, address and status.
#pragma once

#include <functional>

#include "auth/audit_trail.h"
#include "auth/login_throttle.h"
#include "auth/support_grants.h"
#include "auth/tokens.h"
#include "auth/users.h"
#include "http/router.h"
#include "services/acceptance.h"
#include "services/annotations.h"
#include "services/archive.h"
#include "services/evidence_pack.h"
#include "services/exports.h"
#include "services/monailabel.h"
#include "services/monitoring.h"
#include "services/result_forms.h"
#include "services/runs.h"
#include "services/segmentations.h"
#include "services/shadow_runs.h"
#include "services/volumes.h"

namespace vg::api {

inline constexpr const char* kSessionCookie = "vg_session";
inline constexpr const char* kTenantHeader = "x-voxelgate-tenant";

struct ApiDeps {
  services::Archive& archive;
  storage::Catalog& catalog;
  auth::TokenService& tokens;
  auth::UserService& users;
  auth::SupportGrants& grants;
  auth::LoginThrottle& throttle;
  auth::AuditTrail& audit;
  bool secure_cookies = false;  // with TLS on
  std::string web_root;          // the built browser app (see web/web_routes.h)
  // The use cases behind the clinical API. Null only where routes are listed, never run
  // (`voxelgate admin routes`).
  services::Annotations* annotations = nullptr;
  services::Volumes* volumes = nullptr;
  services::Segmentations* segmentations = nullptr;
  services::Exports* exports = nullptr;
  services::Algorithms* algorithms = nullptr;
  services::Runs* runs = nullptr;
  services::Deployments* deployments = nullptr;
  services::ShadowRuns* shadow_runs = nullptr;
  services::Acceptance* acceptance = nullptr;
  services::EvidencePack* evidence = nullptr;
  services::ResultForms* result_forms = nullptr;
  licensing::Licensing* licensing = nullptr;
  services::Monitoring* monitoring = nullptr;
  services::MonaiLabel* monailabel = nullptr;
  storage::ImageAliasStore* aliases = nullptr;
  std::string monailabel_prefix = "/monailabel";  // "off": no MONAI Label surface
  services::AlertThresholds alert_thresholds;
  std::string metrics_token;          // when set, /metrics asks for it (Bearer)
  bool metrics_tenant_labels = false;  // clinic slugs in metric labels
  std::function<void()> jobs_queued;  // wakes the job workers
  // A signed checkpoint of the audit chain's head, now (auth/audit_checkpoint.h): JSON.
  std::function<Result<std::string>()> audit_checkpoint;
};

using AuthedHandler = std::function<http::Response(http::Request&, const auth::Principal&)>;

// A handler taking (request, principal, deps), bound to `deps` (copied: it holds references).
template <typename Handler>
AuthedHandler WithDeps(const ApiDeps& deps, Handler handler) {
  return [deps, handler](http::Request& r, const auth::Principal& p) { return handler(r, p, deps); };
}

// Adds a route whose handler runs only for an allowed principal (see above).
void AddGuarded(http::Router& router, const ApiDeps& deps, std::string method, std::string pattern,
                std::string name, std::string action, AuthedHandler handler);
// Adds a route of a public action (health, sign-in): no credentials asked.
void AddPublic(http::Router& router, std::string method, std::string pattern, std::string name, std::string action,
               http::Handler handler);

// For a public route that takes credentials when they come (a signed link or a token):
// the same authentication and admission as AddGuarded, without its audit record.
Result<auth::Principal> AdmitRequest(http::Request& request, const ApiDeps& deps, const std::string& action);

// Every route names an action of the policy table, public routes public actions and
// guarded routes guarded ones. The server refuses to start otherwise.
Result<void> CheckRoutePolicies(const http::Router& router);

// The session token from a request's Cookie header, if any.
std::string SessionCookieOf(const http::Request& request);
// An error response; 401 gets WWW-Authenticate, 429 Retry-After when known.
http::Response AuthErrorResponse(const Error& error);
// Writes one audit record for `principal` (or for an anonymous caller when null).
void AuditCall(const ApiDeps& deps, const http::Request& request, const auth::Principal* principal,
               const std::string& action, const std::string& object, int status, const std::string& detail = {});

}  // namespace vg::api
