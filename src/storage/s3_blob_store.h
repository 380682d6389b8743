// S3BlobStore: blobs as objects PREFIX/t<tenant>/<name> in one bucket of any
// S3-compatible store (through S3Client), for several nodes sharing one bucket.
//
// How the BlobStore contract maps onto S3:
// * Blob names are never reused, so there is no staging area: a staged blob is uploaded
//   straight to its final key (no copy, no rename), and a retried PUT is harmless.
// * StageStream buffers in memory up to one part (8 MiB). A blob that fits is sent with
//   one PUT when its writer closes; a larger one switches to a multipart upload whose
//   8 MiB parts go out while the rest still arrives (at most two in flight per blob, so
//   a fast sender waits for the network instead of filling memory); Close sends the last
//   part. Uploads run on the store's own threads, so a batch's uploads are in flight
//   together; Close returns at once.
// * Sync waits until every given blob's upload has completed (a multipart upload:
//   completed, not just its parts) and returns the first failure. After Sync the object
//   is durable: the store acknowledged it.
// * SyncWhen: kSoon puts the blob's uploads ahead of kBatched ones in the queue (someone
//   waits for that one blob); both start at Close.
// * Settle is a no-op: the object is already in its place.
// * Discard cancels what has not started, waits for what has, then deletes the object
//   (and aborts a multipart upload). A writer dropped before Close aborts its upload.
// * Get reads the object by ranged GETs of 4 MiB, one at a time as the reader asks, so
//   memory per reader is bounded, a stalled read costs one range to retry, and a small
//   blob (most DICOM instances) costs one request; the first range is fetched by Get, so
//   a missing blob is kNotFound there. A Get of a blob whose upload this node still runs
//   waits for the upload first, so a staged blob reads back as the contract requires.
// * ListStaged is always empty: another node's in-flight objects look exactly like
//   orphans, and a node must never delete them. Objects whose request never committed
//   (a node killed between PUT and the catalog commit) and multipart uploads left
//   incomplete are found by the leader's garbage collection through ForEachObjectOlderThan
//   and AbortStaleUploads, with an age threshold longer than any request.
// * Remove of a missing blob is kNotFound (one HEAD before the DELETE, as S3's DELETE
//   does not say). RemoveTenant lists the tenant's prefix and deletes every object, one
//   request each (DeleteObjects would need a Content-MD5, which nothing here computes),
//   so a large tenant takes a while; its blobs were unreadable already.
//
// Thread-safe. The destructor waits for the uploads still queued or running; writers
// must not outlive the store (staged blobs may).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "storage/blob_store.h"
#include "storage/s3_client.h"

namespace vg::storage {

struct S3BlobStoreOptions {
  std::string bucket;
  std::string prefix;            // "" or "a/b": letters, digits, '.', '_', '-', '/'
  bool create_bucket = false;    // CreateBucket at Open (tests, single-box setups)
  size_t upload_threads = 8;     // uploads (single PUTs and parts) in flight at once
  size_t part_bytes = 8 << 20;   // the multipart threshold and part size (S3: >= 5 MiB)
  size_t read_bytes = 4 << 20;   // one ranged GET
};

class S3BlobStore final : public BlobStore {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  struct StoredObject {
    BlobKey key;
    TimePoint last_modified;
    std::uint64_t size = 0;
  };
  struct StaleUpload {
    std::string object_key;  // the S3 key, which may not be a valid blob key
    std::string upload_id;
    TimePoint initiated;
  };

  // Checks that the bucket answers (one listing of at most one key), after creating it
  // when asked to.
  static Result<std::unique_ptr<S3BlobStore>> Open(std::shared_ptr<S3Client> client, S3BlobStoreOptions options);
  ~S3BlobStore() override;

  Result<std::unique_ptr<BlobWriter>> StageStream(const BlobKey& key, SyncWhen when) override;
  Result<void> Sync(std::span<StagedBlob> blobs) override;
  void Settle(std::span<const BlobKey> keys) override {}
  void Discard(std::span<StagedBlob> blobs) override;
  Result<std::unique_ptr<ByteSource>> Get(const BlobKey& key) const override;
  Result<void> Remove(const BlobKey& key) override;
  Result<void> RemoveTenant(std::int64_t tenant_id) override;
  Result<std::vector<BlobKey>> ListStaged() const override { return std::vector<BlobKey>{}; }

  // For the garbage collector. Calls `visit` for every blob object last modified before
  // `cutoff`, page by page (objects under the prefix that are not blobs are skipped);
  // `visit` returns false to stop.
  Result<void> ForEachObjectOlderThan(TimePoint cutoff, const std::function<bool(const StoredObject&)>& visit) const;
  // The same, collected (for tests and small buckets).
  Result<std::vector<StoredObject>> ListOlderThan(TimePoint cutoff) const;
  // Multipart uploads under the prefix begun before `cutoff` and never completed.
  Result<std::vector<StaleUpload>> ListStaleUploads(TimePoint cutoff) const;
  // Aborts those; returns how many. `cutoff` must be older than the longest upload: an
  // upload of another node still running would be aborted too.
  Result<size_t> AbortStaleUploads(TimePoint cutoff);

  std::string ObjectKey(const BlobKey& key) const;

 private:
  struct Upload;  // one blob's upload, shared by its writer, its tasks and its StagedBlob
  class Staged;   // the StagedBlobState: holds the Upload
  class TaskPool;
  class Writer;
  S3BlobStore(std::shared_ptr<S3Client> client, S3BlobStoreOptions options);
  std::string TenantPrefix(std::int64_t tenant_id) const;
  // The upload tasks, run on pool_.
  void SubmitPut(std::shared_ptr<Upload> upload, std::vector<std::uint8_t> data);
  void SubmitPart(std::shared_ptr<Upload> upload, int number, std::vector<std::uint8_t> data);
  void SubmitFinalize(std::shared_ptr<Upload> upload);
  void Finalize(Upload& upload);  // completes or aborts a multipart upload, once
  void Finish(Upload& upload, Result<void> result);
  void Register(const std::shared_ptr<Upload>& upload);  // from Close until Finish: Get waits for it
  std::shared_ptr<Upload> InFlight(const BlobKey& key) const;

  std::shared_ptr<S3Client> client_;
  S3BlobStoreOptions options_;
  std::string root_;  // "PREFIX/" or ""
  mutable std::mutex in_flight_mu_;
  std::unordered_map<std::string, std::weak_ptr<Upload>> in_flight_;  // by object key
  std::unique_ptr<TaskPool> pool_;  // last: destroyed (drained) first
};

}  // namespace vg::storage
