#include "storage/blob_collector.h"

#include <algorithm>

namespace vg::storage {

Result<CollectorReport> BlobCollector::Collect(std::int64_t now) {
  CollectorReport report;
  const std::int64_t before = now - grace_.count();
  while (true) {
    auto stale = intents_.StaleBlobIntents(before, 500);
    if (!stale) return std::unexpected(stale.error());
    for (const auto& intent : *stale) {
      auto referenced = intents_.IsBlobReferenced(intent.key);
      if (!referenced) return std::unexpected(referenced.error());
      if (*referenced) {
        ++report.kept;
      } else {
        auto removed = blobs_.Remove(intent.key);
        if (!removed && removed.error().code != ErrorCode::kNotFound) return std::unexpected(removed.error());
        ++report.removed;
      }
      if (auto dropped = intents_.DropBlobIntent(intent.key); !dropped) return std::unexpected(dropped.error());
    }
    if (stale->size() < 500) break;
  }
  if (abort_uploads_) {
    // An upload in progress has no object and may be an export built for hours: uploads
    // get a day at least, whatever the grace.
    const std::int64_t uploads_before = now - std::max<std::int64_t>(grace_.count(), 24 * 3600);
    auto aborted = abort_uploads_(std::chrono::system_clock::time_point(std::chrono::seconds(uploads_before)));
    if (!aborted) return std::unexpected(aborted.error());
    report.uploads_aborted = static_cast<std::int64_t>(*aborted);
  }
  return report;
}

}  // namespace vg::storage
