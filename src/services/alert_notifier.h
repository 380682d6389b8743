// AlertNotifier: turns the monitoring alerts evaluated now into notifications, once per
// change: an alert that appears is sent as "firing", one that disappears as "resolved".
// A notification that cannot be delivered is tried again at the next tick. Plain logic:
// the evaluation and the delivery (a webhook POST in serve) are passed in.
#pragma once

#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/result.h"

namespace vg::services {

class AlertNotifier {
 public:
  // `evaluate(now)` returns {"alerts": [{kind, key, message}, ...]}; `deliver` sends one
  // notification body (JSON).
  using Evaluate = std::function<Result<nlohmann::json>(std::int64_t now)>;
  using Deliver = std::function<Result<void>(const std::string& body)>;
  AlertNotifier(Evaluate evaluate, Deliver deliver) : evaluate_(std::move(evaluate)), deliver_(std::move(deliver)) {}

  // One round; returns how many notifications were delivered.
  Result<int> Tick(std::int64_t now);
  std::set<std::string> firing() const {
    std::lock_guard lock(mutex_);
    return firing_;
  }

 private:
  Evaluate evaluate_;
  Deliver deliver_;
  mutable std::mutex mutex_;
  std::set<std::string> firing_;  // keys notified as firing and not resolved since
};

}  // namespace vg::services
