#include "api/session/session_routes.h"

#include <nlohmann/json.hpp>

#include "api/json_body.h"
#include "core/clock.h"
#include "core/strings.h"

namespace vg::api {
namespace {

// Secure whenever the client's request was HTTPS: over our own TLS, or a trusted proxy's.
std::string Cookie(const ApiDeps& deps, const http::Request& request, const std::string& value, bool clear) {
  std::string cookie = std::string(kSessionCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Strict";
  if (deps.secure_cookies || request.secure) cookie += "; Secure";
  if (clear) cookie += "; Max-Age=0";
  return cookie;
}

// The named string members of a JSON body, all required.
Result<std::vector<std::string>> ReadStrings(http::Request& request, std::initializer_list<const char*> names) {
  auto body = ReadJsonObject(request);
  if (!body) return std::unexpected(body.error());
  std::vector<std::string> values;
  for (const char* name : names) {
    auto value = StringMember(*body, name, /*required=*/true);
    if (!value) return std::unexpected(value.error());
    values.push_back(std::move(*value));
  }
  return values;
}

nlohmann::json PrincipalJson(const auth::Principal& p) {
  return {{"username", p.username},
          {"tenant", p.tenant_slug},
          {"role", p.role},
          {"must_change_password", p.must_change_password}};
}

http::Response TooManyAttempts(std::int64_t wait_ms) {
  const std::int64_t seconds = (wait_ms + 999) / 1000;
  http::Response response = http::ErrorResponse(
      429, "too_many_attempts",
      "too many failed sign-ins; try again in " + std::to_string(seconds) + (seconds == 1 ? " second" : " seconds"));
  response.Header("Retry-After", std::to_string(seconds));
  return response;
}

// Committed before the answer (a security event): the error when it cannot be.
Result<void> AuditLogin(const ApiDeps& deps, const http::Request& request, const std::string& username,
                        const auth::Principal* principal, int status, const std::string& detail) {
  storage::AuditEvent event;
  event.actor = principal ? principal->username : username.substr(0, 64);
  event.actor_kind = "user";
  if (principal) {
    event.tenant_id = event.actor_tenant_id = principal->tenant_id;
  } else if (auto user = deps.catalog.FindUser(username)) {
    // A failed attempt on a known account is the account's clinic's business.
    event.tenant_id = event.actor_tenant_id = user->tenant_id;
  }
  event.action = "session.login";
  event.outcome = status == 200 ? "ok 200" : (status == 429 ? "throttled 429" : "denied " + std::to_string(status));
  event.remote = request.remote_address;
  event.detail = detail;
  return deps.audit.RecordNow(std::move(event));
}

}  // namespace

std::variant<auth::LoginResult, http::Response> SignInThrottled(http::Request& request, const ApiDeps& deps,
                                                                 const std::string& username, const std::string& password) {
  // The block is checked before the password is: a right and a wrong one get the same answer.
  if (std::int64_t wait = deps.throttle.BlockedForMs(username, request.remote_address, UnixMillis()); wait > 0) {
    if (auto ok = AuditLogin(deps, request, username, nullptr, 429, "throttled"); !ok) return http::ErrorResponse(ok.error());
    return TooManyAttempts(wait);
  }
  auto login = deps.users.Login(username, password);
  if (!login) {
    if (login.error().code == ErrorCode::kUnauthenticated)
      deps.throttle.RecordFailure(username, request.remote_address, UnixMillis());
    if (auto ok = AuditLogin(deps, request, username, nullptr, 401, ""); !ok) return http::ErrorResponse(ok.error());
    return http::ErrorResponse(login.error());
  }
  deps.throttle.RecordSuccess(username, request.remote_address);
  if (auto ok = AuditLogin(deps, request, username, &login->principal, 200, ""); !ok) {
    // Signed in but unrecorded: the session is ended again and the sign-in refused.
    (void)deps.users.Logout(login->principal);
    return http::ErrorResponse(ok.error());
  }
  return std::move(*login);
}

namespace {

http::Response SignIn(http::Request& request, const ApiDeps& deps) {
  auto fields = ReadStrings(request, {"username", "password"});
  if (!fields) return http::ErrorResponse(fields.error());
  auto signed_in = SignInThrottled(request, deps, (*fields)[0], (*fields)[1]);
  if (auto* refused = std::get_if<http::Response>(&signed_in)) return std::move(*refused);
  auto* login = &std::get<auth::LoginResult>(signed_in);
  nlohmann::json answer = PrincipalJson(login->principal);
  answer["csrf_token"] = login->csrf_token;
  http::Response response = http::JsonResponse(200, answer.dump());
  response.Header("Set-Cookie", Cookie(deps, request, login->session_token, false));
  response.Header("Cache-Control", "no-store");
  response.tenant = login->principal.tenant_slug;
  return response;
}

http::Response SignOut(const http::Request& request, const auth::Principal& principal, const ApiDeps& deps) {
  if (auto r = deps.users.Logout(principal); !r) return http::ErrorResponse(r.error());
  http::Response response;
  response.status = 204;
  response.Header("Set-Cookie", Cookie(deps, request, "", true));
  return response;
}

http::Response Me(http::Request& request, const auth::Principal& principal) {
  auto body = PrincipalJson(principal);
  if (principal.credential == auth::Credential::kSession)
    if (const std::string session = SessionCookieOf(request); !session.empty())
      body["csrf_token"] = auth::UserService::CsrfTokenOf(session);
  http::Response response = http::JsonResponse(200, body.dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

http::Response ChangePassword(http::Request& request, const auth::Principal& principal, const ApiDeps& deps) {
  auto fields = ReadStrings(request, {"current_password", "new_password"});
  if (!fields) return http::ErrorResponse(fields.error());
  // A stolen session must not become a password-guessing oracle.
  if (std::int64_t wait = deps.throttle.BlockedForMs(principal.username, request.remote_address, UnixMillis()); wait > 0)
    return TooManyAttempts(wait);
  auto changed = deps.users.ChangeOwnPassword(principal, (*fields)[0], (*fields)[1]);
  if (!changed) {
    if (changed.error().code == ErrorCode::kForbidden)
      deps.throttle.RecordFailure(principal.username, request.remote_address, UnixMillis());
    return http::ErrorResponse(changed.error());
  }
  http::Response response;
  response.status = 204;
  return response;
}

}  // namespace

void AddSessionRoutes(http::Router& router, const ApiDeps& deps) {
  AddPublic(router, "POST", "/api/v1/session", "session_login", "session.login",
            [deps](http::Request& r) { return SignIn(r, deps); });
  AddGuarded(router, deps, "DELETE", "/api/v1/session", "session_logout", "session.logout",
             [deps](http::Request& r, const auth::Principal& p) { return SignOut(r, p, deps); });
  AddGuarded(router, deps, "GET", "/api/v1/me", "me", "self.read",
             [](http::Request& r, const auth::Principal& p) { return Me(r, p); });
  AddGuarded(router, deps, "PUT", "/api/v1/me/password", "me_password", "self.password",
             [deps](http::Request& r, const auth::Principal& p) { return ChangePassword(r, p, deps); });
}

}  // namespace vg::api
