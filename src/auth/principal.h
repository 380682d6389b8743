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
  std::string token_name;
  std::vector<std::string> scopes;
  bool HasScope(const std::string& scope) const {
    return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
  }
};

}  // namespace vg::auth
