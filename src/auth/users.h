// UserService: people, their passwords (argon2id) and their browser sessions; and the
// account administration an admin does for their own tenant.
//
// Roles (ARCHITECTURE.md): provider_admin and provider_support belong to the vendor's
// tenant "provider"; clinic_admin, radiologist and physician to a clinic. uploader and
// service are token-only users of a clinic (a modality, a PACS bridge, a script): they
// have no password and cannot sign in. Usernames are unique across the installation.
//
// Sessions: a random 256-bit token in an HttpOnly cookie, stored as SHA-256, with an idle
// and an absolute timeout; each carries a CSRF token that cookie-authenticated unsafe
// requests must echo. Signing in always issues a new session, so none can be fixed in
// advance. A wrong username and a wrong password look the same, in message and in time.
#pragma once

#include <optional>
#include <string>

#include "auth/principal.h"
#include "storage/catalog.h"

namespace vg::auth {

inline constexpr const char* kProviderTenant = "provider";
inline constexpr std::size_t kMinPasswordLength = 12;
inline constexpr std::int64_t kSessionIdleSeconds = 30 * 60;
inline constexpr std::int64_t kSessionAbsoluteSeconds = 12 * 60 * 60;

bool IsProviderRole(std::string_view role);
bool IsClinicRole(std::string_view role);     // people of a clinic
bool IsTokenOnlyRole(std::string_view role);  // uploader, service
// The per-tenant service user that owns tokens made without naming a user. Its name has
// a ':' so that no person's username can ever be it.
std::string ServiceUsername(const std::string& tenant_slug);

struct LoginResult {
  std::string session_token;  // goes into the cookie, never stored
  std::string csrf_token;     // goes into the response body
  Principal principal;
  bool must_change_password = false;
};

class UserService {
 public:
  explicit UserService(storage::Catalog& catalog) : catalog_(catalog) {}

  // A person needs a password of 12+ characters; a token-only user must have none.
  Result<storage::UserRecord> Create(const storage::TenantRecord& tenant, const std::string& username,
                                     const std::string& role, const std::string& password, bool must_change = false);
  Result<storage::UserRecord> EnsureServiceUser(const storage::TenantRecord& tenant);
  Result<LoginResult> Login(const std::string& username, const std::string& password);
  // The principal of a session cookie; kUnauthenticated when unknown, ended or expired.
  Result<Principal> Authenticate(std::string_view session_token);
  // A session's CSRF token, derived from its (HttpOnly) session token: whoever cannot read
  // the cookie cannot make it, and every tab of the app can ask for it (GET /api/v1/me)
  // instead of signing in again.
  static std::string CsrfTokenOf(std::string_view session_token);
  // True when `csrf_token` belongs to the principal's session.
  bool CsrfMatches(const Principal& principal, std::string_view csrf_token);
  Result<void> Logout(const Principal& principal);
  // The signed-in person changes their own password: the current one is checked, other
  // sessions end, and a forced reset is cleared.
  Result<void> ChangeOwnPassword(const Principal& principal, const std::string& current,
                                 const std::string& replacement);

  // Administration within the admin's own tenant. A user of another tenant is kNotFound.
  Result<std::vector<storage::UserRecord>> List(const Principal& admin);
  Result<storage::UserRecord> FindInTenant(const Principal& admin, const std::string& username);
  // Without a password, a person gets a generated one-time password (returned) that
  // must be changed at first sign-in.
  Result<std::pair<storage::UserRecord, std::string>> CreateInTenant(const Principal& admin,
                                                                     const std::string& username,
                                                                     const std::string& role,
                                                                     const std::string& password);
  // Disabling ends the user's sessions and tokens at once. Admins cannot disable themselves.
  Result<void> SetDisabled(const Principal& admin, const std::string& username, bool disabled);
  // Forced reset: a new one-time password (returned), all sessions end.
  Result<std::string> ResetPassword(const Principal& admin, const std::string& username);

 private:
  storage::Catalog& catalog_;
};

std::string GeneratePassword();  // 20 characters, for bootstrap, demo and reset accounts
// The principal of a user acting through `credential` (session or token fields unset).
Principal UserPrincipal(const storage::UserRecord& user, const storage::TenantRecord& tenant, Credential credential);

}  // namespace vg::auth
