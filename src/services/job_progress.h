// JobProgress: how a long-running use case (an export, an algorithm run) reports progress
// and learns that it should stop. Implemented by the job worker (jobs/), which turns
// reports into lease heartbeats.
#pragma once

#include <cstdint>
#include <string>

namespace vg::services {

class JobProgress {
 public:
  virtual ~JobProgress() = default;
  // Records progress. False: stop now (the job was cancelled, or this worker lost it).
  virtual bool Report(std::int64_t done, std::int64_t total, const std::string& note = {}) = 0;
  virtual bool Cancelled() const = 0;
};

}  // namespace vg::services
