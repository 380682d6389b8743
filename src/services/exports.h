// Exports: training sets made of the clinic's labelled cases, built in the background
// (a job of kind "export") into an encrypted blob, then downloaded as a stream.
//
// Formats: nnunet (nnU-Net v2: imagesTr/case_NNNN_0000.nii.gz, labelsTr/case_NNNN.nii.gz,
// dataset.json; labels renumbered 1..K by segment name across the set, as nnU-Net wants
// consecutive labels) and dicom (each case's source series and its SEG). Cases are named
// case_0001, case_0002, ...: never patient data. A case whose series cannot be a volume
// is skipped with its reason, the rest goes on.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "services/annotations.h"
#include "services/job_progress.h"
#include "services/segmentations.h"
#include "services/volumes.h"
#include "storage/job_store.h"

namespace vg::services {

struct ExportRequest {
  std::string format = "nnunet";     // nnunet, dicom
  std::string container = "tar";     // tar, zip
  std::string segmentation = "latest_reviewed";  // latest_reviewed (studies marked reviewed), latest
  std::vector<std::string> tags;     // any of
  std::vector<std::string> statuses;
  std::optional<storage::Range> date;
  std::vector<std::string> modalities;
  std::string dataset_name = "voxelgate";
};

// Plain logic: the request from the API's JSON, validated (kInvalidArgument names the field).
Result<ExportRequest> ParseExportRequest(const nlohmann::json& body);
std::string ExportRequestJson(const ExportRequest& request);
// "Lungs 2024" -> "Lungs2024": nnU-Net's dataset names are letters, digits, - and _.
std::string DatasetName(std::string_view name);

class Exports {
 public:
  Exports(Archive& archive, storage::JobStore& jobs, Annotations& annotations, Segmentations& segmentations,
          Volumes& volumes)
      : archive_(archive), jobs_(jobs), annotations_(annotations), segmentations_(segmentations), volumes_(volumes) {}

  Result<storage::JobRecord> Submit(std::int64_t tenant_id, const ExportRequest& request, const std::string& author);
  Result<storage::JobRecord> Find(std::int64_t tenant_id, std::int64_t id);
  Result<std::vector<storage::JobRecord>> List(std::int64_t tenant_id);
  // The finished bundle, decrypted as it is read; its media type and size.
  struct Download {
    std::unique_ptr<ByteSource> source;
    std::string media_type, filename;
    std::int64_t size = 0;
  };
  Result<Download> Open(std::int64_t tenant_id, std::int64_t id);

  // The job itself (called by the worker): builds the bundle into a blob, returns the
  // result JSON. Idempotent: a rerun builds a new blob.
  Result<std::string> Run(const storage::JobRecord& job, JobProgress& progress);

 private:
  Archive& archive_;
  storage::JobStore& jobs_;
  Annotations& annotations_;
  Segmentations& segmentations_;
  Volumes& volumes_;
};

}  // namespace vg::services
