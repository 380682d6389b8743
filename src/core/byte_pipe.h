// BytePipe: a bounded, thread-safe byte channel. One thread writes (Write, then Close or
// Fail); another reads through the ByteSource interface. A writer blocks while the pipe
// holds `capacity` bytes, so a fast producer waits for a slow consumer instead of
// filling memory. Used to stream something produced by push (a tar writer) into a
// consumer that pulls (the blob store).
#pragma once

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "core/byte_source.h"

namespace vg {

class BytePipe final : public ByteSource {
 public:
  explicit BytePipe(size_t capacity = 8u << 20) : capacity_(capacity) {}

  // False when the reader has gone away (Abandon); the writer should stop.
  bool Write(std::string_view data) {
    std::unique_lock lock(mutex_);
    while (!data.empty()) {
      changed_.wait(lock, [&] { return abandoned_ || size_ < capacity_; });
      if (abandoned_) return false;
      const size_t n = std::min(data.size(), capacity_ - size_);
      chunks_.emplace_back(data.substr(0, n));
      size_ += n;
      data.remove_prefix(n);
      changed_.notify_all();
    }
    return true;
  }
  // End of data; `error` makes the reader's next Read fail with it.
  void Close(std::optional<Error> error = std::nullopt) {
    std::lock_guard lock(mutex_);
    closed_ = true;
    error_ = std::move(error);
    changed_.notify_all();
  }
  // The reader gives up: writers unblock and see Write return false.
  void Abandon() {
    std::lock_guard lock(mutex_);
    abandoned_ = true;
    changed_.notify_all();
  }

  Result<size_t> Read(std::span<std::uint8_t> out) override {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !chunks_.empty() || closed_; });
    if (chunks_.empty()) {
      if (error_) return std::unexpected(*error_);
      return 0;
    }
    size_t filled = 0;
    while (filled < out.size() && !chunks_.empty()) {
      std::string& front = chunks_.front();
      const size_t n = std::min(out.size() - filled, front.size() - offset_);
      std::memcpy(out.data() + filled, front.data() + offset_, n);
      filled += n;
      offset_ += n;
      if (offset_ == front.size()) {
        size_ -= front.size();
        chunks_.pop_front();
        offset_ = 0;
      }
    }
    changed_.notify_all();
    return filled;
  }

 private:
  const size_t capacity_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> chunks_;
  size_t offset_ = 0;  // into chunks_.front()
  size_t size_ = 0;    // bytes held (whole chunks)
  bool closed_ = false, abandoned_ = false;
  std::optional<Error> error_;
};

}  // namespace vg
