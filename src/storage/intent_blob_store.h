// IntentRecordingBlobStore wraps a shared object store: before a blob's first byte is
// written it records the intent in the catalog (BlobIntentStore), so that a blob whose
// catalog row never commits (a node killed mid-request) is found and removed by the
// garbage collector rather than left behind forever. A blob whose intent cannot be
// recorded is not written.
#pragma once

#include <memory>

#include "storage/blob_intent_store.h"
#include "storage/blob_store.h"

namespace vg::storage {

class IntentRecordingBlobStore final : public BlobStore {
 public:
  IntentRecordingBlobStore(std::unique_ptr<BlobStore> inner, BlobIntentStore& intents)
      : inner_(std::move(inner)), intents_(intents) {}

  Result<std::unique_ptr<BlobWriter>> StageStream(const BlobKey& key, SyncWhen when) override;
  Result<void> Sync(std::span<StagedBlob> blobs) override { return inner_->Sync(blobs); }
  void Settle(std::span<const BlobKey> keys) override { inner_->Settle(keys); }
  void Discard(std::span<StagedBlob> blobs) override { inner_->Discard(blobs); }
  Result<std::unique_ptr<ByteSource>> Get(const BlobKey& key) const override { return inner_->Get(key); }
  Result<void> Remove(const BlobKey& key) override { return inner_->Remove(key); }
  Result<void> RemoveTenant(std::int64_t tenant_id) override { return inner_->RemoveTenant(tenant_id); }
  Result<std::vector<BlobKey>> ListStaged() const override { return inner_->ListStaged(); }
  BlobStore& inner() { return *inner_; }

 private:
  std::unique_ptr<BlobStore> inner_;
  BlobIntentStore& intents_;
};

}  // namespace vg::storage
