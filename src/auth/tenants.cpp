#include "auth/tenants.h"

#include <cctype>

namespace vg::auth {

bool IsValidSlug(const std::string& slug) {
  if (slug.size() < 2 || slug.size() > 32 || slug[0] < 'a' || slug[0] > 'z') return false;
  for (char c : slug)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

bool IsValidAeTitle(const std::string& ae) {
  if (ae.empty() || ae.size() > 16 || ae.front() == ' ') return false;
  for (char c : ae)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '_' || c == '-' || c == '.'))
      return false;
  return true;
}

Result<storage::TenantRecord> TenantDirectory::Create(const std::string& slug, const std::string& name,
                                                      const std::string& ae_title) {
  if (!IsValidSlug(slug))
    return Fail(ErrorCode::kInvalidArgument,
                "tenant slug must be 2-32 characters of a-z, 0-9 and '-', starting with a letter");
  std::string ae = ae_title;
  if (ae.empty())
    for (char c : slug.substr(0, 16)) ae.push_back(c == '-' ? '-' : static_cast<char>(std::toupper(c)));
  if (!IsValidAeTitle(ae))
    return Fail(ErrorCode::kInvalidArgument, "AE title must be 1-16 characters of A-Z, 0-9, space, '_', '-', '.'");
  // Wrapped under the slug (unique, immutable): a wrapped key copied to another tenant's
  // row fails to unwrap.
  crypto::SecretKey key = crypto::SecretKey::Generate();
  return catalog_.CreateTenant(slug, name.empty() ? slug : name, crypto::WrapKey(master_, key, "tenant-key:" + slug),
                               ae);
}

Result<crypto::SecretKey> TenantDirectory::DataKey(std::int64_t tenant_id) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    if (auto it = data_keys_.find(tenant_id); it != data_keys_.end() && it->second.until > now) return it->second.key;
  }
  auto tenant = catalog_.FindTenantById(tenant_id);
  if (!tenant) return std::unexpected(tenant.error());
  auto key = crypto::UnwrapKey(master_, tenant->wrapped_key, "tenant-key:" + tenant->slug);
  std::lock_guard lock(mutex_);
  if (!key) {  // shredded (purged) meanwhile: nothing of it stays here either
    data_keys_.erase(tenant_id);
    search_keys_.erase(tenant_id);
    return std::unexpected(key.error());
  }
  data_keys_.insert_or_assign(tenant_id, Cached{*key, now + cache_ttl_});
  search_keys_.insert_or_assign(tenant_id, Cached{crypto::DeriveSubKey(*key, 1, "search01"), now + cache_ttl_});
  return *key;
}

Result<crypto::SecretKey> TenantDirectory::SearchKey(std::int64_t tenant_id) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = search_keys_.find(tenant_id); it != search_keys_.end() && it->second.until > std::chrono::steady_clock::now())
      return it->second.key;
  }
  auto key = DataKey(tenant_id);
  if (!key) return std::unexpected(key.error());
  return crypto::DeriveSubKey(*key, 1, "search01");
}

}  // namespace vg::auth
