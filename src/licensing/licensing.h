// Licensing: plans, subscriptions and their enforcement, metering, and the offline
// licence. What every entry point asks:
//
// * CheckRun: may this clinic run this algorithm now? (at submission, and again when the
//   job starts). 402 with a precise reason: no_subscription, subscription_suspended,
//   subscription_expired, algorithm_not_in_plan, quota_exhausted, licence_expired.
// * CheckFeature: annotation, export, auto_run, api_tokens; 402 feature_not_in_plan.
//   Reading its own data is never refused; exporting it stays possible while suspended
//   and for the retention window after the end.
// * Usage: one record per run; the quota counts successful runs of the period the run
//   started in, and runs still in flight.
//
// With an offline licence (serve --licence), the licensed tenant's rights come from the
// signed file; time is the licence clock, which never goes back.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "crypto/crypto.h"
#include "licensing/licence_file.h"
#include "licensing/plan.h"
#include "licensing/subscription.h"
#include "storage/catalog.h"
#include "storage/licensing_store.h"

namespace vg::licensing {

struct LicensingOptions {
  std::int64_t past_due_grace_seconds = 14 * 86400;
  std::int64_t retention_seconds = 30 * 86400;
  std::int64_t provider_tenant_id = 0;  // the vendor's own tenant: not subject to plans
  std::optional<Licence> licence;       // offline licence, for its tenant
  // Seals the licence clock (a key derived from the master key): a high-water mark edited
  // in the catalog no longer matches its seal, and every licence check then fails. None:
  // the clock is kept unsealed (tests of the rules alone).
  std::optional<crypto::SecretKey> clock_key;
  std::string installation_id;  // this installation's (a licence names it)
};

// The licence clock, sealed with `key`: max(wall_now, the stored mark), stored again with
// its seal. kForbidden when the stored mark does not match its seal (edited by hand).
// `accept_unsealed`: a mark without a seal (from before seals existed) is sealed as it is;
// only at the start that created the installation id (the same upgrade), never after.
Result<std::int64_t> AdvanceSealedLicenceClock(storage::LicensingStore& store, const crypto::SecretKey& key,
                                               std::int64_t wall_now, bool accept_unsealed = false);

// What a run was granted under: the period it counts in, and whether it is overage.
struct RunGrant {
  std::int64_t period_start = 0;
  bool overage = false;
};

class Licensing {
 public:
  Licensing(storage::LicensingStore& store, storage::Catalog& catalog, LicensingOptions options)
      : store_(store), catalog_(catalog), options_(std::move(options)) {}

  // Plans.
  Result<Plan> SavePlan(Plan plan, const std::string& author);  // a new version
  Result<Plan> FindPlan(const std::string& name, std::optional<std::int64_t> version = std::nullopt);
  Result<std::vector<Plan>> ListPlans();

  // Subscriptions. Current() applies whatever time did since it was last stored.
  Result<std::optional<Subscription>> Current(std::int64_t tenant_id, std::int64_t now);
  Result<Subscription> Act(std::int64_t tenant_id, Action action, std::int64_t now);
  // The periodic task: every subscription brought up to `now`. Returns how many changed.
  Result<int> AdvanceAll(std::int64_t now);

  // Enforcement.
  // `running_self`: 1 when the run asking is itself in flight (a job starting).
  Result<RunGrant> CheckRun(std::int64_t tenant_id, const std::string& algorithm_id, std::int64_t now,
                            std::int64_t running_self = 0);
  Result<void> CheckFeature(std::int64_t tenant_id, const std::string& feature, std::int64_t now);
  Result<void> CheckUserLimit(std::int64_t tenant_id, std::int64_t active_users, std::int64_t now);
  // Tenants whose queued runs wait (suspended): workers do not start their jobs.
  Result<std::vector<std::int64_t>> HeldTenants(std::int64_t now);

  // Metering.
  Result<void> RecordUsage(const storage::UsageRecord& record) { return store_.PutUsage(record); }
  // Per tenant for the calendar month "YYYY-MM" (UTC) of their runs' starts.
  Result<nlohmann::json> UsageReport(std::int64_t tenant_id, const std::string& month);
  static std::string UsageCsv(const nlohmann::json& report);

  // Purging a clinic's data is allowed once its subscription ended and the retention
  // window passed; kConflict says until when otherwise.
  Result<void> CheckPurge(std::int64_t tenant_id, std::int64_t now);

  // What a clinic sees of its subscription: state, plan, quota, and the notices to show.
  Result<nlohmann::json> View(std::int64_t tenant_id, std::int64_t now);

  // Time for licence checks: the wall clock, never behind the highest time already seen.
  Result<std::int64_t> LicenceNow(std::int64_t wall_now) {
    return options_.clock_key ? AdvanceSealedLicenceClock(store_, *options_.clock_key, wall_now)
                              : store_.AdvanceLicenceClock(wall_now);
  }
  const std::optional<Licence>& licence() const { return options_.licence; }
  bool IsLicensed(std::int64_t tenant_id) const;
  std::int64_t provider_tenant_id() const { return options_.provider_tenant_id; }

 private:
  // The grants in force for a tenant now, with the period and state; nullopt: none.
  struct InForce {
    Plan plan;
    std::optional<Subscription> subscription;  // none with a licence
    std::int64_t period_start = 0, period_end = 0;
  };
  Result<InForce> Grants(std::int64_t tenant_id, std::int64_t now);

  storage::LicensingStore& store_;
  storage::Catalog& catalog_;
  LicensingOptions options_;
};

}  // namespace vg::licensing
