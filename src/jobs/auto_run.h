// AutoRun: fires the clinics' auto-run rules ("run ct-lungs on every new CT series with at
// least 50 instances"): a series is submitted once, after no instance has arrived for
// the rule's quiet time. Runs as a thread in every serve (a cluster's nodes all scan: a
// rule fires once per series however many scanners there are, as the firing is recorded
// before the run is submitted).
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "services/runs.h"
#include "storage/algorithm_store.h"

namespace vg::jobs {

class AutoRun {
 public:
  AutoRun(storage::AlgorithmStore& store, services::Runs& runs, licensing::Licensing& licensing,
          std::function<void()> queued, int interval_ms = 2000)
      : store_(store), runs_(runs), licensing_(licensing), queued_(std::move(queued)), interval_ms_(interval_ms) {}
  ~AutoRun() { Stop(); }
  void Start();
  void Stop();
  // One pass: submits what is due now. Returns how many runs were submitted.
  int Scan(std::int64_t now);

 private:
  storage::AlgorithmStore& store_;
  services::Runs& runs_;
  licensing::Licensing& licensing_;
  std::function<void()> queued_;
  int interval_ms_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace vg::jobs
