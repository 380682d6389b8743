#include "storage/memory_blob_store.h"

#include <algorithm>
#include <cstring>

namespace vg::storage {
namespace {

// Reads a blob's bytes, sharing them with the store (blobs are immutable).
class SharedSource final : public ByteSource {
 public:
  explicit SharedSource(std::shared_ptr<const std::string> data) : data_(std::move(data)) {}
  Result<size_t> Read(std::span<std::uint8_t> out) override {
    size_t n = std::min(out.size(), data_->size() - offset_);
    std::memcpy(out.data(), data_->data() + offset_, n);
    offset_ += n;
    return n;
  }
  std::optional<std::span<const std::uint8_t>> Unread() const override {
    return std::span(reinterpret_cast<const std::uint8_t*>(data_->data()) + offset_, data_->size() - offset_);
  }
  void Skip(size_t n) override { offset_ += std::min(n, data_->size() - offset_); }

 private:
  std::shared_ptr<const std::string> data_;
  size_t offset_ = 0;
};

}  // namespace

// Holds the bytes until Close; dropped before that, it leaves nothing behind.
class MemoryBlobStore::Writer final : public BlobWriter {
 public:
  Writer(MemoryBlobStore& store, BlobKey key) : store_(store), key_(std::move(key)) {}
  Result<void> Append(std::span<const std::uint8_t> data) override {
    if (closed_) return Fail(ErrorCode::kInternal, "write after close");
    data_.append(reinterpret_cast<const char*>(data.data()), data.size());
    return {};
  }
  Result<StagedBlob> Close() override {
    if (closed_) return Fail(ErrorCode::kInternal, "close after close");
    closed_ = true;
    return store_.Insert(key_, std::move(data_));
  }

 private:
  MemoryBlobStore& store_;
  BlobKey key_;
  std::string data_;
  bool closed_ = false;
};

Result<std::unique_ptr<BlobWriter>> MemoryBlobStore::StageStream(const BlobKey& key, SyncWhen when) {
  if (!IsValidBlobName(key.name)) return Fail(ErrorCode::kInvalidArgument, "bad blob name", key.name);
  return std::unique_ptr<BlobWriter>(new Writer(*this, key));
}

Result<StagedBlob> MemoryBlobStore::Insert(const BlobKey& key, std::string data) {
  StagedBlob staged;
  staged.key = key;
  staged.stored_bytes = data.size();
  std::lock_guard lock(mu_);
  auto [it, inserted] = staged_.try_emplace(Id{key.tenant_id, key.name});
  if (!inserted) return Fail(ErrorCode::kConflict, "blob name already staged", key.name);
  it->second = std::make_shared<const std::string>(std::move(data));
  return staged;
}

// Nothing to make durable: memory is as durable as it gets.
Result<void> MemoryBlobStore::Sync(std::span<StagedBlob> blobs) { return {}; }

void MemoryBlobStore::Settle(std::span<const BlobKey> keys) {
  std::lock_guard lock(mu_);
  for (const auto& key : keys) {
    auto it = staged_.find(Id{key.tenant_id, key.name});
    if (it == staged_.end()) continue;
    settled_[it->first] = std::move(it->second);
    staged_.erase(it);
  }
}

void MemoryBlobStore::Discard(std::span<StagedBlob> blobs) {
  std::lock_guard lock(mu_);
  for (auto& blob : blobs) {
    staged_.erase(Id{blob.key.tenant_id, blob.key.name});
    blob.state.reset();
  }
}

Result<std::unique_ptr<ByteSource>> MemoryBlobStore::Get(const BlobKey& key) const {
  std::lock_guard lock(mu_);
  Id id{key.tenant_id, key.name};
  auto it = settled_.find(id);
  if (it == settled_.end()) it = staged_.find(id);
  if (it == staged_.end()) return Fail(ErrorCode::kNotFound, "not found");
  return std::unique_ptr<ByteSource>(new SharedSource(it->second));
}

Result<void> MemoryBlobStore::Remove(const BlobKey& key) {
  std::lock_guard lock(mu_);
  Id id{key.tenant_id, key.name};
  size_t removed = settled_.erase(id) + staged_.erase(id);
  if (removed == 0) return Fail(ErrorCode::kNotFound, "not found");
  return {};
}

// Settled blobs only, as the folder store: a staged blob is still its writer's to settle
// or discard.
Result<void> MemoryBlobStore::RemoveTenant(std::int64_t tenant_id) {
  std::lock_guard lock(mu_);
  std::erase_if(settled_, [&](const auto& entry) { return entry.first.first == tenant_id; });
  return {};
}

Result<std::vector<BlobKey>> MemoryBlobStore::ListStaged() const {
  std::lock_guard lock(mu_);
  std::vector<BlobKey> out;
  out.reserve(staged_.size());
  for (const auto& [id, bytes] : staged_) out.push_back(BlobKey{id.first, id.second});
  return out;
}

}  // namespace vg::storage
