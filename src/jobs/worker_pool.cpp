#include "jobs/worker_pool.h"

#include <unistd.h>

#include <chrono>

#include "core/logging.h"
#include "core/strings.h"

namespace vg::jobs {
namespace {

// Progress of one running job, shared by its worker thread and its heartbeat.
class LeasedProgress final : public services::JobProgress {
 public:
  bool Report(std::int64_t done, std::int64_t total, const std::string& note) override {
    std::lock_guard lock(mutex_);
    done_ = done;
    total_ = total;
    note_ = note;
    return !stop_;
  }
  bool Cancelled() const override {
    std::lock_guard lock(mutex_);
    return stop_;
  }
  void Stop() {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  void Snapshot(std::int64_t& done, std::int64_t& total, std::string& note) const {
    std::lock_guard lock(mutex_);
    done = done_;
    total = total_;
    note = note_;
  }

 private:
  mutable std::mutex mutex_;
  std::int64_t done_ = 0, total_ = 0;
  std::string note_;
  bool stop_ = false;
};

}  // namespace

std::string DefaultWorkerName() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

WorkerPool::WorkerPool(storage::JobStore& store, std::vector<JobHandler*> handlers, WorkerOptions options)
    : store_(store), options_(std::move(options)) {
  for (JobHandler* h : handlers) handlers_[h->Kind()] = h;
  if (options_.name.empty()) options_.name = DefaultWorkerName();
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Start() {
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this, i] { Loop(i); });
}

void WorkerPool::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void WorkerPool::Notify() {
  {
    std::lock_guard lock(mutex_);
    ++notifications_;
  }
  wake_.notify_one();
}

void WorkerPool::Loop(int index) {
  const std::string worker = options_.name + "/" + std::to_string(index);
  storage::ClaimOptions claim;
  claim.worker = worker;
  claim.lease_seconds = options_.lease_seconds;
  claim.per_tenant_running_limit = options_.per_tenant_running_limit;
  for (const auto& [kind, handler] : handlers_) claim.kinds.push_back(kind);
  while (true) {
    std::uint64_t seen;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      seen = notifications_;
    }
    if (options_.held_tenants) claim.held_tenants = options_.held_tenants();
    auto job = store_.ClaimJob(claim);
    if (!job) {
      LogWarn("job_claim_failed", "\"detail\":\"" + JsonEscape(job.error().detail + job.error().public_message) + "\"");
    } else if (*job) {
      RunOne(**job, worker);
      continue;
    }
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, std::chrono::milliseconds(options_.idle_poll_ms),
                   [&] { return stopping_ || notifications_ != seen; });
  }
}

void WorkerPool::RunOne(const storage::JobRecord& job, const std::string& worker) {
  const auto started = std::chrono::steady_clock::now();
  LeasedProgress progress;
  std::mutex beat_mutex;
  std::condition_variable beat_cv;
  bool done = false;
  // The heartbeat: renews the lease, publishes progress, notices cancellation.
  std::thread heartbeat([&] {
    std::unique_lock lock(beat_mutex);
    const auto every = std::chrono::milliseconds(std::max<std::int64_t>(200, options_.lease_seconds * 1000 / 3));
    while (!beat_cv.wait_for(lock, every, [&] { return done; })) {
      std::int64_t d = 0, t = 0;
      std::string note;
      progress.Snapshot(d, t, note);
      auto cancel = store_.Heartbeat(job.id, worker, options_.lease_seconds, d, t, note);
      if (!cancel || *cancel) progress.Stop();
    }
  });
  Result<std::string> result = Fail(ErrorCode::kInternal, "the job did not run");
  auto handler = handlers_.find(job.kind);
  if (handler == handlers_.end()) {
    result = Fail(ErrorCode::kInternal, "no handler for jobs of kind " + job.kind);
  } else {
    try {
      result = handler->second->Run(job, progress);
    } catch (const std::exception& e) {
      result = Fail(ErrorCode::kInternal, "internal error while running the job", e.what());
    }
  }
  {
    std::lock_guard lock(beat_mutex);
    done = true;
  }
  beat_cv.notify_all();
  heartbeat.join();
  if (!result && result.error().reason == "held") {
    // The tenant's rights forbid starting now (suspended): back to the queue, untouched.
    // A release that fails leaves the lease to expire: the job comes back then instead.
    WarnIfFailed(store_.ReleaseJob(job.id, worker), "job_release_failed");
    LogInfo("job_held", "\"job\":" + std::to_string(job.id));
    return;
  }
  std::string state = result ? "succeeded" : "failed";
  if (progress.Cancelled()) state = "cancelled";
  const std::string error = result ? "" : (state == "cancelled" ? "cancelled" : result.error().public_message);
  if (!result && !result.error().detail.empty())
    LogWarn("job_failed", "\"job\":" + std::to_string(job.id) + ",\"detail\":\"" + JsonEscape(result.error().detail) + "\"");
  auto finished = store_.FinishJob(job.id, worker, state, result ? *result : "{}", error);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  LogInfo("job_finished", "\"job\":" + std::to_string(job.id) + ",\"kind\":\"" + JsonEscape(job.kind) + "\",\"state\":\"" +
                              (finished ? state : "lost") + "\",\"ms\":" + std::to_string(ms));
}

}  // namespace vg::jobs
