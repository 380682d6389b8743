// People's sessions: POST /api/v1/session (sign in, throttled), DELETE /api/v1/session
// (sign out), GET /api/v1/me, PUT /api/v1/me/password. The session lives in an HttpOnly,
// SameSite=Strict cookie (Secure with TLS); the sign-in answer carries the CSRF token
// that cookie-authenticated unsafe requests send back in X-CSRF-Token.
#pragma once

#include "api/guard.h"

namespace vg::api {

void AddSessionRoutes(http::Router& router, const ApiDeps& deps);

}  // namespace vg::api
