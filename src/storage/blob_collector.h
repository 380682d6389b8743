// BlobCollector: the garbage collector of a shared object store, run by the cluster's
// leader. For each blob intent older than `grace` (longer than any request or job takes
// from writing a blob to committing its row), it removes the blob unless a committed row
// references it, then forgets the intent; and it aborts multipart uploads older than
// `grace` or a day, whichever is longer (their parts are invisible but paid for; a long
// export streams into one). It never touches a blob without an
// intent, so it cannot remove data it does not know was in flight.
#pragma once

#include <chrono>
#include <functional>

#include "storage/blob_intent_store.h"
#include "storage/blob_store.h"

namespace vg::storage {

struct CollectorReport {
  std::int64_t kept = 0;      // referenced: the intent was dropped
  std::int64_t removed = 0;   // unreferenced: the blob (if written at all) is gone
  std::int64_t uploads_aborted = 0;
};

class BlobCollector {
 public:
  using AbortStaleUploads = std::function<Result<size_t>(std::chrono::system_clock::time_point before)>;
  BlobCollector(BlobIntentStore& intents, BlobStore& blobs, AbortStaleUploads abort_uploads,
                std::chrono::seconds grace = std::chrono::hours(1))
      : intents_(intents), blobs_(blobs), abort_uploads_(std::move(abort_uploads)), grace_(grace) {}

  // This collector with another grace (an operator's one-off pass).
  BlobCollector WithGrace(std::chrono::seconds grace) const {
    BlobCollector copy = *this;
    copy.grace_ = grace;
    return copy;
  }
  // One pass at `now` (Unix seconds).
  Result<CollectorReport> Collect(std::int64_t now);

 private:
  BlobIntentStore& intents_;
  BlobStore& blobs_;
  AbortStaleUploads abort_uploads_;
  std::chrono::seconds grace_;
};

}  // namespace vg::storage
