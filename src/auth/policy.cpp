#include "auth/policy.h"

#include <algorithm>

namespace vg::auth {

const std::vector<std::string_view>& AllRoles() {
  static const std::vector<std::string_view> kRoles = {"provider_admin", "provider_support", "clinic_admin",
                                                       "radiologist",    "physician",        "uploader",
                                                       "service"};
  return kRoles;
}

const std::vector<ActionPolicy>& Policies() {
  using R = std::vector<std::string_view>;
  static const R kReaders = {"clinic_admin", "radiologist", "physician", "service"};
  static const R kWriters = {"clinic_admin", "radiologist", "physician", "service", "uploader"};
  static const R kPeople = {"provider_admin", "provider_support", "clinic_admin", "radiologist", "physician"};
  static const R kAdmins = {"provider_admin", "clinic_admin"};
  static const std::vector<ActionPolicy> kTable = {
      // Operations and sign-in.
      {"ops.health", true, "", {}, false},
      {"ops.metrics", true, "", {}, false},
      {"ops.api_description", true, "", {}, false},  // /api/openapi.json and /api/docs: no data
      {"session.login", true, "", {}, false},
      {"web.static", true, "", {}, false},  // the app's files; its data comes through guarded routes
      // Self-service of a signed-in person (tokens cannot manage credentials).
      {"session.logout", false, "", kPeople, false},
      {"self.read", false, "", kPeople, false, /*audit_allowed=*/false},
      {"self.password", false, "", kPeople, false},
      {"tokens.read", false, "", kPeople, false},
      {"tokens.write", false, "", kPeople, false},
      {"tokens.create", false, "", kPeople, false, true, {}, {}, "api_tokens"},
      // Administration of the principal's own tenant.
      {"users.read", false, kScopeAdmin, kAdmins, false},
      {"users.write", false, kScopeAdmin, kAdmins, false},
      {"audit.read", false, kScopeAdmin, kAdmins, false},
      {"grants.read", false, "", {"clinic_admin", "provider_admin", "provider_support"}, false},
      {"grants.write", false, "", {"clinic_admin"}, false},
      // Clinic data over DICOMweb.
      {"dicomweb.stow", false, kScopeDicomwebWrite, kWriters, false},
      {"dicomweb.qido", false, kScopeDicomwebRead, kReaders, true},
      {"dicomweb.wado", false, kScopeDicomwebRead, kReaders, true},
      {"dicomweb.metadata", false, kScopeDicomwebRead, kReaders, true},
      {"dicomweb.frames", false, kScopeDicomwebRead, kReaders, true},
      {"dicomweb.bulkdata", false, kScopeDicomwebRead, kReaders, true},
      {"dicomweb.rendered", false, kScopeDicomwebRead, kReaders, true},
      {"dicomweb.thumbnail", false, kScopeDicomwebRead, kReaders, true},
      // The clinic itself: everyone of it may read its name and settings.
      {"tenant.read", false, "", {"clinic_admin", "radiologist", "physician"}, false},
      {"tenant.settings", false, "", {"clinic_admin"}, false},
      // Annotations: tags, workflow status, segmentations, volumes (docs/api-annotations.md).
      // Physicians save segmentations only where the clinic allows it (checked by the route).
      {"annotations.read", false, kScopeDicomwebRead, kReaders, true},
      {"annotations.write", false, kScopeDicomwebWrite, {"clinic_admin", "radiologist"}, false, true, {}, {},
       "annotation"},
      {"tags.write", false, kScopeDicomwebWrite, {"clinic_admin", "radiologist"}, false, true, {}, {}, "annotation"},
      {"segmentations.write", false, kScopeDicomwebWrite, {"clinic_admin", "radiologist", "service"}, false, true,
       {"physician"}, "physicians_edit_segmentations", "annotation"},
      {"volumes.read", false, kScopeDicomwebRead, kReaders, true},
      // Algorithms: the registry is the vendor's; runs are the clinic's.
      {"algorithms.read", false, kScopeDicomwebRead, {"provider_admin", "provider_support", "clinic_admin", "radiologist", "physician", "service"}, false},
      {"algorithms.write", false, kScopeAdmin, {"provider_admin"}, false},
      // The algorithm's versions in each clinic: the vendor deploys; a clinic reads its own.
      {"deployments.read", false, kScopeAdmin, {"provider_admin", "provider_support"}, false},
      {"deployments.write", false, kScopeAdmin, {"provider_admin"}, false},
      {"deployments.self", false, kScopeDicomwebRead, {"clinic_admin", "radiologist", "physician", "service"}, false},
      // Acceptance: the clinic's reference cases and runs; the vendor reads them under a
      // support grant (grants never write) and starts runs through its own route.
      {"acceptance.read", false, kScopeDicomwebRead, {"clinic_admin", "radiologist", "physician"}, true},
      {"acceptance.write", false, kScopeDicomwebWrite, {"clinic_admin", "radiologist"}, false},
      {"jobs.read", false, kScopeDicomwebRead, kReaders, false},
      {"jobs.write", false, kScopeDicomwebWrite, {"clinic_admin", "radiologist", "physician", "service"}, false},
      {"autorules.read", false, kScopeAdmin, {"clinic_admin"}, false},
      {"autorules.write", false, kScopeAdmin, {"clinic_admin"}, false, true, {}, {}, "auto_run"},
      // Plans, clinics and subscriptions are the vendor's; a clinic reads its own subscription.
      {"plans.read", false, kScopeAdmin, {"provider_admin", "provider_support"}, false},
      {"plans.write", false, kScopeAdmin, {"provider_admin"}, false},
      {"tenants.read", false, kScopeAdmin, {"provider_admin", "provider_support"}, false},
      {"tenants.write", false, kScopeAdmin, {"provider_admin"}, false},
      {"tenants.purge", false, "", {"provider_admin"}, false},  // signed-in only: no token can shred a clinic
      {"subscriptions.read", false, kScopeAdmin, {"provider_admin", "provider_support"}, false},
      {"subscriptions.write", false, kScopeAdmin, {"provider_admin"}, false},
      {"subscription.self", false, kScopeDicomwebRead, {"clinic_admin", "radiologist", "physician", "service"}, false,
       /*audit_allowed=*/false},
      {"usage.read", false, kScopeAdmin, {"provider_admin", "provider_support", "clinic_admin"}, false},
      // Monitoring: clinicians judge results and report bugs; the vendor triages and reads
      // every clinic's run metadata (pixels only where shared, checked by the route).
      {"feedback.write", false, kScopeDicomwebWrite, {"clinic_admin", "radiologist", "physician"}, false},
      {"bugs.write", false, kScopeDicomwebWrite, {"clinic_admin", "radiologist", "physician"}, false},
      {"bugs.read", false, kScopeDicomwebRead, kPeople, false},
      {"bugs.comment", false, kScopeDicomwebWrite, kPeople, false},
      {"bugs.triage", false, kScopeAdmin, {"provider_admin", "provider_support"}, false},
      {"bugs.bundle", false, kScopeAdmin, {"provider_admin", "provider_support"}, false},
      {"monitoring.read", false, kScopeDicomwebRead, kPeople, false},
      {"monitoring.alerts", false, kScopeAdmin, {"provider_admin", "provider_support"}, false},
      // MONAI Label clients (3D Slicer, OHIF): the clinic's people and service tokens.
      {"monailabel.auth", true, "", {}, false},
      {"monailabel.download", true, "", {}, false},  // a signed link, or credentials checked by the route
      {"monailabel.read", false, kScopeDicomwebRead, kReaders, false},
      {"monailabel.upload", false, kScopeDicomwebWrite, {"clinic_admin", "radiologist", "physician", "service"}, false},
      {"monailabel.infer", false, kScopeDicomwebWrite, {"clinic_admin", "radiologist", "physician", "service"}, false},
      // Training-set exports of the clinic's labelled cases.
      {"exports.read", false, kScopeDicomwebRead, {"clinic_admin", "radiologist"}, false},
      {"exports.write", false, kScopeDicomwebRead, {"clinic_admin", "radiologist"}, false, true, {}, {}, "export"},
      // Clinic data over DIMSE (nodes are service or uploader).
      {"dimse.echo", false, "", {"service", "uploader"}, false},
      {"dimse.store", false, "", {"service", "uploader"}, false},
      {"dimse.find", false, "", {"service"}, false},
      {"dimse.move", false, "", {"service"}, false},
      {"dimse.get", false, "", {"service"}, false},
  };
  return kTable;
}

const ActionPolicy* FindPolicy(std::string_view action) {
  const auto& table = Policies();
  auto policy = std::find_if(table.begin(), table.end(), [&](const ActionPolicy& p) { return p.action == action; });
  return policy == table.end() ? nullptr : &*policy;
}

Result<void> Authorize(const Principal& principal, std::string_view action) {
  const ActionPolicy* policy = FindPolicy(action);
  if (!policy) return Fail(ErrorCode::kForbidden, "no policy allows this action");
  if (policy->is_public) return {};
  if (principal.support_grant_id != 0) {
    if (policy->grantable) return {};
    return Fail(ErrorCode::kForbidden, "a support grant allows reading only");
  }
  if (principal.credential == Credential::kToken) {
    if (policy->scope.empty()) return Fail(ErrorCode::kForbidden, "API tokens cannot do this; sign in instead");
    if (!principal.HasScope(std::string(policy->scope)))
      return Fail(ErrorCode::kForbidden, "this token lacks the scope " + std::string(policy->scope));
  }
  if (std::find(policy->roles.begin(), policy->roles.end(), principal.role) != policy->roles.end()) return {};
  if (std::find(policy->conditional_roles.begin(), policy->conditional_roles.end(), principal.role) !=
      policy->conditional_roles.end())
    return {};
  if (principal.role.starts_with("provider_") && policy->grantable)
    return Fail(ErrorCode::kForbidden, "vendor staff see a clinic's data only under a support grant from that clinic");
  return Fail(ErrorCode::kForbidden, "the role " + principal.role + " may not do this");
}

bool IsSecurityEvent(std::string_view action) {
  static constexpr std::string_view kEvents[] = {
      "session.login",  "session.logout",      "self.password",     "tokens.write",  "tokens.create",
      "users.write",    "grants.write",        "tenant.settings",   "tenants.write", "tenants.purge",
      "plans.write",    "subscriptions.write", "subscription.self", "exports.write", "algorithms.write",
      "deployments.write",
      "monailabel.auth"};
  return std::find(std::begin(kEvents), std::end(kEvents), action) != std::end(kEvents);
}

}  // namespace vg::auth
