#include "api/guard.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "auth/policy.h"
#include "core/clock.h"
#include "core/strings.h"

namespace vg::api {
namespace {

// Which objects the path names (UIDs only, never patient data).
std::string ObjectOf(const http::Request& request) {
  std::string object;
  for (const auto& [key, value] : request.params) object += (object.empty() ? "" : " ") + key + "=" + value;
  return object;
}

std::string OutcomeOf(int status) {
  if (status == 401 || status == 403) return "denied " + std::to_string(status);
  if (status >= 400) return "failed " + std::to_string(status);
  return "ok " + std::to_string(status);
}

// An API token; or the token of a session, which MONAI Label clients get from
// /monailabel/auth/token and send as a bearer token (a header no browser adds on its own,
// so no CSRF token is needed with it).
Result<auth::Principal> BearerPrincipal(const http::Request& request, const ApiDeps& deps) {
  const std::string header = request.Header("authorization").value_or("");
  std::string_view value = Trim(header);
  if (value.size() < 7 || !IEquals(value.substr(0, 7), "bearer "))
    return Fail(ErrorCode::kUnauthenticated, "Authorization must use the Bearer scheme");
  const std::string_view token = Trim(value.substr(7));
  auto principal = deps.tokens.Authenticate(token);
  if (principal || principal.error().code != ErrorCode::kUnauthenticated) return principal;
  auto session = deps.users.Authenticate(token);
  if (!session) return principal;  // the token's refusal: it says what a token needs
  session->session_as_bearer = true;
  return session;
}

// A bearer token, or a session cookie.
Result<auth::Principal> Authenticate(const http::Request& request, const ApiDeps& deps) {
  if (request.Header("authorization")) return BearerPrincipal(request, deps);
  std::string cookie = SessionCookieOf(request);
  if (cookie.empty()) return Fail(ErrorCode::kUnauthenticated, "sign in, or send Authorization: Bearer TOKEN");
  return deps.users.Authenticate(cookie);
}

// Cookie-authenticated unsafe requests must carry the session's CSRF token.
Result<void> CheckCsrf(const http::Request& request, const ApiDeps& deps, const auth::Principal& principal) {
  const bool unsafe = request.method != "GET" && request.method != "HEAD" && request.method != "OPTIONS";
  if (!unsafe || principal.credential != auth::Credential::kSession || principal.session_as_bearer) return {};
  if (deps.users.CsrfMatches(principal, request.Header("x-csrf-token").value_or(""))) return {};
  return Fail(ErrorCode::kForbidden, "missing or wrong X-CSRF-Token header");
}

// A role the policy allows only where the clinic's setting is on (physicians saving
// segmentations): the policy table cannot read clinic settings, the guard can.
Result<void> CheckCondition(const ApiDeps& deps, const auth::ActionPolicy& policy, const auth::Principal& person) {
  if (policy.condition.empty() ||
      std::find(policy.roles.begin(), policy.roles.end(), person.role) != policy.roles.end())
    return {};
  if (!deps.annotations) return Fail(ErrorCode::kForbidden, "the clinic's settings cannot be read here");
  auto settings = deps.annotations->Settings(person.tenant_id);
  if (!settings) return std::unexpected(settings.error());
  bool on = false;
  if (policy.condition == "physicians_edit_segmentations") on = settings->physicians_edit_segmentations;
  if (!on)
    return Fail(ErrorCode::kForbidden, "this clinic does not let " + person.role + "s do this (setting " +
                                           std::string(policy.condition) + " is off)");
  return {};
}

bool AllowedBeforePasswordChange(std::string_view action) {
  return action == "self.read" || action == "self.password" || action == "session.logout";
}

// Everything between the credentials and the handler. Under a support grant, `person`
// becomes the principal acting on the named clinic.
Result<void> Admit(http::Request& request, const ApiDeps& deps, const std::string& action, auth::Principal& person) {
  if (auto tenant = request.Header(kTenantHeader); tenant && *tenant != person.tenant_slug) {
    auto acting = deps.grants.Resolve(person, *tenant);
    if (!acting) return std::unexpected(acting.error());
    person = std::move(*acting);
  }
  if (person.must_change_password && !AllowedBeforePasswordChange(action))
    return Fail(ErrorCode::kForbidden, "change your password first (PUT /api/v1/me/password)");
  if (auto ok = CheckCsrf(request, deps, person); !ok) return ok;
  if (auto ok = auth::Authorize(person, action); !ok) return ok;
  const auth::ActionPolicy* policy = auth::FindPolicy(action);
  if (auto ok = CheckCondition(deps, *policy, person); !ok) return ok;
  // What the clinic's plan covers: a refused feature is 402 with the reason.
  if (!policy->feature.empty() && deps.licensing)
    if (auto ok = deps.licensing->CheckFeature(person.tenant_id, std::string(policy->feature), UnixSeconds()); !ok)
      return ok;
  auto study = request.params.find("study");
  if (study != request.params.end() && !person.MayReadStudy(study->second))
    return Fail(ErrorCode::kForbidden, "the support grant does not cover this study");
  return {};
}

}  // namespace

Result<auth::Principal> AdmitRequest(http::Request& request, const ApiDeps& deps, const std::string& action) {
  auto principal = Authenticate(request, deps);
  if (!principal) return principal;
  if (auto ok = Admit(request, deps, action, *principal); !ok) return std::unexpected(ok.error());
  return principal;
}

namespace {
storage::AuditEvent CallEvent(const http::Request& request, const auth::Principal* principal, const std::string& action,
                              const std::string& object, int status, const std::string& detail) {
  storage::AuditEvent event;
  event.action = action;
  event.object = object;
  event.outcome = OutcomeOf(status);
  event.remote = request.remote_address;
  event.detail = detail;
  if (principal) {
    event.tenant_id = principal->tenant_id;
    event.actor_tenant_id = principal->home_tenant_id;
    event.actor = principal->Actor();
    event.actor_kind = principal->ActorKind();
    if (principal->support_grant_id != 0)
      event.detail = "under support grant " + std::to_string(principal->support_grant_id) +
                     (detail.empty() ? "" : "; " + detail);
  } else {
    event.actor = "anonymous";
    event.actor_kind = request.Header("authorization") ? "token" : "user";
  }
  return event;
}
}  // namespace

void AuditCall(const ApiDeps& deps, const http::Request& request, const auth::Principal* principal,
               const std::string& action, const std::string& object, int status, const std::string& detail) {
  deps.audit.Record(CallEvent(request, principal, action, object, status, detail));
}

std::string SessionCookieOf(const http::Request& request) {
  auto header = request.Header("cookie");
  if (!header) return {};
  for (auto part : Split(*header, ';')) {
    part = Trim(part);
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == kSessionCookie) return std::string(part.substr(eq + 1));
  }
  return {};
}

http::Response AuthErrorResponse(const Error& error) {
  http::Response response = http::ErrorResponse(error);
  if (error.code == ErrorCode::kUnauthenticated) response.Header("WWW-Authenticate", "Bearer realm=\"voxelgate\"");
  return response;
}

void AddGuarded(http::Router& router, const ApiDeps& deps, std::string method, std::string pattern,
                std::string name, std::string action, AuthedHandler handler) {
  const auth::ActionPolicy* policy = auth::FindPolicy(action);
  const bool audit_allowed = !policy || policy->audit_allowed;
  const bool security_event = auth::IsSecurityEvent(action);
  auto guarded = [deps, action, audit_allowed, security_event, handler = std::move(handler)](http::Request& request) {
    http::Response response;
    auto principal = Authenticate(request, deps);
    if (!principal) {
      response = AuthErrorResponse(principal.error());
      AuditCall(deps, request, nullptr, action, ObjectOf(request), response.status, principal.error().public_message);
      return response;
    }
    auto admitted = Admit(request, deps, action, *principal);
    std::string detail;
    if (!admitted) {
      response = AuthErrorResponse(admitted.error());
      detail = admitted.error().public_message;
    } else if (audit_allowed && !deps.audit.Accepting()) {
      // What cannot be recorded is not done.
      response = http::ErrorResponse(503, "audit_unavailable",
                                     "the audit trail cannot be written just now; try again shortly");
      response.Header("Retry-After", "5");
    } else {
      response = handler(request, *principal);
    }
    response.tenant = principal->tenant_slug;
    if (!audit_allowed && response.status < 400) return response;
    auto event = CallEvent(request, &*principal, action,
                           response.audit_object.empty() ? ObjectOf(request) : response.audit_object, response.status,
                           detail.empty() ? response.audit_detail : detail);
    if (!security_event) {
      deps.audit.Record(std::move(event));
      return response;
    }
    // Committed before the answer: a security event the trail cannot hold is answered 503.
    if (auto recorded = deps.audit.RecordNow(std::move(event)); !recorded) {
      http::Response refused = http::ErrorResponse(recorded.error());
      refused.tenant = response.tenant;
      return refused;
    }
    return response;
  };
  router.Add(std::move(method), std::move(pattern), std::move(name), std::move(action), std::move(guarded));
}

void AddPublic(http::Router& router, std::string method, std::string pattern, std::string name, std::string action,
               http::Handler handler) {
  // A programming error, caught the moment the server builds its routes.
  const auth::ActionPolicy* policy = auth::FindPolicy(action);
  if (!policy || !policy->is_public) throw std::logic_error("route " + name + ": action " + action + " is not public");
  router.Add(std::move(method), std::move(pattern), std::move(name), std::move(action), std::move(handler));
}

Result<void> CheckRoutePolicies(const http::Router& router) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& route : router.routes()) {
    const auth::ActionPolicy* policy = auth::FindPolicy(route.action);
    if (!policy)
      return Fail(ErrorCode::kInternal, "route " + route.name + " (" + route.method + " " + route.pattern +
                                            ") names the action '" + route.action + "', which has no policy entry");
    if (!seen.insert({route.method, route.pattern}).second)
      return Fail(ErrorCode::kInternal, "route " + route.method + " " + route.pattern + " is registered twice");
  }
  return {};
}

}  // namespace vg::api
