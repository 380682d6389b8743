// LoginThrottle: slows password guessing without letting a third party lock a known
// account out.
//
// Three counts, each with a few free failures and then growing blocks (1 s, 2 s, 4 s ...
// up to 15 minutes) per further failure:
//   * one account from one client address: a guesser is stopped where it guesses from;
//   * one client address over every account: a sweep of many accounts from one address;
//   * one account from every address together, with many more free failures: a guessing
//     spread over many addresses is slowed too; but an address from which that account
//     has signed in before (its owner's) is not held by this count, so nobody can keep a
//     known account out by failing its password elsewhere.
// A blocked key is refused before the password is looked at, so a right and a wrong
// password get the same 429 and the block reveals nothing. A success clears that
// account-and-address count (not the address's: one good password must not wash a
// guessing spree from that address). Counts fade after 15 minutes without failures.
//
// Where the counts live: in memory on a single machine (a restart forgets, which only
// ever helps the legitimate user; the map is bounded), or in a cluster's shared catalog
// (storage::ThrottleStore), so that attempts spread over the nodes count as on one. If
// the shared catalog cannot be read, nothing is blocked: the sign-in fails anyway.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/throttle_store.h"

namespace vg::auth {

struct ThrottleLimits {
  int free_account_address_failures = 5;
  int free_address_failures = 20;   // a clinic's staff often share one address
  int free_account_failures = 50;   // from every address together
  std::int64_t max_block_ms = 15 * 60 * 1000;
  std::int64_t forget_after_ms = 15 * 60 * 1000;
  std::size_t max_keys = 100000;
  std::size_t known_addresses_per_account = 16;
};

class LoginThrottle {
 public:
  explicit LoginThrottle(ThrottleLimits limits = {}, storage::ThrottleStore* shared = nullptr)
      : limits_(limits), shared_(shared) {}
  // Milliseconds to wait before this account may try again from this address (0: go).
  std::int64_t BlockedForMs(const std::string& username, const std::string& address, std::int64_t now_ms);
  void RecordFailure(const std::string& username, const std::string& address, std::int64_t now_ms);
  // The account signed in from this address: its count there is cleared, and the address
  // becomes one of the account's own (not held by the account's count from elsewhere).
  void RecordSuccess(const std::string& username, const std::string& address);
  std::size_t TrackedKeys();

 private:
  using Entry = storage::ThrottleEntry;
  void Fail(Entry& entry, int free_failures, std::int64_t now_ms) const;
  std::int64_t Remaining(const std::string& key, std::int64_t now_ms) const;
  bool KnownAddress(const std::string& username, const std::string& address) const;
  void Trim(std::int64_t now_ms);

  std::int64_t SharedBlockedForMs(const std::string& username, const std::string& address, std::int64_t now_ms);

  ThrottleLimits limits_;
  storage::ThrottleStore* shared_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::unordered_map<std::string, std::vector<std::string>> known_;  // account -> addresses it signed in from
};

}  // namespace vg::auth
