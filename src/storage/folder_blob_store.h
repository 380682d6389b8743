// FolderBlobStore: blobs as files under ROOT/t<tenant>/<first 8 hex of name>/<name>; staged blobs in
// ROOT/.tmp. Publish fsyncs each file, renames it into place and fsyncs each directory
// touched, so an acknowledged blob survives power loss. .tmp is emptied on open.
#pragma once

#include <string>

#include "storage/blob_store.h"

namespace vg::storage {

class FolderBlobStore final : public BlobStore {
 public:
  // `sync` off trades durability for speed (benchmarks of peers that do not fsync).
  static Result<std::unique_ptr<FolderBlobStore>> Open(const std::string& root, bool sync);

  Result<StagedBlob> Stage(const BlobKey& key, ByteSource& data) override;
  Result<void> Publish(std::span<StagedBlob> blobs) override;
  void Discard(std::span<StagedBlob> blobs) override;
  Result<std::unique_ptr<ByteSource>> Get(const BlobKey& key) const override;
  Result<void> Remove(const BlobKey& key) override;

  std::string PathOf(const BlobKey& key) const;

 private:
  FolderBlobStore(std::string root, bool sync) : root_(std::move(root)), sync_(sync) {}
  std::string root_;
  bool sync_;
};

bool IsValidBlobName(const std::string& name);
// A fresh blob name: an 8-hex hour stamp then 24 random hex digits.
std::string NewBlobName();

}  // namespace vg::storage
