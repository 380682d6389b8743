// A 3D image that came as a file (NIfTI, NRRD: what 3D Slicer uploads) as a DICOM series
// of classic CT or MR Image Storage objects, so that it lives in the archive like any
// other series: one slice per instance, its position, orientation and spacing from the
// image's grid, values stored as int16 with a rescale. The objects say what they are:
// ImageType DERIVED\SECONDARY and a DerivationDescription naming the conversion.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "dicom/nifti.h"

namespace vg::dicom {

struct ConvertedSeriesInfo {
  std::string modality;     // "CT" or "MR"; empty: CT when the values reach below -500, else MR
  std::string patient_name, patient_id;
  std::string series_description;
  std::string derivation;   // e.g. "converted from NIfTI (3D Slicer upload) by voxelgate"
  std::string study_uid, series_uid, frame_of_reference_uid;  // empty: new ones
};

// One Part 10 file (Explicit VR Little Endian) per slice, in slice order.
Result<std::vector<std::string>> SeriesFromImage(const NiftiImage& image, const ConvertedSeriesInfo& info);
// The same, each slice handed to `each` as soon as it is written (the series is never
// held whole: a large upload costs one slice, not a second copy of the volume).
Result<void> SeriesFromImage(const NiftiImage& image, const ConvertedSeriesInfo& info,
                             const std::function<void(std::string)>& each);

}  // namespace vg::dicom
