#include "api/dicomweb/dicomweb_routes.h"

#include "api/auth_guard.h"

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

http::Handler Guarded(DicomwebDeps deps, const char* scope, std::string action, AuthedHandler handler) {
  return [deps, scope, action = std::move(action), handler = std::move(handler)](http::Request& request) {
    storage::AuditEvent event;
    event.actor_kind = "token";
    event.action = action;
    event.remote = request.remote_address;
    auto principal = RequireScope(request, deps.tokens, scope);
    http::Response response;
    if (!principal) {
      response = AuthErrorResponse(principal.error());
      event.actor = "anonymous";
      event.object = ObjectOf(request);
      event.detail = principal.error().public_message;
    } else {
      response = handler(request, *principal);
      response.tenant = principal->tenant_slug;
      event.tenant_id = principal->tenant_id;
      event.actor = principal->token_name;
      event.object = response.audit_object.empty() ? ObjectOf(request) : response.audit_object;
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
