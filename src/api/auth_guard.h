// Resolves the principal of a request from its bearer token and checks a scope.
// 401 (with WWW-Authenticate) for missing or bad credentials, 403 for a missing scope.
#pragma once

#include "auth/tokens.h"
#include "http/message.h"

namespace vg::api {

// The principal of an `Authorization: Bearer` header (scopes are auth::Authorize's job).
Result<auth::Principal> BearerPrincipal(const http::Request& request, auth::TokenService& tokens);
// An error response for failed authentication (adds WWW-Authenticate on 401).
http::Response AuthErrorResponse(const Error& error);

}  // namespace vg::api
