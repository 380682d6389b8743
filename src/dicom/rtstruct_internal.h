// What more than one of rtstruct_read.cpp, rtstruct_raster.cpp and rtstruct_write.cpp
// needs (the three implement rtstruct.h between them); for them only.
#pragma once

#include <array>

namespace vg::dicom::rtstruct_detail {

using Point = std::array<double, 3>;

// SNOMED CT "Entire body": the segment type of an EXTERNAL ROI when read, and the type
// written as EXTERNAL, so that a structure set survives the round trip.
inline constexpr const char* kEntireBody = "38266002";

}  // namespace vg::dicom::rtstruct_detail
