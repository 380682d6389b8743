// MonitoringStore: what the vendor learns from runs: clinicians' feedback on results,
// bug reports with their comments, and the algorithm runs of every clinic for the
// dashboard (metadata only).
//
// Contract: thread-safe; per-tenant reads are scoped by tenant; free text arrives sealed
// with the clinic's key (a bug report is the clinic's, even when the vendor reads it).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "storage/catalog.h"
#include "storage/job_store.h"

namespace vg::storage {

struct FeedbackRecord {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::int64_t job_id = 0;
  std::string verdict;  // accept, reject, correct
  std::string reason;   // reject: one of a fixed list
  SealedBytes comment_sealed;
  std::string author;
  std::optional<std::int64_t> segmentation_id;  // correct: the corrected version
  std::string metrics = "[]";                   // correct: per segment Dice, volume difference, HD95
  std::int64_t created_at = 0;
};

struct BugReportRecord {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::optional<std::int64_t> job_id;
  std::string reporter, severity, status = "new";
  SealedBytes body_sealed;  // JSON {description, steps}, sealed in the report's context
  std::string browser, app_version;
  std::string screenshot_blob;  // encrypted blob, or ""
  std::int64_t created_at = 0, updated_at = 0;
};

struct BugCommentRecord {
  std::int64_t id = 0;
  std::int64_t report_id = 0;
  std::int64_t tenant_id = 0;
  std::string author, author_kind;  // clinic, vendor
  SealedBytes body_sealed;
  std::int64_t created_at = 0;
};

struct RunFilter {
  std::optional<std::int64_t> tenant_id;  // none: every clinic (the vendor's view)
  std::string algorithm, version;         // "" any
  std::int64_t from = 0, to = INT64_MAX;  // created_at
  std::int64_t limit = 10000;
};

// Finished algorithm runs of one (algorithm, version, clinic, state), for /metrics.
struct RunStatsRow {
  std::string algorithm, version, state;  // state: succeeded, failed, cancelled
  std::int64_t tenant_id = 0, count = 0;
  double seconds_sum = 0;
  std::vector<std::int64_t> at_most;  // runs that took at most each bound (cumulative buckets)
};

class MonitoringStore {
 public:
  virtual ~MonitoringStore() = default;
  virtual Result<FeedbackRecord> AddFeedback(const FeedbackRecord& record) = 0;
  virtual Result<std::vector<FeedbackRecord>> ListFeedback(std::optional<std::int64_t> tenant_id,
                                                           const std::vector<std::int64_t>& job_ids) = 0;
  // The report and its body in one transaction: the body is sealed by `seal_body` with the
  // new report's id (its sealing context names the report).
  virtual Result<BugReportRecord> AddBugReport(const BugReportRecord& record,
                                               const std::function<Result<SealedBytes>(std::int64_t id)>& seal_body) = 0;
  // With a tenant: that clinic's report only (another's is kNotFound).
  virtual Result<BugReportRecord> FindBugReport(std::optional<std::int64_t> tenant_id, std::int64_t id) = 0;
  virtual Result<std::vector<BugReportRecord>> ListBugReports(std::optional<std::int64_t> tenant_id,
                                                              const std::string& status) = 0;
  virtual Result<void> SetBugStatus(std::int64_t id, const std::string& status) = 0;
  virtual Result<BugCommentRecord> AddBugComment(const BugCommentRecord& record) = 0;
  virtual Result<std::vector<BugCommentRecord>> ListBugComments(std::int64_t report_id) = 0;
  // Algorithm jobs, newest first.
  virtual Result<std::vector<JobRecord>> ListRuns(const RunFilter& filter) = 0;
  // The oldest queued job's creation time, if any (queue age alerts), and the queue depth.
  virtual Result<std::pair<std::int64_t, std::optional<std::int64_t>>> QueueState() = 0;
  // Every finished run, grouped; a run's duration is the sum of its stages (succeeded) or
  // its start to its end (failed, cancelled).
  virtual Result<std::vector<RunStatsRow>> RunStats(const std::vector<double>& bounds_seconds) = 0;
  // Feedback per verdict, every clinic.
  virtual Result<std::vector<std::pair<std::string, std::int64_t>>> FeedbackCounts() = 0;
};

}  // namespace vg::storage
