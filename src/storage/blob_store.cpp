#include "storage/blob_store.h"

#include <vector>

namespace vg::storage {

Result<StagedBlob> BlobStore::Stage(const BlobKey& key, ByteSource& data) {
  auto writer = StageStream(key, SyncWhen::kBatched);
  if (!writer) return std::unexpected(writer.error());
  if (auto unread = data.Unread()) {
    if (auto r = (*writer)->Append(*unread); !r) return std::unexpected(r.error());
    data.Skip(unread->size());
    return (*writer)->Close();
  }
  std::vector<std::uint8_t> buffer(512 * 1024);
  while (true) {
    auto n = data.Read(buffer);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    if (auto r = (*writer)->Append(std::span(buffer.data(), *n)); !r) return std::unexpected(r.error());
  }
  return (*writer)->Close();
}

}  // namespace vg::storage
