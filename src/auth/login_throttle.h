// LoginThrottle: growing delays after failed sign-ins, per account and per client address.
//
// Each key (an account, an address) may fail a few times freely; after that it is blocked
// for 1 s, 2 s, 4 s ... up to 15 minutes per further failure. A blocked key is refused
// before the password is looked at, so a right and a wrong password get the same 429 and
// the block reveals nothing. A success clears the account's count (not the address's:
// one good password must not wash a guessing spree from that address). Counts fade
// after 15 minutes without failures. In memory: a restart forgets, which only ever
// helps the legitimate user; the map is bounded.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace vg::auth {

struct ThrottleLimits {
  int free_account_failures = 5;
  int free_address_failures = 20;  // a clinic's staff often share one address
  std::int64_t max_block_ms = 15 * 60 * 1000;
  std::int64_t forget_after_ms = 15 * 60 * 1000;
  std::size_t max_keys = 100000;
};

class LoginThrottle {
 public:
  explicit LoginThrottle(ThrottleLimits limits = {}) : limits_(limits) {}
  // Milliseconds to wait before this account may try again from this address (0: go).
  std::int64_t BlockedForMs(const std::string& username, const std::string& address, std::int64_t now_ms);
  void RecordFailure(const std::string& username, const std::string& address, std::int64_t now_ms);
  void RecordSuccess(const std::string& username);
  std::size_t TrackedKeys();

 private:
  struct Entry {
    int failures = 0;
    std::int64_t last_failure_ms = 0, blocked_until_ms = 0;
  };
  void Fail(const std::string& key, int free_failures, std::int64_t now_ms);
  std::int64_t Remaining(const std::string& key, std::int64_t now_ms) const;
  void Trim(std::int64_t now_ms);

  ThrottleLimits limits_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace vg::auth
