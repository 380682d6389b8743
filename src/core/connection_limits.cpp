#include "core/connection_limits.h"

namespace vg {

ConnectionLimits::Slot& ConnectionLimits::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = other.owner_;
    address_ = std::move(other.address_);
    other.owner_ = nullptr;
  }
  return *this;
}

void ConnectionLimits::Slot::Release() {
  if (owner_) owner_->Close(address_);
  owner_ = nullptr;
}

std::expected<ConnectionLimits::Slot, ConnectionLimits::Refusal> ConnectionLimits::TryOpen(const std::string& address) {
  std::lock_guard lock(mutex_);
  if (max_total_ > 0 && total_ >= max_total_) return std::unexpected(Refusal::kTotal);
  std::size_t& mine = per_address_[address];
  if (max_per_address_ > 0 && mine >= max_per_address_) {
    if (mine == 0) per_address_.erase(address);
    return std::unexpected(Refusal::kPerAddress);
  }
  ++mine;
  ++total_;
  return Slot(this, address);
}

void ConnectionLimits::Close(const std::string& address) {
  std::lock_guard lock(mutex_);
  --total_;
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

std::size_t ConnectionLimits::open() const {
  std::lock_guard lock(mutex_);
  return total_;
}

std::size_t ConnectionLimits::open_from(const std::string& address) const {
  std::lock_guard lock(mutex_);
  auto it = per_address_.find(address);
  return it == per_address_.end() ? 0 : it->second;
}

}  // namespace vg
