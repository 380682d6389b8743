#include "jobs/auto_run.h"

#include "core/clock.h"
#include "core/logging.h"
#include "core/strings.h"

namespace vg::jobs {

int AutoRun::Scan(std::int64_t now) {
  auto candidates = store_.FindAutoRunCandidates(now, 50);
  if (!candidates) {
    LogWarn("auto_run_scan_failed", "\"detail\":\"" + JsonEscape(candidates.error().public_message) + "\"");
    return 0;
  }
  int submitted = 0;
  for (const auto& c : *candidates) {
    // A clinic whose plan does not (or no longer does) include auto-run: the rule waits.
    if (!licensing_.CheckFeature(c.rule.tenant_id, "auto_run", now)) continue;
    auto first = store_.MarkRuleFired(c.rule.id, c.series_uid, 0);
    if (!first || !*first) continue;  // fired meanwhile (another scanner)
    services::RunRequest request;
    request.algorithm = c.rule.algorithm_id;
    request.series_uid = c.series_uid;
    request.author = "auto-run";
    request.trigger = "auto";
    request.priority = -1;  // people waiting at a screen go first
    auto job = runs_.Submit(c.rule.tenant_id, request);
    if (!job) {
      LogWarn("auto_run_not_submitted", "\"rule\":" + std::to_string(c.rule.id) + ",\"reason\":\"" +
                                            JsonEscape(job.error().public_message) + "\"");
      continue;
    }
    LogInfo("auto_run_submitted", "\"rule\":" + std::to_string(c.rule.id) + ",\"job\":" + std::to_string(job->id));
    ++submitted;
  }
  if (submitted > 0 && queued_) queued_();
  return submitted;
}

void AutoRun::Start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      Scan(UnixSeconds());
      lock.lock();
      wake_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [&] { return stopping_; });
    }
  });
}

void AutoRun::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace vg::jobs
