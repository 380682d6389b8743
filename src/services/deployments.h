// Deployments: which version of each algorithm each clinic runs, and the vendor's release
// process on it: promote (at once, as a canary taking a share of the clinic's runs, or
// scheduled so the clinic is told first), roll back, run a candidate in the shadow of the
// pinned version. Every change is an event: audited, shown to the clinic with its date,
// and delivered to the webhook.
//
// A clinic is pinned to the vendor's default version the first time anything asks what it
// runs; later default changes never move a pinned clinic (SetDefault pins every clinic
// still unpinned to the old default first). Runs already queued or running keep the
// version they were submitted with.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/result.h"
#include "storage/algorithm_store.h"
#include "storage/catalog.h"
#include "storage/deployment_store.h"

namespace vg::services {

// One clinic's deployment of one algorithm. Plain data.
struct Deployment {
  std::string pinned;                // the version the clinic's runs use
  std::vector<std::string> earlier;  // the versions pinned before, oldest first (rollback goes to the last)
  struct Canary {
    std::string version;
    int percent = 0;  // 1-99: that share of the clinic's series run on `version`
  };
  std::optional<Canary> canary;
  std::string shadow;  // "" none: a version run beside each pinned run, never shown to clinicians
  struct Scheduled {
    std::string version;
    int percent = 100;  // 100: promoted; less: as a canary
    std::int64_t at = 0;
    std::string actor, reason;
  };
  std::optional<Scheduled> scheduled;
};

std::string DeploymentToJson(const Deployment& d);
Result<Deployment> DeploymentFromJson(const std::string& json);
nlohmann::json DeploymentView(const Deployment& d);  // the API's shape

enum class DeploymentActionKind { kPromote, kRollback, kShadow, kEndShadow };
std::optional<DeploymentActionKind> DeploymentActionFromName(std::string_view name);  // promote, rollback, shadow, end-shadow

struct DeploymentAction {
  DeploymentActionKind kind = DeploymentActionKind::kPromote;
  std::string version;           // promote, shadow
  int percent = 100;             // promote: 100 at once, 1-99 as a canary
  std::int64_t effective_at = 0; // promote: later than now schedules it
  std::string reason;
};

// A change and the events that record it (action, from, to, detail).
struct DeploymentChange {
  Deployment next;
  std::vector<storage::DeploymentEventRecord> events;
};

// The next deployment, or kConflict / kInvalidArgument saying why the action does not
// apply (promoting the version already pinned, nothing to roll back, a bad share).
// Versions are not checked against the registry here.
Result<DeploymentChange> ApplyDeploymentAction(const Deployment& current, const DeploymentAction& action,
                                               const std::string& actor, std::int64_t now);
// What time does: a scheduled promotion whose time came, applied (nullopt: nothing to do).
std::optional<DeploymentChange> AdvanceDeployment(const Deployment& current, std::int64_t now);
// The version a run on `series_uid` uses: the canary's for its share of series (the same
// series always lands on the same side), else the pinned one.
std::string VersionForRun(const Deployment& d, const std::string& algorithm_id, const std::string& series_uid);

class Deployments {
 public:
  Deployments(storage::DeploymentStore& store, storage::AlgorithmStore& algorithms, storage::Catalog& catalog)
      : store_(store), algorithms_(algorithms), catalog_(catalog) {}

  // Asked before a promotion takes a clinic to a version (its acceptance rules); an error
  // refuses the promotion with that reason.
  using PromotionGate = std::function<Result<void>(std::int64_t tenant_id, const std::string& algorithm_id,
                                                   const std::string& version)>;
  void SetPromotionGate(PromotionGate gate) { gate_ = std::move(gate); }

  // The clinic's deployment brought to `now` (pinned to the default on first use, a
  // scheduled change whose time came applied and recorded).
  Result<Deployment> Current(std::int64_t tenant_id, const std::string& algorithm_id, std::int64_t now);
  // The vendor's action on one clinic: the versions named must be registered and enabled.
  Result<Deployment> Act(std::int64_t tenant_id, const std::string& algorithm_id, const DeploymentAction& action,
                         const std::string& actor, std::int64_t now);
  // The vendor's new default for clinics not yet pinned; every clinic without a pin is
  // pinned to the old default first.
  Result<void> SetDefault(const std::string& algorithm_id, const std::string& version, const std::string& actor,
                          std::int64_t now);

  struct RunVersions {
    std::string version;  // what the run uses
    std::string shadow;   // "" none
    bool canary = false;
  };
  // What a run of the clinic on `series_uid` uses. `asked`: a version the caller named
  // ("" none): it must be the pinned or the canary version (kForbidden otherwise).
  Result<RunVersions> ForRun(std::int64_t tenant_id, const std::string& algorithm_id, const std::string& series_uid,
                             const std::string& asked, std::int64_t now);

  // Every clinic (not the vendor's own tenant) with its deployment of `algorithm_id`.
  Result<std::vector<std::pair<storage::TenantRecord, Deployment>>> AllClinics(const std::string& algorithm_id,
                                                                                std::int64_t provider_tenant_id,
                                                                                std::int64_t now);
  Result<std::vector<storage::DeploymentEventRecord>> History(std::optional<std::int64_t> tenant_id,
                                                              const std::string& algorithm_id, std::int64_t limit) {
    return store_.ListDeploymentEvents(tenant_id, algorithm_id, limit);
  }
  // Every scheduled change whose time came, applied. Returns how many.
  Result<int> AdvanceAll(std::int64_t now);
  // Delivers the events not yet delivered (oldest first) as JSON bodies; stops at the
  // first that cannot be delivered (tried again next time). Returns how many went out.
  using Deliver = std::function<Result<void>(const std::string& body)>;
  Result<int> Notify(const Deliver& deliver, std::int64_t now);

  storage::DeploymentStore& store() { return store_; }

 private:
  // Reads, computes and stores a change until no other change interleaves.
  Result<Deployment> Change(std::int64_t tenant_id, const std::string& algorithm_id, std::int64_t now,
                            const std::function<Result<std::optional<DeploymentChange>>(const Deployment&)>& decide);
  Result<void> CheckVersion(const std::string& algorithm_id, const std::string& version);

  storage::DeploymentStore& store_;
  storage::AlgorithmStore& algorithms_;
  storage::Catalog& catalog_;
  PromotionGate gate_;
};

// An event as the API and the webhook show it.
nlohmann::json DeploymentEventJson(const storage::DeploymentEventRecord& e, const std::string& clinic_slug);

}  // namespace vg::services
