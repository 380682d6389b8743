// WorkerPool: N threads that claim jobs from the durable queue (storage::JobStore) and
// run them with the handler of their kind. While a job runs, a heartbeat renews its lease
// every lease/3 seconds and carries the latest progress; a cancellation seen at a
// heartbeat is passed to the handler through JobProgress. If this process dies, the
// lease runs out and another worker (here or in `voxelgate worker`) runs the job again.
#pragma once

#include <atomic>
#include <functional>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jobs/job_handler.h"
#include "storage/job_store.h"

namespace vg::jobs {

struct WorkerOptions {
  int workers = 1;
  std::string name;  // default: host:pid
  std::int64_t lease_seconds = 30;
  int idle_poll_ms = 500;  // how often an idle worker looks for work (Notify wakes it sooner)
  std::int64_t per_tenant_running_limit = 2;
  // Tenants whose algorithm jobs must wait (asked before each claim), e.g. suspended ones.
  std::function<std::vector<std::int64_t>()> held_tenants;
};

class WorkerPool {
 public:
  WorkerPool(storage::JobStore& store, std::vector<JobHandler*> handlers, WorkerOptions options);
  ~WorkerPool();
  void Start();
  // Stops claiming; waits for running jobs to finish.
  void Stop();
  // A job was queued: wake an idle worker.
  void Notify();

 private:
  void Loop(int index);
  void RunOne(const storage::JobRecord& job, const std::string& worker);

  storage::JobStore& store_;
  std::map<std::string, JobHandler*> handlers_;
  WorkerOptions options_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::uint64_t notifications_ = 0;
};

std::string DefaultWorkerName();

}  // namespace vg::jobs
