// ConnectionLimits: how many connections are open, in total and per client address, and
// whether one more may open. Used by every listener (HTTP, DICOM) so that one client, or
// many, cannot take every socket and thread the process has.
//
// Thread-safe. TryOpen either refuses (saying which cap) or hands out a Slot; the place
// is released when the Slot is destroyed, on whatever thread that happens.
#pragma once

#include <cstddef>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace vg {

class ConnectionLimits {
 public:
  enum class Refusal { kTotal, kPerAddress };

  // Move-only proof of an open place; empty after a move.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept : owner_(other.owner_), address_(std::move(other.address_)) { other.owner_ = nullptr; }
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { Release(); }
    void Release();

   private:
    friend class ConnectionLimits;
    Slot(ConnectionLimits* owner, std::string address) : owner_(owner), address_(std::move(address)) {}
    ConnectionLimits* owner_ = nullptr;
    std::string address_;
  };

  // 0 for either cap means "no cap".
  ConnectionLimits(std::size_t max_total, std::size_t max_per_address)
      : max_total_(max_total), max_per_address_(max_per_address) {}
  ConnectionLimits(const ConnectionLimits&) = delete;
  ConnectionLimits& operator=(const ConnectionLimits&) = delete;

  std::expected<Slot, Refusal> TryOpen(const std::string& address);
  std::size_t open() const;
  std::size_t open_from(const std::string& address) const;
  std::size_t max_total() const { return max_total_; }
  std::size_t max_per_address() const { return max_per_address_; }

 private:
  void Close(const std::string& address);
  const std::size_t max_total_, max_per_address_;
  mutable std::mutex mutex_;
  std::size_t total_ = 0;
  std::map<std::string, std::size_t> per_address_;
};

}  // namespace vg
