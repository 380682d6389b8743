// Jobs of kind "result_forms": an algorithm's result also as an RT structure set and/or
// overlay images, as the clinic asks (services/result_forms.h), after the result itself.
#pragma once

#include "jobs/job_handler.h"
#include "services/result_forms.h"

namespace vg::jobs {

class ResultFormsHandler final : public JobHandler {
 public:
  explicit ResultFormsHandler(services::ResultForms& forms) : forms_(forms) {}
  std::string Kind() const override { return services::ResultForms::kJobKind; }
  Result<std::string> Run(const storage::JobRecord& job, services::JobProgress& progress) override {
    progress.Report(0, 1, "writing the result as the clinic's other forms");
    return forms_.RunJob(job.tenant_id, job.params);
  }

 private:
  services::ResultForms& forms_;
};

}  // namespace vg::jobs
