// Background work (shadow runs, acceptance runs) yields to the clinics: it is not claimed
// while a clinic run waits or runs (storage::ClaimOptions::background_kinds), and once
// running it stops when one arrives -- the job goes back to the queue (Error reason
// "held": the attempt does not count) and starts again, or resumes, when the clinics are
// served. YieldToClinics asks the store at most every 250 ms.
#pragma once

#include <chrono>

#include "core/result.h"
#include "storage/job_store.h"

namespace vg::jobs {

class YieldToClinics {
 public:
  explicit YieldToClinics(storage::JobStore& jobs) : jobs_(jobs) {}
  // True (and remembered) once a clinic run is queued or running.
  bool operator()() {
    if (fired_) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(250)) return false;
    last_ = now;
    auto pending = jobs_.ForegroundWorkPending();
    fired_ = pending && *pending;
    return fired_;
  }
  bool fired() const { return fired_; }
  // The error that hands the job back to the queue.
  static Error Held() { return Error{ErrorCode::kUnavailable, "yielding to the clinics' runs", "", "held"}; }

 private:
  storage::JobStore& jobs_;
  std::chrono::steady_clock::time_point last_{};
  bool fired_ = false;
};

}  // namespace vg::jobs
