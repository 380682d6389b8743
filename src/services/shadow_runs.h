// ShadowRuns: a candidate version run beside a clinic's pinned version, for the vendor
// alone. When a pinned run ends (succeeded or failed) on a clinic whose deployment names
// a shadow version, a "shadow_run" job is queued once, at lower priority, outside the
// clinic's quota. Its labels never become a version, a SEG or anything a clinician sees:
// they are kept encrypted with the clinic's key beside the comparison with the pinned
// result (Dice and HD95 per segment, metrics side by side, failures, timings).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "dicom/volume.h"
#include "services/archive.h"
#include "storage/deployment_store.h"
#include "storage/job_store.h"
#include "storage/monitoring_store.h"

namespace vg::services {

// What the pinned run came to, as the shadow job needs it.
struct PinnedOutcome {
  std::string state;  // succeeded, failed
  std::string error;
  std::optional<std::int64_t> segmentation_id;
  nlohmann::json metrics = nlohmann::json::object();
  std::int64_t run_ms = 0;
};

struct ShadowRequest {
  std::int64_t tenant_id = 0;
  std::int64_t pinned_job_id = 0;
  std::string algorithm_id, pinned_version, shadow_version;
  std::string study_uid, series_uid;
  std::int64_t priority = 0;  // the pinned run's; the shadow's is lower
};

// The aggregate comparison of shadow runs (plain logic over their results): per segment
// label mean and median Dice, median and 95th-percentile HD95; for each metric the two
// versions' distributions; failures of each; run times.
nlohmann::json SummariseShadowRuns(const std::vector<storage::ShadowRunRecord>& runs);

class Segmentations;

class ShadowRuns {
 public:
  ShadowRuns(Archive& archive, storage::DeploymentStore& store, storage::JobStore& jobs,
             storage::MonitoringStore& monitoring, Segmentations& segmentations)
      : archive_(archive), store_(store), jobs_(jobs), monitoring_(monitoring), segmentations_(segmentations) {}
  void OnJobQueued(std::function<void()> notify) { job_queued_ = std::move(notify); }

  // Queues the shadow run of a pinned run that ended; once (a retried pinned run that
  // ends again finds it queued, or queues what an earlier attempt recorded but did not).
  Result<void> Queue(const ShadowRequest& request, const PinnedOutcome& pinned);
  // The shadow's end: its labels (none when it failed) stored with its result.
  Result<void> Finish(std::int64_t tenant_id, std::int64_t pinned_job_id, const dicom::LabelVolume* labels,
                      const nlohmann::json& result, const std::string& error);
  // A clinician corrected the pinned run's result with `correction_id`: how far each
  // version is from the correction, kept with the shadow run. Nothing to do when the
  // pinned run has no finished shadow (the shadow's end asks again: CompareWithLatestCorrection).
  Result<void> CompareWithCorrection(std::int64_t tenant_id, std::int64_t pinned_job_id, std::int64_t correction_id);
  Result<void> CompareWithLatestCorrection(std::int64_t tenant_id, std::int64_t pinned_job_id);
  // The shadow's labels (a finished, successful shadow run).
  Result<dicom::LabelVolume> Labels(const storage::ShadowRunRecord& run);
  // The vendor's view of `algorithm_id`'s shadow runs: each case, and the summary.
  // `slugs`: tenant id -> clinic slug, for display.
  Result<nlohmann::json> Comparison(const storage::ShadowRunFilter& filter, const std::map<std::int64_t, std::string>& slugs);

 private:
  Archive& archive_;
  storage::DeploymentStore& store_;
  storage::JobStore& jobs_;
  storage::MonitoringStore& monitoring_;
  Segmentations& segmentations_;
  std::function<void()> job_queued_;
};

}  // namespace vg::services
