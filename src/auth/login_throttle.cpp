#include "auth/login_throttle.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace vg::auth {
namespace {
std::string AccountAddressKey(const std::string& username, const std::string& address) {
  return "ua:" + username + "\x1f" + address;
}
}  // namespace

std::int64_t LoginThrottle::Remaining(const std::string& key, std::int64_t now_ms) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return 0;
  return std::max<std::int64_t>(0, it->second.blocked_until_ms - now_ms);
}

bool LoginThrottle::KnownAddress(const std::string& username, const std::string& address) const {
  auto it = known_.find(username);
  return it != known_.end() && std::find(it->second.begin(), it->second.end(), address) != it->second.end();
}

std::int64_t LoginThrottle::SharedBlockedForMs(const std::string& username, const std::string& address,
                                               std::int64_t now_ms) {
  auto entries = shared_->ThrottleEntries({AccountAddressKey(username, address), "a:" + address, "u:" + username});
  if (!entries) return 0;
  auto left = [&](const Entry& e) { return std::max<std::int64_t>(0, e.blocked_until_ms - now_ms); };
  std::int64_t wait = std::max(left((*entries)[0]), left((*entries)[1]));
  auto known = shared_->IsKnownLoginAddress(username, address);
  if (known && !*known) wait = std::max(wait, left((*entries)[2]));
  return wait;
}

std::int64_t LoginThrottle::BlockedForMs(const std::string& username, const std::string& address,
                                         std::int64_t now_ms) {
  if (shared_) return SharedBlockedForMs(username, address, now_ms);
  std::lock_guard lock(mutex_);
  std::int64_t wait = std::max(Remaining(AccountAddressKey(username, address), now_ms), Remaining("a:" + address, now_ms));
  if (!KnownAddress(username, address)) wait = std::max(wait, Remaining("u:" + username, now_ms));
  return wait;
}

void LoginThrottle::Fail(Entry& entry, int free_failures, std::int64_t now_ms) const {
  if (entry.failures > 0 && now_ms - entry.last_failure_ms > limits_.forget_after_ms) entry = Entry{};
  ++entry.failures;
  entry.last_failure_ms = now_ms;
  const int over = entry.failures - free_failures;
  if (over <= 0) return;
  const std::int64_t block = over >= 21 ? limits_.max_block_ms : std::min<std::int64_t>(limits_.max_block_ms, std::int64_t{1000} << (over - 1));
  entry.blocked_until_ms = now_ms + block;
}

void LoginThrottle::RecordFailure(const std::string& username, const std::string& address, std::int64_t now_ms) {
  const std::vector<std::pair<std::string, int>> counts = {
      {AccountAddressKey(username, address), limits_.free_account_address_failures},
      {"a:" + address, limits_.free_address_failures},
      {"u:" + username, limits_.free_account_failures}};
  if (shared_) {
    std::vector<std::string> keys;
    for (const auto& [key, free] : counts) keys.push_back(key);
    size_t next = 0;
    (void)shared_->UpdateThrottle(
        keys, [&](Entry& entry) { Fail(entry, counts[next++ % counts.size()].second, now_ms); }, now_ms,
        now_ms - limits_.forget_after_ms);
    return;
  }
  std::lock_guard lock(mutex_);
  if (entries_.size() >= limits_.max_keys) Trim(now_ms);
  for (const auto& [key, free] : counts) Fail(entries_[key], free, now_ms);
}

void LoginThrottle::RecordSuccess(const std::string& username, const std::string& address) {
  if (shared_) {
    (void)shared_->ClearThrottle(AccountAddressKey(username, address));
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    (void)shared_->AddKnownLoginAddress(username, address, now_ms, static_cast<int>(limits_.known_addresses_per_account));
    return;
  }
  std::lock_guard lock(mutex_);
  entries_.erase(AccountAddressKey(username, address));
  if (known_.size() >= limits_.max_keys) known_.clear();  // bounded; forgetting only re-applies the slow count
  auto& addresses = known_[username];
  if (std::find(addresses.begin(), addresses.end(), address) != addresses.end()) return;
  if (addresses.size() >= limits_.known_addresses_per_account) addresses.erase(addresses.begin());
  addresses.push_back(address);
}

std::size_t LoginThrottle::TrackedKeys() {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

// Forgets faded entries; if that is not enough (a flood of made-up usernames), the ones
// with the fewest failures go first, keeping the blocks that matter.
void LoginThrottle::Trim(std::int64_t now_ms) {
  std::erase_if(entries_, [&](const auto& kv) {
    return now_ms - kv.second.last_failure_ms > limits_.forget_after_ms && kv.second.blocked_until_ms <= now_ms;
  });
  if (entries_.size() < limits_.max_keys * 9 / 10) return;
  std::erase_if(entries_, [](const auto& kv) { return kv.second.failures <= 1; });
}

}  // namespace vg::auth
