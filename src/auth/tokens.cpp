#include "auth/tokens.h"

#include "auth/policy.h"
#include "auth/users.h"
#include "core/clock.h"

namespace vg::auth {

storage::Digest SecretDigest(std::string_view secret) {
  auto digest = crypto::Sha256Of(secret);
  return storage::Digest(digest.begin(), digest.end());
}

bool IsKnownScope(std::string_view scope) {
  return scope == kScopeDicomwebRead || scope == kScopeDicomwebWrite || scope == kScopeAdmin;
}

bool IsTenantAdmin(std::string_view role) { return role == "clinic_admin" || role == "provider_admin"; }

bool RoleCanUseScope(std::string_view role, std::string_view scope) {
  for (const auto& policy : Policies())
    if (policy.scope == scope && std::find(policy.roles.begin(), policy.roles.end(), role) != policy.roles.end())
      return true;
  return false;
}

Result<std::string> TokenService::Create(const storage::UserRecord& owner, const std::string& name,
                                         const std::vector<std::string>& scopes,
                                         std::optional<std::int64_t> expires_in_s) {
  if (name.empty() || name.size() > 64) return Fail(ErrorCode::kInvalidArgument, "token name must be 1-64 characters");
  if (scopes.empty()) return Fail(ErrorCode::kInvalidArgument, "a token needs at least one scope");
  for (const auto& scope : scopes) {
    if (!IsKnownScope(scope))
      return Fail(ErrorCode::kInvalidArgument,
                  "unknown scope '" + scope + "' (known: dicomweb:read, dicomweb:write, admin)");
    if (!RoleCanUseScope(owner.role, scope))
      return Fail(ErrorCode::kForbidden, "a token cannot do more than its user: the role " + owner.role +
                                             " has no use for the scope " + scope);
  }
  if (owner.disabled_at) return Fail(ErrorCode::kInvalidArgument, "the user is disabled");
  if (expires_in_s && (*expires_in_s <= 0 || *expires_in_s > kMaxTokenLifetimeSeconds))
    return Fail(ErrorCode::kInvalidArgument, "expiry must be in the future and within 400 days");
  std::string token = crypto::RandomToken();
  std::optional<std::int64_t> expires_at;
  if (expires_in_s) expires_at = UnixSeconds() + *expires_in_s;
  auto created = catalog_.CreateToken(owner.tenant_id, owner.id, name, SecretDigest(token), scopes, expires_at);
  if (!created) return std::unexpected(created.error());
  return token;
}

Result<Principal> TokenService::Authenticate(std::string_view bearer) {
  const auto denied = [] { return Fail(ErrorCode::kUnauthenticated, "invalid, expired or revoked token"); };
  if (bearer.empty() || bearer.size() > 256) return denied();
  auto token = catalog_.FindTokenByHash(SecretDigest(bearer));
  if (!token) {
    if (token.error().code == ErrorCode::kUnauthenticated) return denied();
    return std::unexpected(token.error());
  }
  if (token->revoked_at || (token->expires_at && *token->expires_at <= UnixSeconds())) return denied();
  auto owner = catalog_.FindUserById(token->user_id);
  if (!owner || owner->disabled_at || owner->tenant_id != token->tenant_id) return denied();
  auto tenant = catalog_.FindTenantById(token->tenant_id);
  if (!tenant) return denied();
  Principal principal = UserPrincipal(*owner, *tenant, Credential::kToken);
  principal.token_name = token->name;
  principal.scopes = token->scopes;
  return principal;
}

Result<std::string> TokenService::CreateFor(const Principal& actor, const std::string& owner_username,
                                            const std::string& name, const std::vector<std::string>& scopes,
                                            std::int64_t expires_in_s) {
  const std::string& wanted = owner_username.empty() ? actor.username : owner_username;
  if (wanted != actor.username && !IsTenantAdmin(actor.role))
    return Fail(ErrorCode::kForbidden, "only an admin makes tokens for other users");
  auto owner = catalog_.FindUser(wanted);
  if (!owner || owner->tenant_id != actor.tenant_id) return Fail(ErrorCode::kNotFound, "no such user");
  return Create(*owner, name, scopes, expires_in_s);
}

Result<std::vector<storage::TokenRecord>> TokenService::List(const Principal& actor) {
  auto tokens = catalog_.ListTokens(actor.tenant_id);
  if (!tokens) return tokens;
  if (!IsTenantAdmin(actor.role))
    std::erase_if(*tokens, [&](const storage::TokenRecord& t) { return t.user_id != actor.user_id; });
  return tokens;
}

Result<void> TokenService::RevokeFor(const Principal& actor, const std::string& name) {
  return catalog_.RevokeToken(actor.tenant_id, name,
                              IsTenantAdmin(actor.role) ? std::nullopt : std::optional(actor.user_id));
}

}  // namespace vg::auth
