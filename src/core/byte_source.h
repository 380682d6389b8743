// ByteSource: a pull stream of bytes. Read fills up to `out.size()` bytes and returns how
// many; 0 means the end. Not thread-safe; one reader at a time.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.h"

namespace vg {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual Result<size_t> Read(std::span<std::uint8_t> out) = 0;
  // The unread bytes, when the source already holds them all in memory (lets a consumer
  // skip a copy); empty optional otherwise. Does not consume them.
  virtual std::optional<std::span<const std::uint8_t>> Unread() const { return std::nullopt; }
  // Consumes `n` bytes previously seen through Unread().
  virtual void Skip(size_t n) { (void)n; }
};

// Reads from memory the caller keeps alive.
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::string_view data) : data_(data) {}
  template <size_t N>
  explicit MemorySource(const char (&literal)[N]) : data_(literal, N - 1) {}
  // A temporary string would dangle: refuse it at compile time.
  explicit MemorySource(std::string&&) = delete;
  Result<size_t> Read(std::span<std::uint8_t> out) override {
    size_t n = std::min(out.size(), data_.size() - offset_);
    std::memcpy(out.data(), data_.data() + offset_, n);
    offset_ += n;
    return n;
  }
  std::optional<std::span<const std::uint8_t>> Unread() const override {
    return std::span(reinterpret_cast<const std::uint8_t*>(data_.data()) + offset_, data_.size() - offset_);
  }
  void Skip(size_t n) override { offset_ += std::min(n, data_.size() - offset_); }
 private:
  std::string_view data_;
  size_t offset_ = 0;
};

// Reads a whole source into a string, refusing more than `limit` bytes.
inline Result<std::string> ReadAll(ByteSource& source, size_t limit = SIZE_MAX) {
  std::string out;
  std::uint8_t buffer[64 * 1024];
  while (true) {
    auto n = source.Read(buffer);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return out;
    if (out.size() + *n > limit) return Fail(ErrorCode::kTooLarge, "object exceeds the size limit");
    out.append(reinterpret_cast<const char*>(buffer), *n);
  }
}

}  // namespace vg
