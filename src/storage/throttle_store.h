// ThrottleStore: the login throttle's counts where every node of a cluster sees them (a
// guesser spreading attempts over the nodes is counted as on one). The single machine
// keeps them in memory instead (auth/login_throttle.h).
//
// Contract: keys and addresses are the throttle's own strings (no patient data); Update
// reads and writes its keys in one serialised transaction, so concurrent failures on
// several nodes all count.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/result.h"

namespace vg::storage {

struct ThrottleEntry {
  int failures = 0;
  std::int64_t last_failure_ms = 0, blocked_until_ms = 0;
};

class ThrottleStore {
 public:
  virtual ~ThrottleStore() = default;
  // The entries of `keys`, in order (zero where none).
  virtual Result<std::vector<ThrottleEntry>> ThrottleEntries(const std::vector<std::string>& keys) = 0;
  // Passes each key's entry to `update` and stores what it leaves; entries whose last
  // failure is older than `forget_before_ms` and no longer blocked are removed meanwhile.
  virtual Result<void> UpdateThrottle(const std::vector<std::string>& keys,
                                      const std::function<void(ThrottleEntry&)>& update,
                                      std::int64_t now_ms, std::int64_t forget_before_ms) = 0;
  virtual Result<void> ClearThrottle(const std::string& key) = 0;
  // Addresses an account signed in from (the newest `keep` of them are kept).
  virtual Result<bool> IsKnownLoginAddress(const std::string& username, const std::string& address) = 0;
  virtual Result<void> AddKnownLoginAddress(const std::string& username, const std::string& address,
                                            std::int64_t now_ms, int keep) = 0;
};

}  // namespace vg::storage
