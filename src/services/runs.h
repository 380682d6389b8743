// Runs: algorithm runs on a series, as jobs of kind "algorithm" in the durable queue.
// The version is the clinic's deployment's (services/deployments.h): its pinned version,
// or its canary's for the canary's share of series; a caller naming a version may name
// only those. The job records the version and any shadow version to run after it.
// Submitting checks what can be checked at once (the series is the tenant's, the
// algorithm exists and takes this modality and slice count); the worker checks the rest
// (spacing) and runs it (jobs/algorithm_handler.h).
#pragma once

#include <string>
#include <vector>

#include "licensing/licensing.h"
#include "services/algorithms.h"
#include "services/archive.h"
#include "services/deployments.h"
#include "storage/job_store.h"

namespace vg::services {

struct RunRequest {
  std::string algorithm, version;  // version "": what the clinic's deployment gives this series
  std::string series_uid;
  std::string author;               // who asked, or "auto-run"
  std::string trigger = "manual";   // manual, auto
  std::int64_t priority = 0;
};

class Runs {
 public:
  Runs(Archive& archive, storage::JobStore& jobs, Algorithms& algorithms, Deployments& deployments,
       licensing::Licensing& licensing)
      : archive_(archive), jobs_(jobs), algorithms_(algorithms), deployments_(deployments), licensing_(licensing) {}
  Result<storage::JobRecord> Submit(std::int64_t tenant_id, const RunRequest& request);
  Result<storage::JobRecord> Find(std::int64_t tenant_id, std::int64_t id);
  Result<std::vector<storage::JobRecord>> List(std::int64_t tenant_id, const storage::JobFilter& filter);
  Result<storage::JobRecord> Cancel(std::int64_t tenant_id, std::int64_t id) { return jobs_.CancelJob(tenant_id, id); }

 private:
  Result<storage::JobRecord> SubmitAlone(std::int64_t tenant_id, const RunRequest& request);
  Archive& archive_;
  storage::JobStore& jobs_;
  Algorithms& algorithms_;
  Deployments& deployments_;
  licensing::Licensing& licensing_;
};

}  // namespace vg::services
