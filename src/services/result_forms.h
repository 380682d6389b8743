// ResultForms: an algorithm's result in the forms a clinic's PACS can show besides DICOM
// SEG (TenantSettings::results_as_rtstruct / results_as_overlay): an RT structure set
// (contours of each segment per slice) and a derived series of overlay images (outlines
// burned into the source slices). Both are stored in the archive next to the SEG, so they
// go where the SEG goes: QIDO/WADO, C-FIND/C-MOVE/C-GET to the clinic's nodes, and the
// gateway back to the PACS. UIDs are derived from the job, so a retried job finds what its
// first attempt stored instead of storing it twice.
#pragma once

#include <string>
#include <vector>

#include "services/volumes.h"
#include "dicom/seg.h"
#include "storage/annotation_store.h"

namespace vg::services {

struct ResultFormsRequest {
  std::int64_t tenant_id = 0;
  const SeriesVolume* source = nullptr;  // with voxels (the overlay draws them)
  const dicom::LabelVolume* labels = nullptr;
  std::vector<dicom::SegmentInfo> segments;
  std::string algorithm_name, algorithm_version;
  bool not_for_primary_diagnosis = false;
  // Derives the objects' UIDs: same seed, same UIDs.
  std::string uid_seed;
};

struct StoredForm {
  std::string form;  // rtstruct, overlay
  std::string series_uid;
  std::int64_t instances = 0;
  std::int64_t took_ms = 0;  // made and stored
};

class ResultForms {
 public:
  ResultForms(Archive& archive, storage::AnnotationStore& store) : archive_(archive), store_(store) {}
  // Stores the forms the clinic asked for; none asked for: nothing to do.
  Result<std::vector<StoredForm>> Store(const ResultFormsRequest& request);
  // Each form on its own (the settings not consulted).
  Result<StoredForm> StoreRtStruct(const ResultFormsRequest& request);
  Result<StoredForm> StoreOverlay(const ResultFormsRequest& request);

 private:
  Result<void> Ingest(std::int64_t tenant_id, const std::string& study_uid, std::vector<std::string> files);
  Archive& archive_;
  storage::AnnotationStore& store_;
};

}  // namespace vg::services
