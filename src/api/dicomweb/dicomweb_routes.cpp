#include "api/dicomweb/dicomweb_routes.h"

#include "api/auth_guard.h"
#include "api/session/session_routes.h"
#include "auth/policy.h"

namespace vg::api {
namespace {

std::string ObjectOf(const http::Request& request) {
  std::string object;
  for (const char* key : {"study", "series", "instance", "frames", "tag"}) {
    auto it = request.params.find(key);
    if (it != request.params.end()) object += (object.empty() ? "" : " ") + std::string(key) + "=" + it->second;
  }
  return object;
}

std::string OutcomeOf(int status) {
  if (status == 401 || status == 403) return "denied " + std::to_string(status);
  if (status >= 400) return "failed " + std::to_string(status);
  return "ok " + std::to_string(status);
}

}  // namespace

// A bearer token, or a session cookie (with its CSRF token on unsafe methods).
Result<auth::Principal> Authenticate(const http::Request& request, DicomwebDeps deps) {
  if (request.Header("authorization")) return BearerPrincipal(request, deps.tokens);
  std::string cookie = SessionCookieOf(request);
  if (cookie.empty()) return Fail(ErrorCode::kUnauthenticated, "missing Authorization: Bearer token or session");
  return deps.users.Authenticate(cookie);
}

// Cookie-authenticated unsafe requests must carry the session's CSRF token.
Result<void> CheckCsrf(const http::Request& request, DicomwebDeps deps, const auth::Principal& principal) {
  const bool unsafe = request.method != "GET" && request.method != "HEAD" && request.method != "OPTIONS";
  if (!unsafe || principal.session_id == 0) return {};
  if (deps.users.CsrfMatches(principal, request.Header("x-csrf-token").value_or(""))) return {};
  return Fail(ErrorCode::kForbidden, "missing or wrong X-CSRF-Token header");
}

http::Handler Guarded(DicomwebDeps deps, std::string action, AuthedHandler handler) {
  return [deps, action = std::move(action), handler = std::move(handler)](http::Request& request) {
    storage::AuditEvent event;
    event.actor_kind = request.Header("authorization") ? "token" : "user";
    event.action = action;
    event.remote = request.remote_address;
    event.object = ObjectOf(request);
    http::Response response;
    auto principal = Authenticate(request, deps);
    if (!principal) {
      response = AuthErrorResponse(principal.error());
      event.actor = "anonymous";
      event.detail = principal.error().public_message;
    } else {
      event.tenant_id = principal->tenant_id;
      event.actor = principal->token_name;
      auto allowed = CheckCsrf(request, deps, *principal);
      if (allowed) allowed = auth::Authorize(*principal, action);
      if (!allowed) {
        response = http::ErrorResponse(allowed.error());
        event.detail = allowed.error().public_message;
      } else {
        response = handler(request, *principal);
        if (!response.audit_object.empty()) event.object = response.audit_object;
      }
      response.tenant = principal->tenant_slug;
    }
    event.outcome = OutcomeOf(response.status);
    deps.audit.Record(std::move(event));
    return response;
  };
}

void AddStowRoutes(http::Router& router, DicomwebDeps deps);
void AddQidoRoutes(http::Router& router, DicomwebDeps deps);
void AddWadoRoutes(http::Router& router, DicomwebDeps deps);

void AddDicomwebRoutes(http::Router& router, DicomwebDeps deps) {
  AddStowRoutes(router, deps);
  AddQidoRoutes(router, deps);
  AddWadoRoutes(router, deps);
}

}  // namespace vg::api
