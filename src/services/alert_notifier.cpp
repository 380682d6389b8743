#include "services/alert_notifier.h"

#include <map>
#include <optional>

namespace vg::services {

Result<int> AlertNotifier::Tick(std::int64_t now) {
  auto evaluated = evaluate_(now);
  if (!evaluated) return std::unexpected(evaluated.error());
  std::map<std::string, nlohmann::json> current;
  for (const auto& alert : evaluated->value("alerts", nlohmann::json::array()))
    current[alert.value("key", "")] = alert;
  std::lock_guard lock(mutex_);
  int delivered = 0;
  std::optional<Error> failure;
  auto send = [&](const char* state, const nlohmann::json& alert) {
    nlohmann::json body = {{"source", "voxelgate"}, {"state", state}, {"at", now}, {"alert", alert}};
    if (auto ok = deliver_(body.dump()); !ok) {
      failure = ok.error();
      return false;
    }
    ++delivered;
    return true;
  };
  for (const auto& [key, alert] : current)
    if (!firing_.count(key) && send("firing", alert)) firing_.insert(key);
  for (auto it = firing_.begin(); it != firing_.end();) {
    if (!current.count(*it) && send("resolved", {{"key", *it}})) it = firing_.erase(it);
    else ++it;
  }
  if (failure && delivered == 0) return std::unexpected(*failure);
  return delivered;
}

}  // namespace vg::services
