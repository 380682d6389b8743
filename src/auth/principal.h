// Principal: who is making a request, resolved from credentials. Every data access
// downstream takes the principal's tenant; nothing takes a tenant from the request.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace vg::auth {

inline constexpr const char* kScopeDicomwebRead = "dicomweb:read";
inline constexpr const char* kScopeDicomwebWrite = "dicomweb:write";

struct Principal {
  std::int64_t tenant_id = 0;
  std::string tenant_slug;
  std::string token_name;  // a token's name; for a session, the username
  std::vector<std::string> scopes;
  // Set for people signed in with a session (not for bearer tokens and DIMSE).
  std::int64_t user_id = 0;
  std::string username;
  std::string role;
  std::int64_t session_id = 0;
  bool HasScope(const std::string& scope) const {
    return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
  }
};

}  // namespace vg::auth
