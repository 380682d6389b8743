#include "storage/blob_store.h"

#include <chrono>
#include <cstdio>
#include <vector>

#include "crypto/crypto.h"

namespace vg::storage {

bool IsValidBlobName(const std::string& name) {
  if (name.size() < 16 || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string NewBlobName() {
  auto hours = std::chrono::duration_cast<std::chrono::hours>(std::chrono::system_clock::now().time_since_epoch());
  char stamp[9];
  std::snprintf(stamp, sizeof stamp, "%08llx", static_cast<unsigned long long>(hours.count()));
  return stamp + crypto::RandomHexId(12);
}

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
