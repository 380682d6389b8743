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

Result<void> CheckPasswordRules(const std::string& password) {
  if (password.size() < kMinPasswordLength)
    return Fail(ErrorCode::kInvalidArgument,
                "password must be at least " + std::to_string(kMinPasswordLength) + " characters");
  if (password.size() > 1024) return Fail(ErrorCode::kInvalidArgument, "password is too long");
  return {};
}

// Verifying against this when there is nothing to verify makes every failure take as long.
const std::string& DummyHash() {
  static const std::string hash = crypto::HashPassword(crypto::RandomToken()).value_or("");
  return hash;
}

bool VerifyInConstantTime(const std::string& hash, const std::string& password) {
  if (hash.empty()) {
    (void)crypto::VerifyPassword(DummyHash(), password);
    return false;
  }
  return crypto::VerifyPassword(hash, password);
}

}  // namespace

bool IsProviderRole(std::string_view role) { return role == "provider_admin" || role == "provider_support"; }
bool IsClinicRole(std::string_view role) {
  return role == "clinic_admin" || role == "radiologist" || role == "physician";
}
bool IsTokenOnlyRole(std::string_view role) { return role == "uploader" || role == "service"; }
std::string ServiceUsername(const std::string& tenant_slug) { return "service:" + tenant_slug; }

std::string GeneratePassword() { return crypto::RandomToken().substr(0, 20); }

Principal UserPrincipal(const storage::UserRecord& user, const storage::TenantRecord& tenant, Credential credential) {
  Principal principal;
  principal.credential = credential;
  principal.tenant_id = principal.home_tenant_id = tenant.id;
  principal.tenant_slug = tenant.slug;
  principal.user_id = user.id;
  principal.username = user.username;
  principal.role = user.role;
  // A forced password change holds back the person's sessions, not the tokens they made.
  principal.must_change_password = credential == Credential::kSession && user.must_change_password;
  return principal;
}

Result<storage::UserRecord> UserService::Create(const storage::TenantRecord& tenant, const std::string& username,
                                                const std::string& role, const std::string& password,
                                                bool must_change) {
  if (!IsValidUsername(username))
    return Fail(ErrorCode::kInvalidArgument, "username must be 2-64 characters of a-z, 0-9, '.', '_', '-', '@'");
  const bool provider = tenant.slug == kProviderTenant;
  if (provider ? !IsProviderRole(role) : !(IsClinicRole(role) || IsTokenOnlyRole(role)))
    return Fail(ErrorCode::kInvalidArgument,
                provider ? "users of the provider tenant are provider_admin or provider_support"
                         : "users of a clinic are clinic_admin, radiologist, physician, or token-only uploader or "
                           "service");
  storage::UserRecord user;
  user.tenant_id = tenant.id;
  user.username = username;
  user.role = role;
  if (IsTokenOnlyRole(role)) {
    if (!password.empty()) return Fail(ErrorCode::kInvalidArgument, "a token-only user has no password");
  } else {
    if (auto ok = CheckPasswordRules(password); !ok) return std::unexpected(ok.error());
    auto hash = crypto::HashPassword(password);
    if (!hash) return std::unexpected(hash.error());
    user.password_hash = *hash;
    user.must_change_password = must_change;
  }
  return catalog_.CreateUser(user);
}

Result<storage::UserRecord> UserService::EnsureServiceUser(const storage::TenantRecord& tenant) {
  const std::string name = ServiceUsername(tenant.slug);
  auto found = catalog_.FindUser(name);
  if (found || found.error().code != ErrorCode::kNotFound) return found;
  storage::UserRecord user;
  user.tenant_id = tenant.id;
  user.username = name;
  user.role = "service";
  return catalog_.CreateUser(user);
}

Result<LoginResult> UserService::Login(const std::string& username, const std::string& password) {
  if (username.size() > 64 || password.size() > 1024) return std::unexpected(Denied());
  auto user = catalog_.FindUser(username);
  if (!user) {
    (void)VerifyInConstantTime("", password);
    if (user.error().code != ErrorCode::kNotFound) return std::unexpected(user.error());
    return std::unexpected(Denied());
  }
  if (!VerifyInConstantTime(user->password_hash, password) || user->disabled_at) return std::unexpected(Denied());
  auto tenant = catalog_.FindTenantById(user->tenant_id);
  if (!tenant) return std::unexpected(tenant.error());
  LoginResult result;
  result.session_token = crypto::RandomToken();
  result.csrf_token = CsrfTokenOf(result.session_token);
  auto session = catalog_.CreateSession(user->id, SecretDigest(result.session_token), SecretDigest(result.csrf_token));
  if (!session) return std::unexpected(session.error());
  result.principal = UserPrincipal(*user, *tenant, Credential::kSession);
  result.principal.session_id = session->id;
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
  Principal principal = UserPrincipal(*user, *tenant, Credential::kSession);
  principal.session_id = session->id;
  return principal;
}

std::string UserService::CsrfTokenOf(std::string_view session_token) {
  const auto digest = crypto::Sha256Of(std::string("voxelgate csrf\n").append(session_token));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
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

Result<void> UserService::ChangeOwnPassword(const Principal& principal, const std::string& current,
                                            const std::string& replacement) {
  if (principal.credential != Credential::kSession) return Fail(ErrorCode::kForbidden, "sign in to change a password");
  auto user = catalog_.FindUserById(principal.user_id);
  if (!user) return std::unexpected(user.error());
  if (current.size() > 1024 || !VerifyInConstantTime(user->password_hash, current))
    return Fail(ErrorCode::kForbidden, "the current password is wrong");
  if (auto ok = CheckPasswordRules(replacement); !ok) return ok;
  if (replacement == current) return Fail(ErrorCode::kInvalidArgument, "the new password must differ from the old one");
  auto hash = crypto::HashPassword(replacement);
  if (!hash) return std::unexpected(hash.error());
  if (auto r = catalog_.SetPassword(user->id, *hash, false); !r) return r;
  return catalog_.RevokeUserSessions(user->id, principal.session_id);
}

Result<std::vector<storage::UserRecord>> UserService::List(const Principal& admin) {
  return catalog_.ListUsers(admin.tenant_id);
}

Result<storage::UserRecord> UserService::FindInTenant(const Principal& admin, const std::string& username) {
  auto user = catalog_.FindUser(username);
  if (!user) return user;
  if (user->tenant_id != admin.tenant_id) return Fail(ErrorCode::kNotFound, "no such user");
  return user;
}

Result<std::pair<storage::UserRecord, std::string>> UserService::CreateInTenant(const Principal& admin,
                                                                                const std::string& username,
                                                                                const std::string& role,
                                                                                const std::string& password) {
  auto tenant = catalog_.FindTenantById(admin.tenant_id);
  if (!tenant) return std::unexpected(tenant.error());
  std::string one_time;
  if (password.empty() && !IsTokenOnlyRole(role)) one_time = GeneratePassword();
  auto user = Create(*tenant, username, role, password.empty() ? one_time : password, !one_time.empty());
  if (!user) return std::unexpected(user.error());
  return std::pair{*user, one_time};
}

Result<void> UserService::SetDisabled(const Principal& admin, const std::string& username, bool disabled) {
  auto user = FindInTenant(admin, username);
  if (!user) return std::unexpected(user.error());
  if (user->id == admin.user_id && disabled)
    return Fail(ErrorCode::kConflict, "you cannot disable yourself; ask another admin");
  return catalog_.SetUserDisabled(user->id, disabled);
}

Result<std::string> UserService::ResetPassword(const Principal& admin, const std::string& username) {
  auto user = FindInTenant(admin, username);
  if (!user) return std::unexpected(user.error());
  if (IsTokenOnlyRole(user->role)) return Fail(ErrorCode::kInvalidArgument, "a token-only user has no password");
  std::string password = GeneratePassword();
  auto hash = crypto::HashPassword(password);
  if (!hash) return std::unexpected(hash.error());
  if (auto r = catalog_.SetPassword(user->id, *hash, true); !r) return std::unexpected(r.error());
  if (auto r = catalog_.RevokeUserSessions(user->id, std::nullopt); !r) return std::unexpected(r.error());
  return password;
}

}  // namespace vg::auth
