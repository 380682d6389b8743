#include "api/session/session_routes.h"

#include <nlohmann/json.hpp>

#include "core/strings.h"

namespace vg::api {
namespace {

constexpr std::size_t kMaxLoginBody = 16 * 1024;

std::string Cookie(const SessionDeps& deps, const std::string& value, bool clear) {
  std::string cookie = std::string(kSessionCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Strict";
  if (deps.secure_cookies) cookie += "; Secure";
  if (clear) cookie += "; Max-Age=0";
  return cookie;
}

void Audit(const SessionDeps& deps, const http::Request& request, std::optional<std::int64_t> tenant,
           const std::string& actor, const std::string& action, const std::string& outcome) {
  storage::AuditEvent event;
  event.tenant_id = tenant;
  event.actor = actor;
  event.actor_kind = "user";
  event.action = action;
  event.outcome = outcome;
  event.remote = request.remote_address;
  deps.audit.Record(std::move(event));
}

nlohmann::json PrincipalJson(const auth::Principal& p) {
  return {{"username", p.username}, {"tenant", p.tenant_slug}, {"role", p.role}};
}

http::Response SignIn(http::Request& request, const SessionDeps& deps) {
  auto body = ReadAll(request.body(), kMaxLoginBody);
  if (!body) return http::ErrorResponse(413, "too_large", "the sign-in body is limited to 16 KiB");
  auto json = nlohmann::json::parse(*body, nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.contains("username") || !json.contains("password") ||
      !json["username"].is_string() || !json["password"].is_string())
    return http::ErrorResponse(400, "invalid_argument", "send {\"username\": \"...\", \"password\": \"...\"}");
  const std::string username = json["username"];
  auto login = deps.users.Login(username, json["password"].get<std::string>());
  if (!login) {
    Audit(deps, request, std::nullopt, username.substr(0, 64), "session.login", "denied");
    return http::ErrorResponse(login.error());
  }
  Audit(deps, request, login->principal.tenant_id, username, "session.login", "ok");
  nlohmann::json answer = PrincipalJson(login->principal);
  answer["csrf_token"] = login->csrf_token;
  answer["must_change_password"] = login->must_change_password;
  http::Response response = http::JsonResponse(200, answer.dump());
  response.Header("Set-Cookie", Cookie(deps, login->session_token, false));
  response.Header("Cache-Control", "no-store");
  response.tenant = login->principal.tenant_slug;
  return response;
}

http::Response SignOut(http::Request& request, const SessionDeps& deps) {
  auto principal = deps.users.Authenticate(SessionCookieOf(request));
  if (!principal) return http::ErrorResponse(principal.error());
  if (!deps.users.CsrfMatches(*principal, request.Header("x-csrf-token").value_or("")))
    return http::ErrorResponse(403, "csrf", "missing or wrong X-CSRF-Token header");
  (void)deps.users.Logout(*principal);
  Audit(deps, request, principal->tenant_id, principal->username, "session.logout", "ok");
  http::Response response;
  response.status = 204;
  response.Header("Set-Cookie", Cookie(deps, "", true));
  return response;
}

http::Response Me(http::Request& request, const SessionDeps& deps) {
  auto principal = deps.users.Authenticate(SessionCookieOf(request));
  if (!principal) return http::ErrorResponse(principal.error());
  http::Response response = http::JsonResponse(200, PrincipalJson(*principal).dump());
  response.Header("Cache-Control", "no-store");
  response.tenant = principal->tenant_slug;
  return response;
}

}  // namespace

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

void AddSessionRoutes(http::Router& router, SessionDeps deps) {
  router.Add("POST", "/api/v1/session", "session_login", [deps](http::Request& r) { return SignIn(r, deps); });
  router.Add("DELETE", "/api/v1/session", "session_logout", [deps](http::Request& r) { return SignOut(r, deps); });
  router.Add("GET", "/api/v1/me", "me", [deps](http::Request& r) { return Me(r, deps); });
}

}  // namespace vg::api
