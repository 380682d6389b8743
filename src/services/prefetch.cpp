#include "services/prefetch.h"

#include <algorithm>

namespace vg::services {

InstancePrefetcher::InstancePrefetcher(Retrieval& retrieval, std::int64_t tenant_id,
                                       std::vector<storage::InstanceRow> rows, int workers)
    : retrieval_(retrieval), tenant_id_(tenant_id), rows_(std::move(rows)), slots_(rows_.size()) {
  if (rows_.size() < 2) return;
  for (int i = 0; i < std::max(1, workers); ++i) workers_.emplace_back([this] { Run(); });
}

InstancePrefetcher::~InstancePrefetcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void InstancePrefetcher::Run() {
  while (true) {
    size_t i;
    std::size_t size;
    {
      std::unique_lock lock(mutex_);
      while (next_fetch_ < rows_.size() && rows_[next_fetch_].size > kMaxWholeBytes) ++next_fetch_;  // streamed
      if (next_fetch_ >= rows_.size() || stopping_) return;
      i = next_fetch_++;
      size = static_cast<std::size_t>(rows_[i].size);
      // Room for it, or the consumer is already waiting for exactly this one.
      changed_.wait(lock, [&] { return stopping_ || buffered_bytes_ + size <= kWindowBytes || next_ >= i; });
      if (stopping_) return;
      buffered_bytes_ += size;
    }
    auto bytes = retrieval_.ReadWhole(tenant_id_, rows_[i]);
    {
      std::lock_guard lock(mutex_);
      slots_[i].bytes = std::move(bytes);
      slots_[i].ready = true;
    }
    changed_.notify_all();
  }
}

Result<std::optional<InstancePrefetcher::Item>> InstancePrefetcher::Next() {
  std::unique_lock lock(mutex_);
  if (next_ >= rows_.size()) return std::optional<Item>();
  const size_t i = next_;
  Item item;
  item.row = &rows_[i];
  if (rows_[i].size > kMaxWholeBytes || workers_.empty()) {
    ++next_;
    changed_.notify_all();
    lock.unlock();
    auto stream = retrieval_.Open(tenant_id_, rows_[i]);
    if (!stream) return std::unexpected(stream.error());
    item.stream = std::move(*stream);
    return std::optional<Item>(std::move(item));
  }
  changed_.wait(lock, [&] { return slots_[i].ready; });
  Result<std::string> bytes = std::move(slots_[i].bytes);
  buffered_bytes_ -= static_cast<std::size_t>(rows_[i].size);
  ++next_;
  lock.unlock();
  changed_.notify_all();
  if (!bytes) return std::unexpected(bytes.error());
  item.bytes = std::move(*bytes);
  return std::optional<Item>(std::move(item));
}

}  // namespace vg::services
