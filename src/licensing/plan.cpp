#include "licensing/plan.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/strings.h"

namespace vg::licensing {

using nlohmann::json;

bool Plan::AllowsAlgorithm(const std::string& id) const {
  return all_algorithms || std::find(algorithms.begin(), algorithms.end(), id) != algorithms.end();
}

Result<void> ValidatePlan(const Plan& p) {
  if (p.name.empty() || p.name.size() > 64)
    return Fail(ErrorCode::kInvalidArgument, "a plan name is 1 to 64 characters");
  for (char c : p.name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return Fail(ErrorCode::kInvalidArgument, "a plan name is letters, digits, - _ .");
  if (p.period != "monthly") return Fail(ErrorCode::kInvalidArgument, "plans are monthly");
  if (p.included_runs < 0 || p.included_runs > 10'000'000)
    return Fail(ErrorCode::kInvalidArgument, "included runs is a whole number from 0");
  if (p.overage != "block" && p.overage != "allow") return Fail(ErrorCode::kInvalidArgument, "overage is block or allow");
  if (p.max_users < 0) return Fail(ErrorCode::kInvalidArgument, "max users is 0 (no limit) or more");
  for (const auto& f : p.features)
    if (std::none_of(std::begin(kFeatures), std::end(kFeatures), [&](const char* k) { return f == k; }))
      return Fail(ErrorCode::kInvalidArgument, "unknown feature '" + f + "' (annotation, export, auto_run, api_tokens)");
  if (p.price_note.size() > 1024) return Fail(ErrorCode::kInvalidArgument, "the price note is at most 1024 characters");
  return {};
}

std::string PlanToJson(const Plan& p) {
  return json{{"name", p.name},
              {"version", p.version},
              {"period", p.period},
              {"included_runs", p.included_runs},
              {"overage", p.overage},
              {"max_users", p.max_users},
              {"algorithms", p.all_algorithms ? json("all") : json(p.algorithms)},
              {"features", p.features},
              {"price_note", p.price_note}}
      .dump();
}

Result<Plan> PlanFromJson(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Fail(ErrorCode::kInvalidArgument, "a plan is a JSON object");
  Plan p;
  try {
    p.name = j.value("name", "");
    p.version = j.value("version", std::int64_t{0});
    p.period = j.value("period", "monthly");
    p.included_runs = j.value("included_runs", std::int64_t{0});
    p.overage = j.value("overage", "block");
    p.max_users = j.value("max_users", std::int64_t{0});
    if (j.contains("algorithms") && j["algorithms"].is_array()) {
      p.all_algorithms = false;
      p.algorithms = j["algorithms"].get<std::vector<std::string>>();
    } else {
      p.all_algorithms = j.value("algorithms", "all") == "all";
    }
    if (j.contains("features")) p.features = j["features"].get<std::set<std::string>>();
    p.price_note = j.value("price_note", "");
  } catch (const json::exception&) {
    return Fail(ErrorCode::kInvalidArgument, "a plan field has the wrong type");
  }
  if (auto ok = ValidatePlan(p); !ok) return std::unexpected(ok.error());
  return p;
}

void SetAlgorithms(Plan& plan, const std::string& list) {
  plan.algorithms.clear();
  plan.all_algorithms = list.empty() || list == "all";
  if (plan.all_algorithms) return;
  for (auto a : Split(list, ','))
    if (!Trim(a).empty()) plan.algorithms.emplace_back(Trim(a));
}

Result<void> SetFeatures(Plan& plan, const std::string& list) {
  plan.features.clear();
  for (auto f : Split(list, ','))
    if (!Trim(f).empty()) plan.features.emplace(Trim(f));
  return ValidatePlan(plan);
}

}  // namespace vg::licensing
