// Jobs of kind "export": training-set bundles (services/exports.h).
#pragma once

#include "jobs/job_handler.h"
#include "services/exports.h"

namespace vg::jobs {

class ExportHandler final : public JobHandler {
 public:
  explicit ExportHandler(services::Exports& exports) : exports_(exports) {}
  std::string Kind() const override { return "export"; }
  Result<std::string> Run(const storage::JobRecord& job, services::JobProgress& progress) override {
    return exports_.Run(job, progress);
  }

 private:
  services::Exports& exports_;
};

}  // namespace vg::jobs
