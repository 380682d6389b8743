#include "auth/tokens.h"

#include "core/clock.h"

namespace vg::auth {

storage::Digest SecretDigest(std::string_view secret) {
  auto digest = crypto::Sha256Of(secret);
  return storage::Digest(digest.begin(), digest.end());
}

bool IsKnownScope(std::string_view scope) { return scope == kScopeDicomwebRead || scope == kScopeDicomwebWrite; }

Result<std::string> TokenService::Create(const storage::TenantRecord& tenant, const std::string& name,
                                         const std::vector<std::string>& scopes,
                                         std::optional<std::int64_t> expires_in_s) {
  if (name.empty() || name.size() > 64) return Fail(ErrorCode::kInvalidArgument, "token name must be 1-64 characters");
  if (scopes.empty()) return Fail(ErrorCode::kInvalidArgument, "a token needs at least one scope");
  for (const auto& scope : scopes)
    if (!IsKnownScope(scope))
      return Fail(ErrorCode::kInvalidArgument,
                  "unknown scope '" + scope + "' (known: dicomweb:read, dicomweb:write)");
  if (expires_in_s && *expires_in_s <= 0) return Fail(ErrorCode::kInvalidArgument, "expiry must be in the future");
  std::string token = crypto::RandomToken();
  std::optional<std::int64_t> expires_at;
  if (expires_in_s) expires_at = UnixSeconds() + *expires_in_s;
  auto created = catalog_.CreateToken(tenant.id, name, SecretDigest(token), scopes, expires_at);
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
  auto tenant = catalog_.FindTenantById(token->tenant_id);
  if (!tenant) return denied();
  return Principal{tenant->id, tenant->slug, token->name, token->scopes};
}

}  // namespace vg::auth
