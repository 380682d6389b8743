// Archive: what the services share: the catalog, the encrypted blob store, the tenant
// keys and the ingest policy. Built once by the composition root.
#pragma once

#include "auth/tenants.h"
#include "core/config.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace vg::services {

struct Archive {
  storage::Catalog& catalog;
  storage::BlobStore& blobs;  // encrypting
  auth::TenantDirectory& tenants;
  ConflictPolicy on_conflict = ConflictPolicy::kReject;
  std::uint64_t max_instance_bytes = 512ull << 20;
};

// Seal/open catalog records with the tenant key, bound to what they describe.
Result<storage::SealedBytes> SealFor(Archive& archive, std::int64_t tenant_id, const std::string& context,
                                     std::string_view plaintext);
Result<std::string> OpenFor(Archive& archive, std::int64_t tenant_id, const std::string& context,
                            const storage::SealedBytes& sealed);

// A UID derived from `text` under a key of the clinic's: the same text gives the same UID
// (a retried writer finds what its first attempt stored), and nobody without the key can
// predict it -- so an uploader cannot store a forged object under the UID a result is
// about to take, and have it kept as the result.
Result<std::string> ClinicDerivedUid(Archive& archive, std::int64_t tenant_id, std::string_view text);

// Keyed hash of a searchable identifier, normalised so that matching is case-insensitive
// and ignores trailing empty PN components ("DOE^JOHN^^" == "doe^john").
storage::Digest SearchHash(const crypto::SecretKey& key, std::string_view kind, std::string_view value);
std::string NormalizeForSearch(std::string_view value);

// Finishes ingest interrupted by a crash: staged blobs the catalog indexes are settled,
// the others (never acknowledged) deleted. Run once at start, before serving.
struct RecoveryReport {
  size_t settled = 0, discarded = 0;
};
Result<RecoveryReport> RecoverInterruptedIngest(Archive& archive);

}  // namespace vg::services
