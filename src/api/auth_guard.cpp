#include "api/auth_guard.h"

#include "core/strings.h"

namespace vg::api {

Result<auth::Principal> BearerPrincipal(const http::Request& request, auth::TokenService& tokens) {
  auto header = request.Header("authorization");
  if (!header) return Fail(ErrorCode::kUnauthenticated, "missing Authorization: Bearer token");
  std::string_view value = Trim(*header);
  if (value.size() < 7 || !IEquals(value.substr(0, 7), "bearer "))
    return Fail(ErrorCode::kUnauthenticated, "Authorization must use the Bearer scheme");
  return tokens.Authenticate(Trim(value.substr(7)));
}

Result<auth::Principal> RequireScope(const http::Request& request, auth::TokenService& tokens, const char* scope) {
  auto principal = BearerPrincipal(request, tokens);
  if (!principal) return std::unexpected(principal.error());
  if (!principal->HasScope(scope))
    return Fail(ErrorCode::kForbidden, std::string("this token lacks the scope ") + scope);
  return principal;
}

http::Response AuthErrorResponse(const Error& error) {
  http::Response response = http::ErrorResponse(error);
  if (error.code == ErrorCode::kUnauthenticated) response.Header("WWW-Authenticate", "Bearer realm=\"voxelgate\"");
  return response;
}

}  // namespace vg::api
