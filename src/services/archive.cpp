#include "services/archive.h"

#include "core/strings.h"
#include "dicom/dicom.h"

namespace vg::services {

Result<std::string> ClinicDerivedUid(Archive& archive, std::int64_t tenant_id, std::string_view text) {
  auto key = archive.tenants.DataKey(tenant_id);
  if (!key) return std::unexpected(key.error());
  const crypto::SecretKey uid_key = crypto::DeriveSubKey(*key, 3, "objuids!");
  return dicom::UidFromBits(crypto::KeyedHash(uid_key, text));
}

Result<storage::SealedBytes> SealFor(Archive& archive, std::int64_t tenant_id, const std::string& context,
                                     std::string_view plaintext) {
  auto key = archive.tenants.DataKey(tenant_id);
  if (!key) return std::unexpected(key.error());
  return crypto::Seal(*key, plaintext, context);
}

Result<std::string> OpenFor(Archive& archive, std::int64_t tenant_id, const std::string& context,
                            const storage::SealedBytes& sealed) {
  auto key = archive.tenants.DataKey(tenant_id);
  if (!key) return std::unexpected(key.error());
  return crypto::Open(*key, sealed, context);
}

std::string NormalizeForSearch(std::string_view value) {
  std::string v(Trim(value));
  while (!v.empty() && (v.back() == '^' || v.back() == ' ')) v.pop_back();
  for (char& c : v)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return v;
}

storage::Digest SearchHash(const crypto::SecretKey& key, std::string_view kind, std::string_view value) {
  std::string input(kind);
  input += '\0';
  input += NormalizeForSearch(value);
  auto digest = crypto::KeyedHash(key, input);
  return storage::Digest(digest.begin(), digest.end());
}

Result<RecoveryReport> RecoverInterruptedIngest(Archive& archive) {
  auto staged = archive.blobs.ListStaged();
  if (!staged) return std::unexpected(staged.error());
  RecoveryReport report;
  for (const auto& key : *staged) {
    auto indexed = archive.catalog.IsBlobIndexed(key.tenant_id, key.name);
    if (!indexed) return std::unexpected(indexed.error());
    if (*indexed) {
      archive.blobs.Settle(std::span(&key, 1));
      ++report.settled;
    } else {
      (void)archive.blobs.Remove(key);
      ++report.discarded;
    }
  }
  return report;
}

}  // namespace vg::services
