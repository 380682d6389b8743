#include "auth/policy.h"

#include <algorithm>

namespace vg::auth {

const std::vector<ActionPolicy>& Policies() {
  static const std::vector<std::string_view> kClinicReaders = {"clinic_admin", "radiologist", "physician"};
  static const std::vector<ActionPolicy> kTable = {
      {"dicomweb.stow", kScopeDicomwebWrite, {"clinic_admin", "radiologist", "physician"}},
      {"dicomweb.qido", kScopeDicomwebRead, kClinicReaders},
      {"dicomweb.wado", kScopeDicomwebRead, kClinicReaders},
      {"dicomweb.metadata", kScopeDicomwebRead, kClinicReaders},
      {"dicomweb.frames", kScopeDicomwebRead, kClinicReaders},
      {"dicomweb.bulkdata", kScopeDicomwebRead, kClinicReaders},
      {"dicomweb.rendered", kScopeDicomwebRead, kClinicReaders},
      {"dicomweb.thumbnail", kScopeDicomwebRead, kClinicReaders},
  };
  return kTable;
}

Result<void> Authorize(const Principal& principal, std::string_view action) {
  const auto& table = Policies();
  auto policy = std::find_if(table.begin(), table.end(), [&](const ActionPolicy& p) { return p.action == action; });
  if (policy == table.end()) return Fail(ErrorCode::kForbidden, "no policy allows this action");
  if (principal.user_id == 0) {
    if (principal.HasScope(std::string(policy->scope))) return {};
    return Fail(ErrorCode::kForbidden, "this token lacks the scope " + std::string(policy->scope));
  }
  if (std::find(policy->roles.begin(), policy->roles.end(), principal.role) != policy->roles.end()) return {};
  return Fail(ErrorCode::kForbidden, "the role " + principal.role + " may not do this");
}

}  // namespace vg::auth
