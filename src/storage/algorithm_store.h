// AlgorithmStore: the vendor's algorithm registry (installation-wide, not per clinic) and
// the clinics' auto-run rules.
//
// Contract: thread-safe. Algorithm versions are immutable: adding an existing (id,
// version) is kConflict. The first version of an algorithm becomes its default. Rules
// are scoped by tenant; a rule fires at most once per series (MarkRuleFired).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace vg::storage {

struct AlgorithmRecord {
  std::string id, version, name;
  std::string manifest_json;  // the parsed manifest (services/algorithms.h)
  std::int64_t created_at = 0;
  bool is_default = false;
  bool enabled = true;
};

struct AutoRuleRecord {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::string algorithm_id;
  std::string modality = "CT";
  std::int64_t min_instances = 1;
  std::int64_t quiet_seconds = 60;
  bool enabled = true;
  std::string created_by;
  std::int64_t created_at = 0;
};

// A series a rule may fire on: it matches, has been quiet long enough, and has not fired.
struct AutoRunCandidate {
  AutoRuleRecord rule;
  std::string study_uid, series_uid;
  std::int64_t instances = 0;
};

class AlgorithmStore {
 public:
  virtual ~AlgorithmStore() = default;
  virtual Result<AlgorithmRecord> AddAlgorithm(const AlgorithmRecord& record) = 0;
  virtual Result<std::vector<AlgorithmRecord>> ListAlgorithms() = 0;
  // A given version, or the default one when `version` is empty.
  virtual Result<AlgorithmRecord> FindAlgorithm(const std::string& id, const std::string& version) = 0;
  virtual Result<void> SetDefaultVersion(const std::string& id, const std::string& version) = 0;
  virtual Result<void> SetAlgorithmEnabled(const std::string& id, const std::string& version, bool enabled) = 0;

  virtual Result<AutoRuleRecord> CreateAutoRule(const AutoRuleRecord& rule) = 0;
  virtual Result<std::vector<AutoRuleRecord>> ListAutoRules(std::int64_t tenant_id) = 0;
  virtual Result<void> DeleteAutoRule(std::int64_t tenant_id, std::int64_t id) = 0;
  // Series of every tenant that an enabled rule matches (modality, at least min_instances
  // instances), whose last instance arrived at least the rule's quiet time before `now`,
  // and that the rule has not fired on; oldest first, at most `limit`.
  virtual Result<std::vector<AutoRunCandidate>> FindAutoRunCandidates(std::int64_t now, std::int64_t limit) = 0;
  // True when this call recorded the firing; false when the rule had fired on the series.
  virtual Result<bool> MarkRuleFired(std::int64_t rule_id, const std::string& series_uid, std::int64_t job_id) = 0;
};

}  // namespace vg::storage
