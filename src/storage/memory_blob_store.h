// MemoryBlobStore: blobs in maps, for tests and the contract suite. It is the cheapest
// proof that BlobStore is backend-neutral: nothing here knows about files.
//
// Staged and settled blobs live in two maps, as the folder store's staging folder and
// final folders do: Close puts a blob in the staged map (kConflict when that name is
// already staged), Settle moves it to the settled one, Discard drops it, ListStaged names
// what is still staged; RemoveTenant removes settled blobs (a staged one is still its
// writer's to settle or discard). Sync has nothing to make durable. Get looks in both; a missing
// key, or one under another tenant, is kNotFound. A writer dropped before Close leaves
// nothing. Thread-safe; a Get holds the blob's bytes even if it is removed meanwhile.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "storage/blob_store.h"

namespace vg::storage {

class MemoryBlobStore final : public BlobStore {
 public:
  Result<std::unique_ptr<BlobWriter>> StageStream(const BlobKey& key, SyncWhen when) override;
  Result<void> Sync(std::span<StagedBlob> blobs) override;
  void Settle(std::span<const BlobKey> keys) override;
  void Discard(std::span<StagedBlob> blobs) override;
  Result<std::unique_ptr<ByteSource>> Get(const BlobKey& key) const override;
  Result<void> Remove(const BlobKey& key) override;
  Result<void> RemoveTenant(std::int64_t tenant_id) override;
  Result<std::vector<BlobKey>> ListStaged() const override;

 private:
  class Writer;
  using Id = std::pair<std::int64_t, std::string>;
  using Bytes = std::shared_ptr<const std::string>;
  Result<StagedBlob> Insert(const BlobKey& key, std::string data);  // Writer::Close

  mutable std::mutex mu_;
  std::map<Id, Bytes> staged_;
  std::map<Id, Bytes> settled_;
};

}  // namespace vg::storage
