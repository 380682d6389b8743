// NRRD (teem's format; what 3D Slicer and MONAI Label exchange): read a 3D scalar image
// (attached data, raw or gzip, any scalar type, either byte order, LPS or RAS space), and
// write label maps (uint8 or uint16, raw or gzip, left-posterior-superior).
#pragma once

#include <string>
#include <string_view>

#include "dicom/nifti.h"

namespace vg::dicom {

// The image on its grid (LPS, right-handed: a left-handed grid is re-ordered along k like
// ReadNifti). kInvalidArgument names what is wrong: detached data, more than 3 axes, a
// missing space, sizes that do not match the data.
Result<NiftiImage> ReadNrrd(std::string_view bytes, std::int64_t max_voxels = 1ll << 30);

struct NrrdWriteOptions {
  bool uint16 = false;  // else uint8
  bool gzip = false;    // OHIF reads raw NRRD only; Slicer reads both
};
Result<std::string> WriteNrrd(const LabelVolume& labels, const NrrdWriteOptions& options = {});

// A 3D image from a file's bytes, by its name's ending (.nii, .nii.gz, .nrrd, .seg.nrrd)
// or, failing that, its content. kUnsupported for anything else.
Result<NiftiImage> ReadVolumeFile(std::string_view bytes, std::string_view filename, std::int64_t max_voxels = 1ll << 30);

}  // namespace vg::dicom
