// TokenService: bearer tokens for scripts, PACS bridges and viewers. A token belongs to
// a user (a person, or a token-only service or uploader user) and acts as that user,
// limited further by its scopes: it never does more than its user can. A token is 256
// random bits shown once; only its SHA-256 is stored. Every Authenticate reads the
// catalog, so a revocation or a disabled owner (even by another process) takes effect at
// once.
#pragma once

#include <optional>

#include "auth/principal.h"
#include "auth/tenants.h"

namespace vg::auth {

inline constexpr std::int64_t kMaxTokenLifetimeSeconds = 400ll * 24 * 3600;

class TokenService {
 public:
  explicit TokenService(storage::Catalog& catalog) : catalog_(catalog) {}

  // Returns the plaintext token. Scopes must be known and within the owner's role;
  // expires_in_s > 0 when given.
  Result<std::string> Create(const storage::UserRecord& owner, const std::string& name,
                             const std::vector<std::string>& scopes, std::optional<std::int64_t> expires_in_s);
  // kUnauthenticated for unknown, revoked or expired tokens and disabled owners (one
  // message for all).
  Result<Principal> Authenticate(std::string_view bearer);
  Result<void> Revoke(const storage::TenantRecord& tenant, const std::string& name) {
    return catalog_.RevokeToken(tenant.id, name, std::nullopt);
  }

  // Self-service and administration by a signed-in person, within their tenant: anyone
  // manages their own tokens; an admin also those of the tenant's other users (e.g. an
  // uploader for the PACS). `owner_username` empty: the actor's own.
  Result<std::string> CreateFor(const Principal& actor, const std::string& owner_username, const std::string& name,
                                const std::vector<std::string>& scopes, std::int64_t expires_in_s);
  Result<std::vector<storage::TokenRecord>> List(const Principal& actor);
  Result<void> RevokeFor(const Principal& actor, const std::string& name);

 private:
  storage::Catalog& catalog_;
};

bool IsKnownScope(std::string_view scope);
bool IsTenantAdmin(std::string_view role);  // clinic_admin, provider_admin
// True when some action needing `scope` is allowed to `role`.
bool RoleCanUseScope(std::string_view role, std::string_view scope);

// How a random secret (bearer token, session token, CSRF token) is stored: its SHA-256.
// Secrets of 256 random bits need no slow hash.
storage::Digest SecretDigest(std::string_view secret);

}  // namespace vg::auth
