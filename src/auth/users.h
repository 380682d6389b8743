// UserService: people, their passwords (argon2id) and their browser sessions.
//
// Roles (ARCHITECTURE.md): provider_admin and provider_support belong to the vendor's
// tenant "provider"; clinic_admin, radiologist and physician to a clinic. (uploader is a
// token-only role.) Usernames are unique across the installation.
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
bool IsClinicRole(std::string_view role);

struct LoginResult {
  std::string session_token;  // goes into the cookie, never stored
  std::string csrf_token;     // goes into the response body
  Principal principal;
  bool must_change_password = false;
};

class UserService {
 public:
  explicit UserService(storage::Catalog& catalog) : catalog_(catalog) {}

  Result<storage::UserRecord> Create(const storage::TenantRecord& tenant, const std::string& username,
                                     const std::string& role, const std::string& password, bool must_change = false);
  Result<LoginResult> Login(const std::string& username, const std::string& password);
  // The principal of a session cookie; kUnauthenticated when unknown, ended or expired.
  Result<Principal> Authenticate(std::string_view session_token);
  // True when `csrf_token` belongs to the principal's session.
  bool CsrfMatches(const Principal& principal, std::string_view csrf_token);
  Result<void> Logout(const Principal& principal);

 private:
  storage::Catalog& catalog_;
};

std::string GeneratePassword();  // 20 characters, for bootstrap and demo accounts

}  // namespace vg::auth
