// People's sessions: POST /api/v1/session (sign in), DELETE /api/v1/session (sign out),
// GET /api/v1/me. The session lives in an HttpOnly, SameSite=Strict cookie; the sign-in
// answer carries the CSRF token that cookie-authenticated unsafe requests send back in
// X-CSRF-Token.
#pragma once

#include "auth/audit_trail.h"
#include "auth/users.h"
#include "http/router.h"

namespace vg::api {

inline constexpr const char* kSessionCookie = "vg_session";

struct SessionDeps {
  auth::UserService& users;
  auth::AuditTrail& audit;
  bool secure_cookies = false;  // with TLS on
};

void AddSessionRoutes(http::Router& router, SessionDeps deps);

// The session token from a request's Cookie header, if any.
std::string SessionCookieOf(const http::Request& request);

}  // namespace vg::api
