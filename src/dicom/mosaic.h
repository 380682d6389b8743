// Siemens MOSAIC images (ImageType ...\MOSAIC, NumberOfImagesInMosaic in (0019,100A)):
// one 2D image holding a grid of slices, as fMRI and DWI series are stored. Private to
// dicom/. The mosaic's ImagePositionPatient is the corner of the whole grid; the first
// slice lies half the grid's extra width and height further in; the slices advance along
// the CSA header's SliceNormalVector (0029,1010), SpacingBetweenSlices apart.
#pragma once

#include <array>
#include <optional>

#include "dicom/dcmtk_io.h"
#include "dicom/pixels.h"

namespace vg::dicom {

struct MosaicLayout {
  int images = 0;                  // slices in the grid
  int tiles_per_side = 0;          // ceil(sqrt(images))
  std::int64_t tile_rows = 0, tile_columns = 0;
  std::array<double, 3> first_position{};  // centre of slice 0's first voxel
  std::array<double, 3> step{};            // from one slice's position to the next
};

// The layout of a mosaic image, or nullopt for any other image. kInvalidArgument when
// it says MOSAIC but its numbers do not add up.
Result<std::optional<MosaicLayout>> ReadMosaicLayout(DcmDataset& dataset);

// The slices of a decoded mosaic as frames of their own (tile_rows x tile_columns).
Result<DecodedPixels> SplitMosaic(const DecodedPixels& mosaic, const MosaicLayout& layout);

// The named value of a Siemens CSA header (SV10 format) as numbers; empty when absent.
std::vector<double> CsaNumbers(std::string_view csa, std::string_view name);

}  // namespace vg::dicom
