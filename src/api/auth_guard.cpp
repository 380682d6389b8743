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


http::Response AuthErrorResponse(const Error& error) {
  http::Response response = http::ErrorResponse(error);
  if (error.code == ErrorCode::kUnauthenticated) response.Header("WWW-Authenticate", "Bearer realm=\"voxelgate\"");
  return response;
}

}  // namespace vg::api
