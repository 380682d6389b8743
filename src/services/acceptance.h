// Acceptance: a clinic's own test of an algorithm version before it relies on it. The
// clinic (or the vendor under a support grant) marks reference cases -- series whose
// segmentation version a radiologist approved -- and an acceptance run executes the
// version on each of them (a job of kind "acceptance", outside the quota, its labels
// never stored), compares each output with the reference per segment (Dice, HD95), and
// judges the result against the criteria of the version's manifest ([acceptance]: per
// segment minimum mean Dice, maximum mean HD95, maximum failure rate; minimum cases).
// The report (JSON; HTML with charts and the worst cases' pictures) is kept for ever.
// A clinic with require_acceptance gets a new version only after a run of it passed.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "services/algorithms.h"
#include "services/archive.h"
#include "services/segmentations.h"
#include "storage/annotation_store.h"
#include "storage/deployment_store.h"
#include "storage/job_store.h"

namespace vg::services {

// Plain logic: the report of an acceptance run from its cases. Each case:
//   {"series_uid", "study_uid", "state": "succeeded"|"failed", "error",
//    "labels": [{"label", "dice", "hd95_mm" (null when a side is empty), "volume_reference_ml", "volume_result_ml"}],
//    "facts": {"manufacturer", "model", "kernel", "slice_thickness_mm"}, "tags": ["..."], "run_ms"}
// The report: per segment the mean Dice and HD95 with 95 % confidence intervals (Student t,
// from 2 cases), the failure rate with its Wilson interval, each criterion checked; the
// same per subgroup (manufacturer, model, kernel, slice thickness, each tag); passed, and
// the reasons when not.
nlohmann::json EvaluateAcceptance(const AlgorithmManifest& manifest, const std::vector<nlohmann::json>& cases);

// The report as a page people read: criteria, charts (inline SVG), subgroups, the worst
// cases with their pictures (PNG bytes by series UID; none when the reader may not see
// pixels). Every text from outside is escaped.
std::string AcceptanceReportHtml(const nlohmann::json& report, const std::map<std::string, std::string>& pictures);

// Two-sided 95 % intervals: the mean's (Student t) and a proportion's (Wilson).
std::optional<std::pair<double, double>> MeanInterval95(const std::vector<double>& values);
std::pair<double, double> WilsonInterval95(std::int64_t events, std::int64_t n);

class Acceptance {
 public:
  Acceptance(Archive& archive, storage::DeploymentStore& store, storage::JobStore& jobs,
             storage::AnnotationStore& annotations, Segmentations& segmentations, Algorithms& algorithms)
      : archive_(archive), store_(store), jobs_(jobs), annotations_(annotations), segmentations_(segmentations),
        algorithms_(algorithms) {}
  void OnJobQueued(std::function<void()> notify) { job_queued_ = std::move(notify); }

  // Marks `series_uid` with one of its segmentation versions as the reference.
  Result<storage::ReferenceCaseRecord> MarkReference(std::int64_t tenant_id, const std::string& series_uid,
                                                     std::int64_t segmentation_id, const std::string& by);
  Result<void> UnmarkReference(std::int64_t tenant_id, const std::string& series_uid) {
    return store_.RemoveReferenceCase(tenant_id, series_uid);
  }
  Result<std::vector<storage::ReferenceCaseRecord>> References(std::int64_t tenant_id) {
    return store_.ListReferenceCases(tenant_id);
  }

  // Queues a run of `version` on every reference case of the clinic. kConflict when the
  // manifest states no criteria or the clinic has no reference case.
  Result<storage::AcceptanceRunRecord> Start(std::int64_t tenant_id, const std::string& algorithm_id,
                                             const std::string& version, const std::string& by);
  Result<storage::AcceptanceRunRecord> Find(std::int64_t tenant_id, std::int64_t id);
  // The run's end: the report from its cases, the worst cases' pictures sealed.
  Result<storage::AcceptanceRunRecord> Finish(std::int64_t tenant_id, std::int64_t id, const std::vector<nlohmann::json>& cases,
                                              const std::map<std::string, std::string>& pictures, const std::string& error);
  // The pictures of a finished run (series UID -> PNG).
  Result<std::map<std::string, std::string>> Pictures(const storage::AcceptanceRunRecord& run);
  // A run that yielded to the clinics keeps the cases it finished (and their pictures),
  // and resumes from there.
  Result<void> SaveProgress(std::int64_t tenant_id, std::int64_t id, const std::vector<nlohmann::json>& cases,
                            const std::map<std::string, std::string>& pictures);
  Result<std::vector<nlohmann::json>> CasesSoFar(const storage::AcceptanceRunRecord& run);

  // The deployments' gate: refuses `version` at a clinic that requires acceptance and has
  // no passed run of it (kConflict, reason "acceptance_required").
  Result<void> Gate(std::int64_t tenant_id, const std::string& algorithm_id, const std::string& version);

  static constexpr const char* kJobKind = "acceptance";
  // An acceptance run executes the version on every reference case, one after the other.
  static constexpr std::size_t kMaxReferenceCases = 500;

 private:
  Archive& archive_;
  storage::DeploymentStore& store_;
  storage::JobStore& jobs_;
  storage::AnnotationStore& annotations_;
  Segmentations& segmentations_;
  Algorithms& algorithms_;
  Result<std::vector<std::uint8_t>> SealPictures(std::int64_t tenant_id, std::int64_t id,
                                                 const std::map<std::string, std::string>& pictures);
  std::function<void()> job_queued_;
};

nlohmann::json AcceptanceRunJson(const storage::AcceptanceRunRecord& run, bool with_report);

}  // namespace vg::services
