// Jobs of kind "correction": when a clinician saves a version over an algorithm's result,
// the per-segment agreement (Dice, volume difference, HD95) is computed off the request
// path and kept with the run (services/monitoring.h).
#pragma once

#include <nlohmann/json.hpp>

#include "jobs/job_handler.h"
#include "services/monitoring.h"

namespace vg::jobs {

class CorrectionHandler final : public JobHandler {
 public:
  explicit CorrectionHandler(services::Monitoring& monitoring) : monitoring_(monitoring) {}
  std::string Kind() const override { return "correction"; }
  Result<std::string> Run(const storage::JobRecord& job, services::JobProgress& progress) override {
    progress.Report(0, 1, "comparing the correction with the algorithm's result");
    return monitoring_.RecordCorrection(job.tenant_id, nlohmann::json::parse(job.params, nullptr, false));
  }

 private:
  services::Monitoring& monitoring_;
};

}  // namespace vg::jobs
