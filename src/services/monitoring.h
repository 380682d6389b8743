// Monitoring: how the vendor's algorithm does in the clinics.
//
// * Feedback on a result (an algorithm job): accept, or reject with a reason from a fixed
//   list and free text; a correction (a segmentation version whose parent is the
//   algorithm's) gets, per segment, Dice, the volume difference and the HD95 against it,
//   computed in the background (a job of kind "correction").
// * Bug reports, from the viewer or the API, with comments both sides see, and a
//   reproduction bundle for the vendor: the exact algorithm version and manifest, the run
//   record and log, and, only where the clinic shares cases (or a support grant covers the
//   study), the input volume and the output labels (NIfTI: no patient data in them).
// * The dashboard: per algorithm version and clinic, runs per day, failures and their
//   reasons, p50/p95 durations, acceptance, mean Dice of corrections, output metric
//   distributions and a drift flag (KS test of the last 7 days against the version's first
//   30, p < 0.01), open bug reports.
// * Alerts: failure rate, queue age and drift past configured thresholds.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "services/algorithms.h"
#include "services/bundle_writer.h"
#include "services/segmentations.h"
#include "storage/job_store.h"
#include "storage/monitoring_store.h"

namespace vg::services {

inline constexpr const char* kRejectReasons[] = {"missed_structure", "wrong_structure", "boundary_error",
                                                  "wrong_side",       "artefact",        "image_unsuitable",
                                                  "other"};
inline constexpr const char* kBugSeverities[] = {"low", "medium", "high", "critical"};
inline constexpr const char* kBugStatuses[] = {"new", "triaged", "in_progress", "fixed", "wont_fix"};

struct BugReportInput {
  std::string severity, description, steps, browser, app_version;
  std::optional<std::int64_t> job_id;
  std::string screenshot_png;  // raw PNG bytes, or ""
};

struct AlertThresholds {
  double failure_rate = 0.5;         // over the last hour, per algorithm version
  std::int64_t failure_min_runs = 4;  // ... once it has at least this many runs
  std::int64_t queue_age_seconds = 600;
  bool drift = true;
};

// The drift of a version's outputs at `now`: for each numeric output metric, a two-sample
// KS test of the runs of the last 7 days against those of the version's first 30 days
// (runs in both windows count as baseline); flagged at p < 0.01, with at least
// kMinDriftSample runs on each side. Plain logic.
inline constexpr size_t kMinDriftSample = 5;
struct DriftResult {
  nlohmann::json per_metric;  // name -> {ks, p, flag, baseline_n, recent_n}
  bool flagged = false;
};
// What the dashboard and the drift test need of one run, its result read once.
struct RunSample {
  std::int64_t created_at = 0;
  bool succeeded = false;
  double duration_ms = 0;                  // its stages, when it succeeded
  std::map<std::string, double> metrics;   // its numeric output metrics
};
RunSample SampleOf(const storage::JobRecord& run);
DriftResult DetectDrift(const std::vector<const RunSample*>& runs, std::int64_t now);

class Monitoring {
 public:
  Monitoring(Archive& archive, storage::MonitoringStore& store, storage::JobStore& jobs, storage::AnnotationStore& annotations,
             Segmentations& segmentations, Volumes& volumes, Algorithms& algorithms)
      : archive_(archive),
        store_(store),
        jobs_(jobs),
        annotations_(annotations),
        segmentations_(segmentations),
        volumes_(volumes),
        algorithms_(algorithms) {}

  // Called after a background job was queued (wakes the workers).
  void OnJobQueued(std::function<void()> queued) { job_queued_ = std::move(queued); }

  // Feedback.
  Result<storage::FeedbackRecord> Verdict(std::int64_t tenant_id, std::int64_t job_id, const std::string& verdict,
                                          const std::string& reason, const std::string& comment, const std::string& author);
  // A new version was saved: when its parent is an algorithm's result, queue the comparison.
  void OnVersionCreated(std::int64_t tenant_id, const storage::SegmentationRecord& version);
  // The comparison itself (the "correction" job).
  Result<std::string> RecordCorrection(std::int64_t tenant_id, const nlohmann::json& params);
  // Called after a correction of run `job_id` is recorded (a shadow run compares itself
  // with it too). Set once, before the first correction.
  using CorrectionObserver = std::function<void(std::int64_t tenant_id, std::int64_t job_id, std::int64_t correction_id)>;
  void OnCorrectionRecorded(CorrectionObserver observer) { on_correction_ = std::move(observer); }
  nlohmann::json FeedbackJson(std::int64_t tenant_id, const storage::FeedbackRecord& record);
  Result<std::vector<nlohmann::json>> FeedbackFor(std::int64_t tenant_id, std::int64_t job_id);

  // Run records (metadata only: input facts, stages, worker, outputs' segments and
  // metrics, log tail, feedback), newest first.
  // What of a run the vendor reads when the clinic neither shares cases nor grants support:
  // no log tail (the algorithm's own output, which can carry what it read) and the error's
  // reason without the log lines appended to it.
  static void WithholdRunOutput(nlohmann::json& run);
  Result<std::vector<nlohmann::json>> RunRecords(const storage::RunFilter& filter);
  // The accept/reject log a practice keeps: one row per clinician assessment (accept,
  // reject with its reason, correction with its Dice per segment) of the runs `filter`
  // selects, with the result's version, when the result was ready and how long after it
  // the assessment came. Oldest first.
  Result<std::vector<nlohmann::json>> Assessments(const storage::RunFilter& filter);
  // The same as CSV (RFC 4180; a field that a spreadsheet would take for a formula is
  // prefixed with ').
  static std::string AssessmentsCsv(const std::vector<nlohmann::json>& rows);

  // Bug reports. `tenant_id` none: the vendor (every clinic).
  Result<storage::BugReportRecord> FileBug(std::int64_t tenant_id, const BugReportInput& input, const std::string& reporter);
  Result<nlohmann::json> BugJson(std::optional<std::int64_t> tenant_id, std::int64_t id);
  Result<std::vector<nlohmann::json>> ListBugs(std::optional<std::int64_t> tenant_id, const std::string& status);
  Result<void> SetBugStatus(std::int64_t id, const std::string& status);
  Result<void> CommentBug(std::optional<std::int64_t> tenant_id, std::int64_t id, const std::string& text,
                          const std::string& author);
  Result<std::string> BugScreenshot(std::optional<std::int64_t> tenant_id, std::int64_t id);
  // Whether the vendor may see a run's pixels: the clinic shares its cases with the
  // vendor, or an active support grant covers the run's study.
  Result<bool> VendorMaySeePixels(std::int64_t tenant_id, std::optional<std::int64_t> job_id, std::int64_t now);
  // The reproduction bundle (zip) into `sink`; `pixels_allowed` from the clinic's sharing.
  Result<void> WriteBundle(std::int64_t id, bool pixels_allowed, const BundleWriter::Sink& sink);
  Result<storage::BugReportRecord> FindBug(std::optional<std::int64_t> tenant_id, std::int64_t id) {
    return store_.FindBugReport(tenant_id, id);
  }

  // Dashboard and alerts.
  Result<nlohmann::json> Summary(std::optional<std::int64_t> tenant_id, const std::string& algorithm,
                                 const std::string& version, std::int64_t from, std::int64_t to, std::int64_t now);
  // The alerts at `now`. With `max_age_seconds`, an evaluation at most that old is answered
  // instead (it reads every run: the dashboard need not redo what the notifier just did).
  Result<nlohmann::json> Alerts(const AlertThresholds& thresholds, std::int64_t now, std::int64_t max_age_seconds = 0);
  static std::string SummaryCsv(const nlohmann::json& summary);
  // The jobs' and feedback's Prometheus metrics, from the catalog (so runs by separate
  // worker processes count too). Clinic slugs go in labels only when `tenant_labels`.
  Result<std::string> RenderMetrics(bool tenant_labels);

 private:
  Archive& archive_;
  storage::MonitoringStore& store_;
  storage::JobStore& jobs_;
  storage::AnnotationStore& annotations_;
  Segmentations& segmentations_;
  Volumes& volumes_;
  Algorithms& algorithms_;
  std::function<void()> job_queued_;
  std::mutex alerts_mutex_;
  std::optional<nlohmann::json> last_alerts_;  // the newest evaluation ("at": when)
  CorrectionObserver on_correction_;
};

}  // namespace vg::services
