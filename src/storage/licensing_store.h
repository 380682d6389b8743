// LicensingStore: the vendor's plans (versioned), each clinic's subscription, the usage
// records every algorithm run leaves (what invoices are made from), and the licence
// clock's high-water mark.
//
// Contract: thread-safe. Plans are never edited: a change is a new version under the same
// name. One subscription per tenant, written whole (the lifecycle is plain logic in
// licensing/). A usage record per job: writing it again replaces it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace vg::storage {

using SealedBytes = std::vector<std::uint8_t>;  // as in catalog.h

struct PlanRecord {
  std::string name;
  std::int64_t version = 0;
  std::string json;  // the plan itself (licensing/plan.h)
  std::string created_by;
  std::int64_t created_at = 0;
};

struct SubscriptionRecord {
  std::int64_t tenant_id = 0;
  std::string json;  // the subscription itself (licensing/subscription.h)
  std::int64_t updated_at = 0;
};

struct UsageRecord {
  std::int64_t job_id = 0;
  std::int64_t tenant_id = 0;
  std::string user, algorithm_id, algorithm_version, series_uid, outcome;  // outcome: succeeded, failed, cancelled
  std::int64_t slices = 0, voxels = 0, duration_ms = 0;
  std::int64_t started_at = 0;    // the run's start: it counts in the period it started in
  std::int64_t period_start = 0;  // that period
  bool counted = false;           // a successful run: it counts towards the quota
  bool overage = false;           // beyond the plan's included runs
};

class LicensingStore {
 public:
  virtual ~LicensingStore() = default;
  // A new version of the plan `name` (1 when new); returns it.
  virtual Result<PlanRecord> AddPlanVersion(const std::string& name, const std::string& json,
                                            const std::string& created_by) = 0;
  // The latest version, or a given one.
  virtual Result<PlanRecord> FindPlan(const std::string& name, std::optional<std::int64_t> version) = 0;
  virtual Result<std::vector<PlanRecord>> ListPlans() = 0;  // latest version of each

  virtual Result<std::optional<SubscriptionRecord>> FindSubscription(std::int64_t tenant_id) = 0;
  virtual Result<std::vector<SubscriptionRecord>> ListSubscriptions() = 0;
  // Stores `record` only if the stored subscription is still `expected` (its JSON as read;
  // nullopt: none stored yet), so that two nodes changing one subscription at once cannot
  // lose a change: false when another writer came first (read again and redo).
  virtual Result<bool> ReplaceSubscription(const std::optional<std::string>& expected,
                                           const SubscriptionRecord& record) = 0;

  virtual Result<void> PutUsage(const UsageRecord& record) = 0;
  // Records of a tenant (or every tenant when 0) whose run started in [from, to).
  virtual Result<std::vector<UsageRecord>> ListUsage(std::int64_t tenant_id, std::int64_t from, std::int64_t to) = 0;
  // Successful runs of the period, and algorithm jobs still queued or running (they may
  // succeed: counted against the quota until they end).
  virtual Result<std::int64_t> CountedRuns(std::int64_t tenant_id, std::int64_t period_start) = 0;
  virtual Result<std::int64_t> InFlightRuns(std::int64_t tenant_id) = 0;

  // The licence clock: never goes back. Returns max(now, stored) and stores it.
  virtual Result<std::int64_t> AdvanceLicenceClock(std::int64_t now) = 0;
  // The clock's high-water mark and the seal stored with it (licensing keys it with the
  // master key): none before its first tick; an empty seal from before seals existed.
  virtual Result<std::optional<std::pair<std::int64_t, SealedBytes>>> LicenceClock() = 0;
  // Stores `value` and its seal if the mark still is `expected` (none: no mark yet); false
  // when another process moved it first.
  virtual Result<bool> SetLicenceClock(std::optional<std::int64_t> expected, std::int64_t value, const SealedBytes& seal) = 0;
  // This installation's id, sealed with a key of the master key's: the one stored, or
  // `candidate` stored now when there is none (then `.second` is true).
  virtual Result<std::pair<SealedBytes, bool>> InstallationSealed(const SealedBytes& candidate) = 0;
};

}  // namespace vg::storage
