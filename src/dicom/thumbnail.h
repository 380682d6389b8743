// Small pictures for reports (the acceptance report's worst cases): a slice of a volume
// windowed to grey with the outlines of two segmentations of one label burned in
// (reference green, result red), as PNG (libpng), at most `max_side` pixels a side.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "dicom/volume.h"

namespace vg::dicom {

// PNG of an 8-bit RGB image, rows top to bottom.
Result<std::string> PngFromRgb(std::int64_t width, std::int64_t height, const std::vector<std::uint8_t>& rgb);

// The slice of `volume` (window centre/width in its units) where `label` of `reference`
// and `result` disagree most (the slice with the most voxels in one and not the other),
// with both outlines; kInvalidArgument when the three are not on one grid.
struct ComparisonPicture {
  std::int64_t slice = 0;
  std::int64_t disagreeing_voxels = 0;
  std::string png;
};
Result<ComparisonPicture> DisagreementPicture(const Volume& volume, const LabelVolume& reference, const LabelVolume& result,
                                              int label, std::pair<double, double> window, int max_side = 256);

}  // namespace vg::dicom
