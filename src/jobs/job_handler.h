// JobHandler: runs the jobs of one kind ("export", "algorithm"). The worker pool claims a
// job, calls Run on a worker thread and records the outcome: the result JSON on
// success, the error's public message on failure (shown to the user: no patient data).
// Run must be idempotent: a job whose worker died is run again from the start.
#pragma once

#include <string>

#include "core/result.h"
#include "services/job_progress.h"
#include "storage/job_store.h"

namespace vg::jobs {

class JobHandler {
 public:
  virtual ~JobHandler() = default;
  virtual std::string Kind() const = 0;
  virtual Result<std::string> Run(const storage::JobRecord& job, services::JobProgress& progress) = 0;
};

}  // namespace vg::jobs
