#include "storage/intent_blob_store.h"

#include "core/clock.h"

namespace vg::storage {

Result<std::unique_ptr<BlobWriter>> IntentRecordingBlobStore::StageStream(const BlobKey& key, SyncWhen when) {
  if (!IsValidBlobName(key.name)) return Fail(ErrorCode::kInvalidArgument, "bad blob name", key.name);
  if (auto recorded = intents_.RecordBlobIntent(key, UnixSeconds()); !recorded)
    return std::unexpected(recorded.error());
  return inner_->StageStream(key, when);
}

}  // namespace vg::storage
