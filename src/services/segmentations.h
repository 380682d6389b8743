// Segmentations: versions of label volumes on a source series. Creating one writes a
// BINARY DICOM SEG into the source study (through the same ingest as every instance, so
// QIDO, WADO and C-FIND see it), keeps the labels as an encrypted NIfTI blob for fast
// reads, and records the version. Versions are never changed once made.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "dicom/seg.h"
#include "services/volumes.h"
#include "storage/annotation_store.h"

namespace vg::services {

struct NewSegmentation {
  std::string source_series_uid;
  std::vector<dicom::SegmentInfo> segments;  // may be empty for a SEG upload (its own are used)
  std::optional<std::int64_t> parent_id;
  std::string comment;
  std::string author;             // username
  std::string source = "manual";  // or algorithm
  std::string algorithm_name, algorithm_version;
  std::string algorithm_manufacturer;  // an algorithm's: named in the SEG's Contributing Equipment
  std::optional<std::int64_t> job_id;
  // Fixed UIDs for the SEG (an algorithm job derives them from its id): when that SEG is
  // in the archive already (a retried job stored it before it died), it is reused.
  std::string seg_series_uid, seg_sop_uid;
  // The labels, one of: raw bytes on the source grid (gzip allowed), a NIfTI file, a
  // DICOM SEG, or a volume already built.
  std::optional<std::string> raw_labels, nifti, seg;
  std::optional<dicom::LabelVolume> labels;
  // The source series, when the caller has assembled it already (saves reading it again).
  std::optional<SeriesVolume> assembled_source;
  // An imported SEG or RTSTRUCT (source "imported"): its labels as layers on the source
  // grid (segments that overlap in different layers, SegmentInfo::layer saying which), and
  // what it says it is. seg_series_uid / seg_sop_uid name the stored object itself.
  std::optional<std::vector<dicom::LabelVolume>> layers;
  std::string origin_format, origin_manufacturer, origin_software, origin_description;
};

struct SegmentationView {
  storage::SegmentationRecord record;
  std::string comment;  // opened
};

class Segmentations {
 public:
  Segmentations(Archive& archive, storage::AnnotationStore& store, Volumes& volumes)
      : archive_(archive), store_(store), volumes_(volumes) {}

  Result<SegmentationView> Create(std::int64_t tenant_id, NewSegmentation request);
  // Called after each version is recorded (monitoring compares corrections with the
  // algorithm's result). Set once, before the first Create.
  using CreatedObserver = std::function<void(std::int64_t tenant_id, const storage::SegmentationRecord&)>;
  void OnCreated(CreatedObserver observer) { on_created_ = std::move(observer); }
  Result<SegmentationView> Find(std::int64_t tenant_id, std::int64_t id);
  Result<std::vector<SegmentationView>> List(std::int64_t tenant_id, const std::string& study_uid,
                                             const std::optional<std::string>& series_uid);
  // The labels on the source grid (a layered version flattened: later layers win).
  Result<dicom::LabelVolume> Labels(std::int64_t tenant_id, const storage::SegmentationRecord& record);
  // Every layer of the labels (one unless an imported SEG's segments overlap).
  Result<std::vector<dicom::LabelVolume>> Layers(std::int64_t tenant_id, const storage::SegmentationRecord& record);
  // The stored .nii.gz of the labels (4-D when the version has layers).
  Result<std::string> LabelsNifti(std::int64_t tenant_id, const storage::SegmentationRecord& record);
  // What the importer did with a SEG or RTSTRUCT instance of the clinic (none yet: nullopt).
  Result<std::optional<storage::SegmentationImportRecord>> ImportOf(std::int64_t tenant_id, const std::string& sop_uid) {
    return store_.FindImport(tenant_id, sop_uid);
  }
  // The study of a stored instance of the clinic (nullopt: none under that UID).
  Result<std::optional<std::string>> StudyOfInstance(std::int64_t tenant_id, const std::string& sop_uid);
  // The SEG instance as stored in the archive (an imported RTSTRUCT's version: the RTSTRUCT).
  Result<std::string> SegFile(std::int64_t tenant_id, const storage::SegmentationRecord& record);

 private:
  Result<dicom::LabelVolume> LabelsOf(NewSegmentation& request, const SeriesVolume& source,
                                      std::vector<dicom::SegmentInfo>& segments);
  Result<SegmentationView> View(std::int64_t tenant_id, storage::SegmentationRecord record);

  Archive& archive_;
  storage::AnnotationStore& store_;
  Volumes& volumes_;
  CreatedObserver on_created_;
};

// The segments of a version as stored (JSON), and back. Plain logic.
// `with_layers`: each segment names its layer (a version of more than one).
std::string SegmentsToJson(const std::vector<dicom::SegmentInfo>& segments, bool with_layers = false);
std::vector<dicom::SegmentInfo> SegmentsFromJson(const std::string& json);
// A segment from the API's JSON ({label, name, colour, category, type}); defaults fill
// what is missing. kInvalidArgument names the bad field.
Result<dicom::SegmentInfo> SegmentFromApiJson(const nlohmann::json& json);
std::string ColourHex(const std::array<std::uint8_t, 3>& rgb);
// A coded concept as the API and manifests write it ({code, scheme, meaning}, each 1-64
// characters); kInvalidArgument names `field`.
Result<dicom::CodedConcept> CodedConceptFromJson(const nlohmann::json& json, const char* field);
nlohmann::json CodedConceptJson(const dicom::CodedConcept& coded);

}  // namespace vg::services
