#include "auth/users.h"

#include "auth/tokens.h"
#include "core/clock.h"
#include "crypto/crypto.h"

namespace vg::auth {
namespace {

Error Denied() { return Error{ErrorCode::kUnauthenticated, "invalid username or password", {}}; }

bool IsValidUsername(const std::string& name) {
  if (name.size() < 2 || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '@'))
      return false;
  return true;
}

// Verifying against this when the user does not exist makes both failures take as long.
const std::string& DummyHash() {
  static const std::string hash = crypto::HashPassword(crypto::RandomToken()).value_or("");
  return hash;
}

}  // namespace

bool IsProviderRole(std::string_view role) { return role == "provider_admin" || role == "provider_support"; }
bool IsClinicRole(std::string_view role) {
  return role == "clinic_admin" || role == "radiologist" || role == "physician";
}

std::string GeneratePassword() { return crypto::RandomToken().substr(0, 20); }

Result<storage::UserRecord> UserService::Create(const storage::TenantRecord& tenant, const std::string& username,
                                                const std::string& role, const std::string& password,
                                                bool must_change) {
  if (!IsValidUsername(username))
    return Fail(ErrorCode::kInvalidArgument, "username must be 2-64 characters of a-z, 0-9, '.', '_', '-', '@'");
  const bool provider = tenant.slug == kProviderTenant;
  if (provider ? !IsProviderRole(role) : !IsClinicRole(role))
    return Fail(ErrorCode::kInvalidArgument,
                provider ? "users of the provider tenant are provider_admin or provider_support"
                         : "users of a clinic are clinic_admin, radiologist or physician");
  if (password.size() < kMinPasswordLength)
    return Fail(ErrorCode::kInvalidArgument,
                "password must be at least " + std::to_string(kMinPasswordLength) + " characters");
  if (password.size() > 1024) return Fail(ErrorCode::kInvalidArgument, "password is too long");
  auto hash = crypto::HashPassword(password);
  if (!hash) return std::unexpected(hash.error());
  storage::UserRecord user;
  user.tenant_id = tenant.id;
  user.username = username;
  user.role = role;
  user.password_hash = *hash;
  user.must_change_password = must_change;
  return catalog_.CreateUser(user);
}

Result<LoginResult> UserService::Login(const std::string& username, const std::string& password) {
  if (username.size() > 64 || password.size() > 1024) return std::unexpected(Denied());
  auto user = catalog_.FindUser(username);
  if (!user) {
    (void)crypto::VerifyPassword(DummyHash(), password);
    if (user.error().code != ErrorCode::kNotFound) return std::unexpected(user.error());
    return std::unexpected(Denied());
  }
  if (!crypto::VerifyPassword(user->password_hash, password) || user->disabled_at) return std::unexpected(Denied());
  auto tenant = catalog_.FindTenantById(user->tenant_id);
  if (!tenant) return std::unexpected(tenant.error());
  LoginResult result;
  result.session_token = crypto::RandomToken();
  result.csrf_token = crypto::RandomToken();
  auto session = catalog_.CreateSession(user->id, SecretDigest(result.session_token), SecretDigest(result.csrf_token));
  if (!session) return std::unexpected(session.error());
  result.principal = Principal{tenant->id, tenant->slug, user->username, {}, user->id, user->username, user->role,
                               session->id};
  result.must_change_password = user->must_change_password;
  return result;
}

Result<Principal> UserService::Authenticate(std::string_view session_token) {
  const auto denied = [] { return Fail(ErrorCode::kUnauthenticated, "not signed in, or the session has ended"); };
  if (session_token.empty() || session_token.size() > 128) return denied();
  auto session = catalog_.FindSession(SecretDigest(session_token));
  if (!session) return session.error().code == ErrorCode::kUnauthenticated ? denied() : std::unexpected(session.error());
  const std::int64_t now = UnixSeconds();
  if (session->revoked_at || now - session->last_seen_at > kSessionIdleSeconds ||
      now - session->created_at > kSessionAbsoluteSeconds)
    return denied();
  auto user = catalog_.FindUserById(session->user_id);
  if (!user || user->disabled_at) return denied();
  auto tenant = catalog_.FindTenantById(user->tenant_id);
  if (!tenant) return denied();
  // Refresh the idle clock at most once a minute: a write per request would be wasteful.
  if (now - session->last_seen_at > 60) (void)catalog_.TouchSession(session->id);
  return Principal{tenant->id, tenant->slug, user->username, {}, user->id, user->username, user->role, session->id};
}

bool UserService::CsrfMatches(const Principal& principal, std::string_view csrf_token) {
  if (principal.session_id == 0 || csrf_token.empty() || csrf_token.size() > 128) return false;
  auto session = catalog_.FindSessionById(principal.session_id);
  return session && crypto::ConstantTimeEquals(session->csrf_hash, SecretDigest(csrf_token));
}

Result<void> UserService::Logout(const Principal& principal) {
  if (principal.session_id == 0) return Fail(ErrorCode::kInvalidArgument, "not a session");
  return catalog_.RevokeSession(principal.session_id);
}

}  // namespace vg::auth
