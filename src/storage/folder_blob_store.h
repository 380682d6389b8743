// FolderBlobStore: blobs as files under ROOT/t<tenant>/<first 8 hex of name>/<name>;
// staged blobs as ROOT/.staged/<tenant>-<name>. Sync fsyncs each staged file and the
// staging folder once, so a batch costs one round of flushes; Settle renames into place
// without flushing (a rename lost in a crash leaves the blob staged, where Get still
// finds it and ListStaged reports it). With sync on, those fsyncs start in the background
// as soon as they can (a file's when its writer closes, the folder's after each creation:
// StagingSyncer), so Sync mostly finds them done.
#pragma once

#include <string>

#include "storage/blob_store.h"
#include "storage/staging_syncer.h"

namespace vg::storage {

class FolderBlobStore final : public BlobStore {
 public:
  // `sync` off trades durability for speed (benchmarks of peers that do not fsync).
  static Result<std::unique_ptr<FolderBlobStore>> Open(const std::string& root, bool sync);

  Result<std::unique_ptr<BlobWriter>> StageStream(const BlobKey& key, SyncWhen when) override;
  Result<void> Sync(std::span<StagedBlob> blobs) override;
  void Settle(std::span<const BlobKey> keys) override;
  void Discard(std::span<StagedBlob> blobs) override;
  Result<std::unique_ptr<ByteSource>> Get(const BlobKey& key) const override;
  Result<void> Remove(const BlobKey& key) override;
  Result<void> RemoveTenant(std::int64_t tenant_id) override;
  Result<std::vector<BlobKey>> ListStaged() const override;

  std::string PathOf(const BlobKey& key) const;
  std::string StagedPathOf(const BlobKey& key) const;

 private:
  FolderBlobStore(std::string root, bool sync);
  std::string root_;
  std::unique_ptr<StagingSyncer> syncer_;  // null when sync is off
};

}  // namespace vg::storage
