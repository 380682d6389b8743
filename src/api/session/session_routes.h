// People's sessions: POST /api/v1/session (sign in, throttled), DELETE /api/v1/session
// (sign out), GET /api/v1/me, PUT /api/v1/me/password. The session lives in an HttpOnly,
// SameSite=Strict cookie (Secure with TLS); the sign-in answer carries the CSRF token
// that cookie-authenticated unsafe requests send back in X-CSRF-Token.
#pragma once

#include <variant>

#include "api/guard.h"

namespace vg::api {

void AddSessionRoutes(http::Router& router, const ApiDeps& deps);

// A sign-in with the login throttle and the audit trail (also the MONAI Label token
// endpoint's): the new session, or the refusal to send (401, 429 with Retry-After).
std::variant<auth::LoginResult, http::Response> SignInThrottled(http::Request& request, const ApiDeps& deps,
                                                                 const std::string& username, const std::string& password);

}  // namespace vg::api
