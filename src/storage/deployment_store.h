// DeploymentStore: which version of each algorithm each clinic runs (its deployment, as
// JSON that services/deployments.h reads and writes), every change to it, and the shadow
// runs that compare a candidate version with the clinic's own runs.
//
// Contract: thread-safe; shared by every node of a cluster. A deployment changes only by
// compare-and-swap (ReplaceDeployment), with its events in the same transaction, so two
// vendor admins (or nodes) never both apply a change to the same state. Events are never
// changed, except to record their delivery to the webhook. A shadow run is made at most
// once per pinned run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace vg::storage {

struct DeploymentRecord {
  std::int64_t tenant_id = 0;
  std::string algorithm_id;
  std::string state_json;
  std::int64_t updated_at = 0;
};

struct DeploymentEventRecord {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::string algorithm_id;
  std::string action;  // pinned, promoted, canary, scheduled, rolled_back, ...
  std::string from_version, to_version;
  std::string detail_json = "{}";
  std::string actor;
  std::int64_t changed_at = 0;
  std::optional<std::int64_t> notified_at;
};

struct ShadowRunRecord {
  std::int64_t tenant_id = 0;
  std::int64_t pinned_job_id = 0;
  std::optional<std::int64_t> shadow_job_id;  // none until queued
  std::string algorithm_id, pinned_version, shadow_version, series_uid;
  std::string state = "queued";  // queued, succeeded, failed
  std::string labels_blob;       // the shadow's labels (encrypted .nii.gz); "" until it succeeds
  std::string result_json = "{}";  // metrics, timings, the comparison with the pinned run
  std::string error;
  // Where a clinician corrected the pinned result: each version's agreement with the correction.
  std::string correction_json = "{}";
  std::int64_t created_at = 0;
  std::optional<std::int64_t> finished_at;
};

// A series the clinic vouches for: its segmentation version a radiologist approved is the
// reference an acceptance run compares a version's output with.
struct ReferenceCaseRecord {
  std::int64_t tenant_id = 0;
  std::string series_uid, study_uid;
  std::int64_t segmentation_id = 0;
  std::string marked_by;
  std::int64_t marked_at = 0;
};

struct AcceptanceRunRecord {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::string algorithm_id, version;
  std::optional<std::int64_t> job_id;
  std::string state = "queued";  // queued, passed, failed (the criteria), error (could not run)
  std::optional<bool> passed;
  std::string report_json = "{}";
  std::vector<std::uint8_t> pictures_sealed;  // the worst cases' pictures, sealed with the clinic's key
  std::string created_by;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> finished_at;
};

struct ShadowRunFilter {
  std::string algorithm_id;
  std::string shadow_version;            // "" any
  std::optional<std::int64_t> tenant_id;  // none: every clinic
  std::int64_t limit = 500;
};

class DeploymentStore {
 public:
  virtual ~DeploymentStore() = default;
  virtual Result<std::optional<DeploymentRecord>> FindDeployment(std::int64_t tenant_id, const std::string& algorithm_id) = 0;
  // Every deployment of `algorithm_id` ("" every algorithm), of one clinic or of all.
  virtual Result<std::vector<DeploymentRecord>> ListDeployments(std::optional<std::int64_t> tenant_id,
                                                                const std::string& algorithm_id) = 0;
  // Stores `record` where the stored state is still `expected` (nullopt: there is none
  // yet), with `events`, in one transaction. False when another change came first (the
  // caller reads again and decides again).
  virtual Result<bool> ReplaceDeployment(const std::optional<std::string>& expected, const DeploymentRecord& record,
                                         const std::vector<DeploymentEventRecord>& events) = 0;
  // Newest first; `tenant_id` none: every clinic; `algorithm_id` "": every algorithm.
  virtual Result<std::vector<DeploymentEventRecord>> ListDeploymentEvents(std::optional<std::int64_t> tenant_id,
                                                                          const std::string& algorithm_id,
                                                                          std::int64_t limit) = 0;
  // Events not yet delivered to the webhook, oldest first.
  virtual Result<std::vector<DeploymentEventRecord>> DeploymentEventsToNotify(std::int64_t limit) = 0;
  virtual Result<void> MarkDeploymentEventNotified(std::int64_t id, std::int64_t at) = 0;

  // The shadow run of a pinned run: made when absent (true), else left as it is (false).
  virtual Result<bool> AddShadowRun(const ShadowRunRecord& record) = 0;
  virtual Result<void> SetShadowJob(std::int64_t tenant_id, std::int64_t pinned_job_id, std::int64_t shadow_job_id) = 0;
  virtual Result<void> FinishShadowRun(const ShadowRunRecord& record) = 0;  // state, labels, result, error, finished_at
  virtual Result<void> SetShadowCorrection(std::int64_t tenant_id, std::int64_t pinned_job_id,
                                           const std::string& correction_json) = 0;
  virtual Result<std::optional<ShadowRunRecord>> FindShadowRun(std::int64_t tenant_id, std::int64_t pinned_job_id) = 0;
  // Newest first.
  virtual Result<std::vector<ShadowRunRecord>> ListShadowRuns(const ShadowRunFilter& filter) = 0;

  // Reference cases: one per series (marking again replaces).
  virtual Result<void> PutReferenceCase(const ReferenceCaseRecord& record) = 0;
  virtual Result<void> RemoveReferenceCase(std::int64_t tenant_id, const std::string& series_uid) = 0;  // kNotFound
  virtual Result<std::vector<ReferenceCaseRecord>> ListReferenceCases(std::int64_t tenant_id) = 0;
  // Acceptance runs: kept for ever (a clinic's record of what it accepted).
  virtual Result<AcceptanceRunRecord> AddAcceptanceRun(const AcceptanceRunRecord& record) = 0;  // with its id
  virtual Result<void> SetAcceptanceJob(std::int64_t tenant_id, std::int64_t id, std::int64_t job_id) = 0;
  virtual Result<void> FinishAcceptanceRun(const AcceptanceRunRecord& record) = 0;  // state, passed, report, pictures, finished_at
  virtual Result<std::optional<AcceptanceRunRecord>> FindAcceptanceRun(std::int64_t tenant_id, std::int64_t id) = 0;
  // Newest first; `tenant_id` none: every clinic; `algorithm_id`/`version` "": any.
  virtual Result<std::vector<AcceptanceRunRecord>> ListAcceptanceRuns(std::optional<std::int64_t> tenant_id,
                                                                      const std::string& algorithm_id,
                                                                      const std::string& version, std::int64_t limit) = 0;
};

}  // namespace vg::storage
