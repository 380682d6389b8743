// TenantDirectory: creates tenants and hands out their keys. Each tenant has a random
// 256-bit data key, stored only wrapped by the master key. Thread-safe; unwrapped keys
// are cached for a few seconds (cache_ttl), then read from the catalog again: a clinic
// purged by another process (serve, a worker) is forgotten here within that time.
#pragma once

#include <chrono>
#include <map>
#include <mutex>

#include "crypto/crypto.h"
#include "storage/catalog.h"

namespace vg::auth {

class TenantDirectory {
 public:
  TenantDirectory(storage::Catalog& catalog, crypto::SecretKey master,
                  std::chrono::milliseconds cache_ttl = std::chrono::seconds(5))
      : catalog_(catalog), master_(master), cache_ttl_(cache_ttl) {}

  // Slug: 2-32 of [a-z0-9-], starting with a letter. AE title: 1-16 characters of
  // A-Z 0-9 space _ - . (default: the slug upper-cased, cut to 16).
  Result<storage::TenantRecord> Create(const std::string& slug, const std::string& name,
                                       const std::string& ae_title = {});
  Result<storage::TenantRecord> Find(const std::string& slug) { return catalog_.FindTenant(slug); }
  Result<std::vector<storage::TenantRecord>> List() { return catalog_.ListTenants(); }

  // The data key (blobs, sealed catalog records).
  Result<crypto::SecretKey> DataKey(std::int64_t tenant_id);
  // A key derived from the data key for keyed hashes of searchable identifiers.
  Result<crypto::SecretKey> SearchKey(std::int64_t tenant_id);
  // The tenant's de-identification secret (pseudonyms, UID remapping, date shifts),
  // derived from the data key: it never leaves the server, and shredding the tenant's key
  // makes its pseudonyms unlinkable for good.
  Result<crypto::SecretKey> DeidKey(std::int64_t tenant_id) {
    auto key = DataKey(tenant_id);
    if (!key) return std::unexpected(key.error());
    return crypto::DeriveSubKey(*key, 2, "pseudony");
  }
  // A key derived from the master key for installation-wide seals (the licence clock,
  // the installation id): whoever lacks the master key cannot forge them.
  crypto::SecretKey InstallationKey(std::uint64_t id, std::string_view context8) const {
    return crypto::DeriveSubKey(master_, id, context8);
  }
  // Forgets the cached keys of a tenant (its key was shredded).
  void Forget(std::int64_t tenant_id) {
    std::lock_guard lock(mutex_);
    data_keys_.erase(tenant_id);
    search_keys_.erase(tenant_id);
  }

 private:
  struct Cached {
    crypto::SecretKey key;
    std::chrono::steady_clock::time_point until;
  };
  storage::Catalog& catalog_;
  crypto::SecretKey master_;
  std::chrono::milliseconds cache_ttl_;
  std::mutex mutex_;
  std::map<std::int64_t, Cached> data_keys_, search_keys_;
};

bool IsValidSlug(const std::string& slug);
bool IsValidAeTitle(const std::string& ae_title);


}  // namespace vg::auth
