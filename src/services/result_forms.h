// ResultForms: an algorithm's result in the forms a clinic's PACS can show besides DICOM
// SEG: always, when the algorithm's manifest maps metrics to coded measurements, a TID 1500
// measurement report (Enhanced SR, dicom/measurement_report.h) on the SEG's segments; and
// where the clinic asks (TenantSettings::results_as_rtstruct / results_as_overlay) an RT
// structure set (contours of each segment per slice) and a derived series of overlay
// images (outlines burned into the source slices). Both are stored in the archive next to the SEG, so they
// go where the SEG goes: QIDO/WADO, C-FIND/C-MOVE/C-GET to the clinic's nodes, and the
// gateway back to the PACS.
//
// They are made by a job of their own ("result_forms"), queued when the result's version
// is recorded: the result is there for the clinician the moment the algorithm ends, and
// the forms follow, durable and retried like any job. UIDs derive from the version, so a
// retried job finds what its first attempt stored instead of storing it twice.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dicom/measurement_report.h"
#include "dicom/seg.h"
#include "services/segmentations.h"
#include "services/volumes.h"
#include "storage/annotation_store.h"
#include "storage/job_store.h"

namespace vg::services {

struct ResultFormsRequest {
  std::int64_t tenant_id = 0;
  const SeriesVolume* source = nullptr;  // with voxels (the overlay draws them); none for the report alone
  std::string source_image;             // any image of the source series (Part 10)
  std::string source_study_uid, source_series_uid;
  const dicom::LabelVolume* labels = nullptr;
  std::vector<dicom::SegmentInfo> segments;
  std::string algorithm_name, algorithm_version, algorithm_manufacturer;
  bool not_for_primary_diagnosis = false;
  std::string seg_sop_uid, seg_series_uid;  // the result's SEG, which the report refers to
  std::vector<dicom::ReportedMeasurement> measurements;  // none: no report
  // Derives the objects' UIDs: same seed, same UIDs.
  std::string uid_seed;
};

struct StoredForm {
  std::string form;  // sr, rtstruct, overlay
  std::string series_uid;
  std::int64_t instances = 0;
  std::int64_t took_ms = 0;  // made and stored
};

class ResultForms {
 public:
  ResultForms(Archive& archive, storage::AnnotationStore& store, storage::JobStore& jobs, Volumes& volumes,
              Segmentations& segmentations)
      : archive_(archive), store_(store), jobs_(jobs), volumes_(volumes), segmentations_(segmentations) {}

  // Queues the forms of an algorithm's version: its measurement report when `report` holds
  // measurements (ReportJson), and what the clinic asks for. The job's id, or nullopt
  // when there is nothing to make.
  Result<std::optional<std::int64_t>> Enqueue(std::int64_t tenant_id, std::int64_t segmentation_id,
                                              bool not_for_primary_diagnosis, const std::string& created_by,
                                              const nlohmann::json& report = nullptr);
  // Called after a job is queued (wakes the workers). Set once, before the first Enqueue.
  void OnJobQueued(std::function<void()> queued) { job_queued_ = std::move(queued); }
  // The job: the forms the clinic asks for now, of the version its parameters name.
  // Returns the job's result JSON ({"segmentation_id", "forms": [...]}).
  Result<std::string> RunJob(std::int64_t tenant_id, const std::string& params_json);
  // The stored forms' job, as the run that queued it names it.
  Result<storage::JobRecord> FindJob(std::int64_t tenant_id, std::int64_t job_id);

  // The forms the clinic asks for, of labels at hand; each on its own (settings not consulted).
  Result<std::vector<StoredForm>> Store(const ResultFormsRequest& request);
  Result<StoredForm> StoreRtStruct(const ResultFormsRequest& request);
  Result<StoredForm> StoreOverlay(const ResultFormsRequest& request);
  Result<StoredForm> StoreReport(const ResultFormsRequest& request);

  static constexpr const char* kJobKind = "result_forms";
  // A measurement report's content as a job carries it: the algorithm (manufacturer, name,
  // version) and each measurement. Plain logic, both ways.
  static nlohmann::json ReportJson(const dicom::ProcessingAlgorithm& algorithm,
                                   const std::vector<dicom::ReportedMeasurement>& measurements);
  static Result<std::pair<dicom::ProcessingAlgorithm, std::vector<dicom::ReportedMeasurement>>> ReportFromJson(
      const nlohmann::json& json);
  // The forms' UIDs of a version of the clinic derive from this seed (keyed: unpredictable).
  Result<std::string> UidSeed(std::int64_t tenant_id, std::int64_t segmentation_id);
  // The report's SOP Instance UID for a version of the clinic.
  Result<std::string> ReportSopUid(std::int64_t tenant_id, std::int64_t segmentation_id);
  // The measurement report stored for an algorithm's version, read back from the archive
  // (nullopt: none, or not yet).
  Result<std::optional<dicom::ReadReport>> Report(std::int64_t tenant_id, const storage::SegmentationRecord& record);

 private:
  Result<void> Ingest(std::int64_t tenant_id, const std::string& study_uid, std::vector<std::string> files);
  Archive& archive_;
  storage::AnnotationStore& store_;
  storage::JobStore& jobs_;
  Volumes& volumes_;
  Segmentations& segmentations_;
  std::function<void()> job_queued_;
};

}  // namespace vg::services
