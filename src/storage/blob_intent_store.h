// BlobIntentStore: the catalog's record of blobs written to a shared object store before
// the catalog row that makes them exist was committed (or not: the node died, the request
// failed). The garbage collector (storage/blob_collector.h) removes the blobs of old
// intents that nothing references; it never looks at a blob without an intent, so it
// cannot remove one it does not know was in flight.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "storage/blob_store.h"

namespace vg::storage {

struct BlobIntent {
  BlobKey key;
  std::int64_t created_at = 0;  // Unix seconds
};

class BlobIntentStore {
 public:
  virtual ~BlobIntentStore() = default;
  virtual Result<void> RecordBlobIntent(const BlobKey& key, std::int64_t now) = 0;
  // Intents older than `before`, oldest first.
  virtual Result<std::vector<BlobIntent>> StaleBlobIntents(std::int64_t before, std::int64_t limit) = 0;
  // Whether a committed row names the blob: an instance, a segmentation's labels, a bug
  // report's screenshot, an export's bundle.
  virtual Result<bool> IsBlobReferenced(const BlobKey& key) = 0;
  virtual Result<void> DropBlobIntent(const BlobKey& key) = 0;
};

}  // namespace vg::storage
