// Principal: who is making a request, resolved from credentials. Every data access
// downstream takes the principal's tenant; nothing takes a tenant from the request
// (a support grant is the one way to act on another tenant, and it is resolved here).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vg::auth {

inline constexpr const char* kScopeDicomwebRead = "dicomweb:read";
inline constexpr const char* kScopeDicomwebWrite = "dicomweb:write";
inline constexpr const char* kScopeAdmin = "admin";

enum class Credential { kSession, kToken, kDicomNode };

struct Principal {
  Credential credential = Credential::kSession;
  // The tenant whose data this request may touch.
  std::int64_t tenant_id = 0;
  std::string tenant_slug;
  // The user (for a token: its owner; for a DICOM node: none) and the role that decides.
  std::int64_t user_id = 0;
  std::string username;
  std::string role;
  bool must_change_password = false;
  std::int64_t session_id = 0;      // kSession
  bool session_as_bearer = false;   // kSession sent in Authorization (MONAI Label clients): no CSRF risk
  std::string token_name;           // kToken
  std::vector<std::string> scopes;  // kToken
  std::string calling_ae;           // kDicomNode
  // The actor's own tenant: the same as tenant_id except under a support grant.
  std::int64_t home_tenant_id = 0;
  std::int64_t support_grant_id = 0;          // non-zero: acting under a grant (this one)
  std::vector<std::string> granted_studies;   // under grants of single studies: those; empty: all

  // False when a support grant limits this principal to other studies.
  bool MayReadStudy(const std::string& study_uid) const {
    return support_grant_id == 0 || granted_studies.empty() ||
           std::find(granted_studies.begin(), granted_studies.end(), study_uid) != granted_studies.end();
  }

  bool HasScope(const std::string& scope) const {
    return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
  }
  // How the actor is named in the audit trail: "alice", "alice/token:slicer", "dimse:CT1".
  std::string Actor() const {
    switch (credential) {
      case Credential::kToken: return username + "/token:" + token_name;
      case Credential::kDicomNode: return "dimse:" + calling_ae;
      case Credential::kSession: break;
    }
    return username;
  }
  std::string ActorKind() const {
    if (support_grant_id != 0) return "support";
    switch (credential) {
      case Credential::kToken: return "token";
      case Credential::kDicomNode: return "dimse";
      case Credential::kSession: break;
    }
    return "user";
  }
};

}  // namespace vg::auth
