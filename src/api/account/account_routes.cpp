#include "api/account/account_routes.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "api/json_body.h"
#include "api/query_params.h"
#include "core/clock.h"
#include "core/strings.h"

namespace vg::api {
namespace {

using nlohmann::json;
json UserJson(const storage::UserRecord& u) {
  return {{"username", u.username},
          {"role", u.role},
          {"disabled", u.disabled_at.has_value()},
          {"must_change_password", u.must_change_password},
          {"token_only", auth::IsTokenOnlyRole(u.role)},
          {"created_at", u.created_at}};
}

http::Response Created(json body, std::string audit_object) {
  http::Response response = http::JsonResponse(201, body.dump());
  response.Header("Cache-Control", "no-store");
  response.audit_object = std::move(audit_object);
  return response;
}

http::Response NoContent(std::string audit_object) {
  http::Response response;
  response.status = 204;
  response.audit_object = std::move(audit_object);
  return response;
}

// ---- users ----

http::Response ListUsers(const auth::Principal& p, const ApiDeps& deps) {
  auto users = deps.users.List(p);
  if (!users) return http::ErrorResponse(users.error());
  json out = json::array();
  for (const auto& u : *users) out.push_back(UserJson(u));
  return http::JsonResponse(200, out.dump());
}

http::Response CreateUser(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto username = StringMember(*body, "username");
  auto role = StringMember(*body, "role");
  auto password = StringMember(*body, "password");
  for (auto* field : {&username, &role, &password})
    if (!*field) return http::ErrorResponse(field->error());
  // The plan's user limit counts the clinic's active people (token-only users aside).
  if (deps.licensing && !auth::IsTokenOnlyRole(*role)) {
    auto users = deps.users.List(p);
    if (!users) return http::ErrorResponse(users.error());
    const auto active = std::count_if(users->begin(), users->end(), [](const storage::UserRecord& u) {
      return !u.disabled_at && !auth::IsTokenOnlyRole(u.role);
    });
    if (auto ok = deps.licensing->CheckUserLimit(p.tenant_id, active, UnixSeconds()); !ok)
      return http::ErrorResponse(ok.error());
  }
  auto created = deps.users.CreateInTenant(p, *username, *role, *password);
  if (!created) return http::ErrorResponse(created.error());
  json out = UserJson(created->first);
  if (!created->second.empty()) out["one_time_password"] = created->second;
  return Created(out, "user=" + *username + " role=" + *role);
}

http::Response UpdateUser(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  const std::string& username = r.Param("username");
  if (!body->contains("disabled") || !(*body)["disabled"].is_boolean())
    return http::ErrorResponse(400, "invalid_argument", "send {\"disabled\": true|false}");
  const bool disabled = (*body)["disabled"];
  if (auto ok = deps.users.SetDisabled(p, username, disabled); !ok) return http::ErrorResponse(ok.error());
  auto user = deps.users.FindInTenant(p, username);
  if (!user) return http::ErrorResponse(user.error());
  http::Response response = http::JsonResponse(200, UserJson(*user).dump());
  response.audit_object = "user=" + username + (disabled ? " disabled" : " enabled");
  return response;
}

http::Response ResetPassword(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  const std::string& username = r.Param("username");
  auto password = deps.users.ResetPassword(p, username);
  if (!password) return http::ErrorResponse(password.error());
  http::Response response =
      http::JsonResponse(200, json{{"username", username}, {"one_time_password", *password}}.dump());
  response.Header("Cache-Control", "no-store");
  response.audit_object = "user=" + username + " password reset";
  return response;
}

// ---- tokens ----

http::Response ListTokens(const auth::Principal& p, const ApiDeps& deps) {
  auto tokens = deps.tokens.List(p);
  if (!tokens) return http::ErrorResponse(tokens.error());
  json out = json::array();
  for (const auto& t : *tokens)
    out.push_back({{"name", t.name},
                   {"user", t.owner},
                   {"scopes", t.scopes},
                   {"created_at", t.created_at},
                   {"expires_at", t.expires_at ? json(*t.expires_at) : json(nullptr)},
                   {"revoked_at", t.revoked_at ? json(*t.revoked_at) : json(nullptr)}});
  return http::JsonResponse(200, out.dump());
}

http::Response CreateToken(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto name = StringMember(*body, "name");
  auto user = StringMember(*body, "user");
  if (!name) return http::ErrorResponse(name.error());
  if (!user) return http::ErrorResponse(user.error());
  std::vector<std::string> scopes;
  if (!body->contains("scopes") || !(*body)["scopes"].is_array())
    return http::ErrorResponse(400, "invalid_argument", "scopes must be an array, e.g. [\"dicomweb:read\"]");
  for (const auto& s : (*body)["scopes"]) {
    if (!s.is_string()) return http::ErrorResponse(400, "invalid_argument", "each scope is a string");
    scopes.push_back(s);
  }
  std::int64_t days = 90;
  if (body->contains("expires_in_days")) {
    if (!(*body)["expires_in_days"].is_number_integer())
      return http::ErrorResponse(400, "invalid_argument", "expires_in_days must be a whole number");
    days = (*body)["expires_in_days"];
  }
  if (days < 1 || days > 400) return http::ErrorResponse(400, "invalid_argument", "expires_in_days is 1 to 400");
  auto token = deps.tokens.CreateFor(p, *user, *name, scopes, days * 24 * 3600);
  if (!token) return http::ErrorResponse(token.error());
  const std::string owner = user->empty() ? p.username : *user;
  return Created({{"name", *name}, {"user", owner}, {"scopes", scopes}, {"token", *token}},
                 "token=" + *name + " user=" + owner);
}

http::Response RevokeToken(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  const std::string& name = r.Param("name");
  if (auto ok = deps.tokens.RevokeFor(p, name); !ok) return http::ErrorResponse(ok.error());
  return NoContent("token=" + name + " revoked");
}

// ---- support grants ----

json GrantJson(const storage::SupportGrantRecord& g, const std::string& tenant_slug) {
  return {{"id", g.id},
          {"tenant", tenant_slug},
          {"study_uid", g.study_uid ? json(*g.study_uid) : json(nullptr)},
          {"granted_by", g.granted_by},
          {"support_user", g.grantee},
          {"reason", g.reason},
          {"created_at", g.created_at},
          {"expires_at", g.expires_at},
          {"revoked_at", g.revoked_at ? json(*g.revoked_at) : json(nullptr)}};
}

http::Response ListGrants(const auth::Principal& p, const ApiDeps& deps) {
  auto grants = deps.grants.List(p);
  if (!grants) return http::ErrorResponse(grants.error());
  json out = json::array();
  for (const auto& g : *grants) {
    auto tenant = deps.catalog.FindTenantById(g.tenant_id);
    out.push_back(GrantJson(g, tenant ? tenant->slug : "-"));
  }
  return http::JsonResponse(200, out.dump());
}

http::Response CreateGrant(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto study = StringMember(*body, "study_uid");
  auto reason = StringMember(*body, "reason");
  auto support_user = StringMember(*body, "support_user", /*required=*/true);
  if (!support_user) return http::ErrorResponse(support_user.error());
  if (!study) return http::ErrorResponse(study.error());
  if (!reason) return http::ErrorResponse(reason.error());
  if (!body->contains("hours") || !(*body)["hours"].is_number_integer())
    return http::ErrorResponse(400, "invalid_argument", "hours (1 to 720) is required");
  std::optional<std::string> study_uid;
  if (!study->empty()) study_uid = *study;
  auto grant = deps.grants.Grant(p, *support_user, study_uid, (*body)["hours"].get<std::int64_t>(), *reason);
  if (!grant) return http::ErrorResponse(grant.error());
  return Created(GrantJson(*grant, p.tenant_slug),
                 "grant=" + std::to_string(grant->id) + " to=" + grant->grantee +
                     (study_uid ? " study=" + *study_uid : " all studies"));
}

http::Response RevokeGrant(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto id = PathId(r, "id", "no such grant");
  if (!id) return http::ErrorResponse(id.error());
  if (auto ok = deps.grants.Revoke(p, *id); !ok) return http::ErrorResponse(ok.error());
  return NoContent("grant=" + r.Param("id") + " revoked");
}

}  // namespace

void AddAccountRoutes(http::Router& router, const ApiDeps& deps) {
  AddGuarded(router, deps, "GET", "/api/v1/users", "users_list", "users.read",
             [deps](http::Request&, const auth::Principal& p) { return ListUsers(p, deps); });
  AddGuarded(router, deps, "POST", "/api/v1/users", "users_create", "users.write", WithDeps(deps, CreateUser));
  AddGuarded(router, deps, "PATCH", "/api/v1/users/{username}", "users_update", "users.write", WithDeps(deps, UpdateUser));
  AddGuarded(router, deps, "POST", "/api/v1/users/{username}/password-reset", "users_password_reset", "users.write",
             WithDeps(deps, ResetPassword));
  AddGuarded(router, deps, "GET", "/api/v1/tokens", "tokens_list", "tokens.read",
             [deps](http::Request&, const auth::Principal& p) { return ListTokens(p, deps); });
  AddGuarded(router, deps, "POST", "/api/v1/tokens", "tokens_create", "tokens.create", WithDeps(deps, CreateToken));
  AddGuarded(router, deps, "DELETE", "/api/v1/tokens/{name}", "tokens_revoke", "tokens.write", WithDeps(deps, RevokeToken));
  AddGuarded(router, deps, "GET", "/api/v1/support-grants", "grants_list", "grants.read",
             [deps](http::Request&, const auth::Principal& p) { return ListGrants(p, deps); });
  AddGuarded(router, deps, "POST", "/api/v1/support-grants", "grants_create", "grants.write", WithDeps(deps, CreateGrant));
  AddGuarded(router, deps, "DELETE", "/api/v1/support-grants/{id}", "grants_revoke", "grants.write",
             WithDeps(deps, RevokeGrant));
}

}  // namespace vg::api
