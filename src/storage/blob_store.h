// BlobStore: opaque, immutable objects, each owned by one tenant.
//
// Contract (every backend, checked by tests/unit/blob_store_test.cpp):
// * Thread-safe.
// * Writes take three steps, so that ingest makes a whole batch durable with one round
//   of fsyncs and indexes it before anything moves:
//     Stage(key, data)  writes the data to a staging area (or StageStream(key), fed
//                       while the data is still arriving, then closed);
//     Sync(blobs)       makes staged blobs durable, still staged;
//     Settle(blobs)     moves them to their final place, without waiting for the disk.
//   Get() finds a blob by key whether staged or settled: what makes a blob exist is the
//   catalog row committed between Sync and Settle. After a crash, ListStaged() names the
//   blobs still staged; the owner settles those the catalog knows and Discards the rest.
// * Discard() removes staged blobs; Remove() removes a blob wherever it is.
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
  std::string name;  // [0-9a-f]{16,64}: from NewBlobName(), never patient data, never reused
};

bool IsValidBlobName(const std::string& name);
// A fresh blob name: an 8-hex hour stamp (so a batch's blobs sort and group together in
// any backend) then 24 random hex digits. Names are never reused, which is what makes a
// retried write safe in every backend.
std::string NewBlobName();

// What a backend keeps about a blob between staging and Sync/Discard (an open file, an
// upload in flight). Opaque to everyone but the backend that made it.
class StagedBlobState {
 public:
  virtual ~StagedBlobState() = default;
  // For a blob that will be read or Discarded but never Synced (an upload being spooled):
  // lets go of what the backend holds open for it (a file descriptor), so many can wait.
  virtual void Idle() {}
};

// A blob in the staging area. Move-only; the backend's state lives until Sync or Discard
// (dropping it without either leaves the blob for ListStaged or the garbage collector).
struct StagedBlob {
  BlobKey key;
  std::uint64_t stored_bytes = 0;  // bytes stored (ciphertext for encrypted stores)
  std::unique_ptr<StagedBlobState> state;
};

// A blob written as its bytes arrive, e.g. while a DICOM association is still receiving
// the instance, so storing it overlaps with the network. Close() returns it staged, as
// Stage() would. A writer destroyed without Close() removes what it wrote.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual Result<void> Append(std::span<const std::uint8_t> data) = 0;
  virtual Result<StagedBlob> Close() = 0;
};

// When the caller will ask for the blob's durability (Sync): kSoon when right after
// closing it, alone (one DIMSE instance), so the store starts the fsyncs early; kBatched
// when with a batch (STOW-RS), so one round of fsyncs at Sync covers them all.
enum class SyncWhen { kBatched, kSoon };

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  virtual Result<std::unique_ptr<BlobWriter>> StageStream(const BlobKey& key, SyncWhen when) = 0;
  // All of `data` through StageStream (in one Append when `data` is in memory).
  Result<StagedBlob> Stage(const BlobKey& key, ByteSource& data);
  // Makes every staged blob durable (when sync is on).
  virtual Result<void> Sync(std::span<StagedBlob> blobs) = 0;
  // Moves synced blobs to their place. Failures are left for ListStaged to find.
  virtual void Settle(std::span<const BlobKey> keys) = 0;
  virtual void Discard(std::span<StagedBlob> blobs) = 0;
  virtual Result<std::unique_ptr<ByteSource>> Get(const BlobKey& key) const = 0;
  virtual Result<void> Remove(const BlobKey& key) = 0;
  // Removes every blob of a tenant (after its key was shredded: they were unreadable already).
  virtual Result<void> RemoveTenant(std::int64_t tenant_id) = 0;
  // Blobs left staged (by a crash, or a failed Settle).
  virtual Result<std::vector<BlobKey>> ListStaged() const = 0;

  // Stage + Sync + Settle of one blob.
  Result<void> Put(const BlobKey& key, ByteSource& data) {
    auto staged = Stage(key, data);
    if (!staged) return std::unexpected(staged.error());
    if (auto r = Sync(std::span(&*staged, 1)); !r) return r;
    Settle(std::span(&key, 1));
    return {};
  }
};

}  // namespace vg::storage
