// BlobStore: opaque, immutable objects, each owned by one tenant.
//
// Contract (every backend, checked by tests/unit/blob_store_test.cpp):
// * Thread-safe.
// * Writes are two-step so that ingest can make many blobs durable with one round of
//   fsyncs: Stage() writes the data where nobody can see it; Publish() makes a batch
//   durable and visible, atomically per blob. A staged blob that is never published
//   leaves nothing behind once Discard() runs (or after a restart).
// * Get() of a missing key, or of a key under another tenant, is kNotFound.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/byte_source.h"
#include "core/result.h"

namespace vg::storage {

struct BlobKey {
  std::int64_t tenant_id = 0;
  std::string name;  // [0-9a-f]{16,64}; chosen by the caller, never patient data
};

// A blob written but not yet visible. Move-only; owns its temp file until published.
struct StagedBlob {
  BlobKey key;
  std::string temp_path;
  int fd = -1;
  std::uint64_t stored_bytes = 0;  // bytes on disk (ciphertext for encrypted stores)
  StagedBlob() = default;
  StagedBlob(StagedBlob&& other) noexcept { *this = std::move(other); }
  StagedBlob& operator=(StagedBlob&& other) noexcept;
  StagedBlob(const StagedBlob&) = delete;
  ~StagedBlob();
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  virtual Result<StagedBlob> Stage(const BlobKey& key, ByteSource& data) = 0;
  // Makes every blob durable (when sync is on) and visible under its key.
  virtual Result<void> Publish(std::span<StagedBlob> blobs) = 0;
  virtual void Discard(std::span<StagedBlob> blobs) = 0;
  virtual Result<std::unique_ptr<ByteSource>> Get(const BlobKey& key) const = 0;
  virtual Result<void> Remove(const BlobKey& key) = 0;

  // Stage + Publish of one blob.
  Result<void> Put(const BlobKey& key, ByteSource& data) {
    auto staged = Stage(key, data);
    if (!staged) return std::unexpected(staged.error());
    return Publish(std::span(&*staged, 1));
  }
};

}  // namespace vg::storage
