// Volumes: a series of the archive as a 3D volume (decrypted, decoded, ordered by
// geometry), as NIfTI, and its geometry alone. The series must belong to the tenant
// (another tenant's UID is kNotFound); a series that is not one volume is kUnprocessable
// with the reason.
#pragma once

#include "dicom/nifti.h"
#include "dicom/volume.h"
#include "services/archive.h"

namespace vg::services {

struct SeriesVolume {
  dicom::Volume volume;
  std::string study_uid, series_uid, modality;
  std::string any_image;  // one decrypted Part 10 image of the series (for SEG headers)
  std::int64_t instances = 0;
};

class Volumes {
 public:
  explicit Volumes(Archive& archive, int threads = 2) : archive_(archive), threads_(threads) {}
  // Decrypts and decodes every image of the series on `threads` threads.
  Result<SeriesVolume> Assemble(std::int64_t tenant_id, const std::string& series_uid, bool headers_only = false);
  // Streams the series' volume as .nii.gz.
  Result<void> WriteNifti(std::int64_t tenant_id, const std::string& series_uid, const dicom::ByteSink& sink);

 private:
  Archive& archive_;
  int threads_;
};

}  // namespace vg::services
