#include "auth/support_grants.h"

#include "core/clock.h"

namespace vg::auth {

Result<storage::SupportGrantRecord> SupportGrants::Grant(const Principal& clinic_admin, const std::string& support_user,
                                                         std::optional<std::string> study_uid, std::int64_t hours,
                                                         const std::string& reason) {
  auto grantee = catalog_.FindUser(support_user);
  if (support_user.empty() || !grantee || grantee->role != "provider_support" || grantee->disabled_at)
    return Fail(ErrorCode::kInvalidArgument,
                "support_user names the vendor support person the grant is for (a provider_support user)");
  if (hours < 1 || hours > kMaxGrantSeconds / 3600)  // compared before multiplying: hours come from a request
    return Fail(ErrorCode::kInvalidArgument, "a grant lasts 1 to 720 hours");
  if (study_uid && (study_uid->empty() || study_uid->size() > 64))
    return Fail(ErrorCode::kInvalidArgument, "study_uid must be a UID of up to 64 characters");
  if (reason.size() > 500) return Fail(ErrorCode::kInvalidArgument, "the reason is limited to 500 characters");
  storage::SupportGrantRecord grant;
  grant.tenant_id = clinic_admin.tenant_id;
  grant.study_uid = std::move(study_uid);
  grant.granted_by = clinic_admin.username;
  grant.grantee = grantee->username;
  grant.reason = reason;
  grant.expires_at = UnixSeconds() + hours * 3600;
  return catalog_.CreateGrant(grant);
}

Result<void> SupportGrants::Revoke(const Principal& clinic_admin, std::int64_t grant_id) {
  return catalog_.RevokeGrant(clinic_admin.tenant_id, grant_id);
}

Result<std::vector<storage::SupportGrantRecord>> SupportGrants::List(const Principal& principal) {
  if (principal.role.starts_with("provider_")) return catalog_.ListGrants(std::nullopt);
  return catalog_.ListGrants(principal.tenant_id);
}

Result<Principal> SupportGrants::Resolve(const Principal& person, const std::string& tenant_slug) {
  if (tenant_slug == person.tenant_slug) return person;
  if (person.role != "provider_support")
    return Fail(ErrorCode::kForbidden, "only vendor support staff may act on another tenant, under a support grant");
  auto tenant = catalog_.FindTenant(tenant_slug);
  if (!tenant) return Fail(ErrorCode::kForbidden, "no support grant covers this tenant");
  auto grants = catalog_.ListGrants(tenant->id);
  if (!grants) return std::unexpected(grants.error());
  const std::int64_t now = UnixSeconds();
  // A grant of everything covers all; otherwise the union of the granted studies. The
  // audit names the broadest (else newest) grant.
  const storage::SupportGrantRecord* named = nullptr;
  std::vector<std::string> studies;
  bool everything = false;
  for (const auto& grant : *grants) {
    if (!grant.ActiveAt(now) || grant.grantee != person.username) continue;
    if (!grant.study_uid) everything = true;
    else studies.push_back(*grant.study_uid);
    if (!named || (named->study_uid && !grant.study_uid)) named = &grant;
  }
  if (!named) return Fail(ErrorCode::kForbidden, "no support grant covers this tenant");
  Principal acting = person;
  acting.tenant_id = tenant->id;
  acting.tenant_slug = tenant->slug;
  acting.support_grant_id = named->id;
  if (!everything) acting.granted_studies = std::move(studies);
  return acting;
}

}  // namespace vg::auth
