// EncryptingBlobStore wraps any BlobStore (as LevelDB's EnvWrapper wraps an Env) and
// encrypts every blob with its tenant's data key: libsodium secretstream
// (XChaCha20-Poly1305) in 256 KiB chunks, so neither writes nor reads ever hold a whole
// blob in memory. File layout: "VGB1" | stream header (24 B) | chunks. The blob key is
// bound as associated data, so a file copied under another key or tenant fails to open.
#pragma once

#include <functional>

#include "crypto/crypto.h"
#include "storage/blob_store.h"

namespace vg::storage {

// Returns the data key of a tenant. Must be thread-safe.
using TenantKeyProvider = std::function<Result<crypto::SecretKey>(std::int64_t tenant_id)>;

class EncryptingBlobStore final : public BlobStore {
 public:
  EncryptingBlobStore(std::unique_ptr<BlobStore> inner, TenantKeyProvider keys)
      : inner_(std::move(inner)), keys_(std::move(keys)) {}

  Result<std::unique_ptr<BlobWriter>> StageStream(const BlobKey& key, SyncWhen when) override;
  Result<void> Sync(std::span<StagedBlob> blobs) override { return inner_->Sync(blobs); }
  void Settle(std::span<const BlobKey> keys) override { inner_->Settle(keys); }
  void Discard(std::span<StagedBlob> blobs) override { inner_->Discard(blobs); }
  Result<std::unique_ptr<ByteSource>> Get(const BlobKey& key) const override;
  Result<void> Remove(const BlobKey& key) override { return inner_->Remove(key); }
  Result<void> RemoveTenant(std::int64_t tenant_id) override { return inner_->RemoveTenant(tenant_id); }
  Result<std::vector<BlobKey>> ListStaged() const override { return inner_->ListStaged(); }

 private:
  std::unique_ptr<BlobStore> inner_;
  TenantKeyProvider keys_;
};

}  // namespace vg::storage
