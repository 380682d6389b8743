// Plan: what a monthly subscription grants. Plans are versioned: editing one makes a new
// version, and a subscription keeps the version its current period was granted under.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"

namespace vg::licensing {

inline constexpr const char* kFeatures[] = {"annotation", "export", "auto_run", "api_tokens"};

struct Plan {
  std::string name;
  std::int64_t version = 0;
  std::string period = "monthly";
  std::int64_t included_runs = 0;
  std::string overage = "block";        // block: the run past the quota is refused; allow: it runs, flagged
  std::int64_t max_users = 0;           // 0: no limit
  bool all_algorithms = true;
  std::vector<std::string> algorithms;  // when not all
  std::set<std::string> features;
  std::string price_note;

  bool AllowsAlgorithm(const std::string& id) const;
  bool HasFeature(const std::string& feature) const { return features.contains(feature); }
};

// Checks names, numbers and feature names; kInvalidArgument says which.
Result<void> ValidatePlan(const Plan& plan);
std::string PlanToJson(const Plan& plan);
Result<Plan> PlanFromJson(const std::string& json);
// "all" or "a,b" into the plan's algorithm fields; "annotation,export" into features.
void SetAlgorithms(Plan& plan, const std::string& list);
Result<void> SetFeatures(Plan& plan, const std::string& list);

}  // namespace vg::licensing
