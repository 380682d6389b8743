// Jobs of kind "algorithm": fetch the series as a volume (decrypted, in memory or in a
// private job folder), run the algorithm (built-in, or a process in the sandbox under
// docs/algorithm-contract.md), and store its labels as a SEG series in the source study
// (marked AUTOMATIC with the algorithm's name and version), with the metrics.
//
// Idempotent: the SEG's UIDs derive from the job, and a job that finds its own
// segmentation (made before its worker died) returns it instead of making another.
//
// A run whose job names a shadow version queues that version's shadow run as it ends
// (services/shadow_runs.h); jobs of kind "shadow_run" (ShadowRunHandler) run it the same
// way and keep its labels apart, compared with the pinned run's.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobs/job_handler.h"
#include "jobs/yield_to_clinics.h"
#include "licensing/licensing.h"
#include "services/algorithms.h"
#include "services/result_forms.h"
#include "services/segmentations.h"
#include "services/shadow_runs.h"
#include "services/volumes.h"

namespace vg::jobs {

// This process's folder for job folders under `base`, made (and locked for the process's
// life) on the first call; that call also removes every folder under `base` whose process
// has ended, a crash or kill -9 included, with the decrypted inputs in it. The same
// folder on every later call.
Result<std::string> ProcessScratchFolder(const std::string& base);

// What an algorithm gave back: labels on the input's grid, metrics, warnings, its log.
struct AlgorithmOutput {
  dicom::LabelVolume labels;
  nlohmann::json metrics = nlohmann::json::object();
  std::vector<std::string> warnings;
  std::string log;
};

class AlgorithmHandler final : public JobHandler {
 public:
  // `scratch_dir`: where job folders are made (mode 0700, wiped after each run, and what
  // a dead process left wiped as this one starts).
  AlgorithmHandler(services::Archive& archive, services::Algorithms& algorithms, services::Volumes& volumes,
                   services::Segmentations& segmentations, storage::AnnotationStore& annotations,
                   licensing::Licensing& licensing, services::ResultForms& result_forms, services::ShadowRuns& shadow_runs,
                   storage::JobStore& jobs, std::string scratch_dir)
      : archive_(archive),
        algorithms_(algorithms),
        volumes_(volumes),
        segmentations_(segmentations),
        annotations_(annotations),
        licensing_(licensing),
        result_forms_(result_forms),
        shadow_runs_(shadow_runs),
        jobs_(jobs),
        scratch_dir_(std::move(scratch_dir)) {
    (void)ProcessScratchFolder(scratch_dir_);  // the sweep; a failure surfaces with the first run
  }
  std::string Kind() const override { return "algorithm"; }
  // Checks the clinic's rights again as the run starts (a suspended clinic's job is held:
  // Error reason "held"), runs it, and leaves a usage record whatever the outcome.
  Result<std::string> Run(const storage::JobRecord& job, services::JobProgress& progress) override;
  // A job of kind "shadow_run": the shadow version on the pinned run's series, its labels
  // and comparison recorded with the shadow run (whether it succeeds or fails).
  Result<std::string> RunShadow(const storage::JobRecord& job, services::JobProgress& progress);
  // Runs the algorithm (built in, or the vendor's process in the sandbox) on `source`;
  // `params` of the job: "series_uid", "parameters". Also for acceptance runs.
  // `stop`: also stop when it answers true (background work yielding to the clinics).
  Result<AlgorithmOutput> Execute(const storage::JobRecord& job, const nlohmann::json& params,
                                  const services::AlgorithmManifest& manifest, const services::SeriesVolume& source,
                                  nlohmann::json& timings, services::JobProgress& progress,
                                  const std::function<bool()>& stop = {});
  storage::JobStore& jobs() { return jobs_; }

 private:
  // After a pinned run ended: its shadow run queued, when the job names a shadow version.
  void QueueShadow(const storage::JobRecord& job, const nlohmann::json& params, const Result<std::string>& result);
  Result<std::string> RunGranted(const storage::JobRecord& job, services::JobProgress& progress,
                                 storage::UsageRecord& usage);
  services::Archive& archive_;
  services::Algorithms& algorithms_;
  services::Volumes& volumes_;
  services::Segmentations& segmentations_;
  storage::AnnotationStore& annotations_;
  licensing::Licensing& licensing_;
  services::ResultForms& result_forms_;
  services::ShadowRuns& shadow_runs_;
  storage::JobStore& jobs_;
  std::string scratch_dir_;
};

class ShadowRunHandler final : public JobHandler {
 public:
  explicit ShadowRunHandler(AlgorithmHandler& algorithms) : algorithms_(algorithms) {}
  std::string Kind() const override { return "shadow_run"; }
  Result<std::string> Run(const storage::JobRecord& job, services::JobProgress& progress) override {
    return algorithms_.RunShadow(job, progress);
  }

 private:
  AlgorithmHandler& algorithms_;
};

// The measurement report a run's metrics make under its manifest's [[output.measurements]]
// (ResultForms::ReportJson), null when they make none. Plain logic.
nlohmann::json MeasurementReportOf(const services::AlgorithmManifest& manifest, const nlohmann::json& metrics);

// The SEG UIDs of a job: 2.25 and 128 bits keyed with the clinic's key over the tenant,
// job and part (services::ClinicDerivedUid): a retry derives them again; nobody can
// predict them and store a forged SEG under them first.
Result<std::string> JobUid(services::Archive& archive, std::int64_t tenant_id, std::int64_t job_id, std::string_view part);

}  // namespace vg::jobs
