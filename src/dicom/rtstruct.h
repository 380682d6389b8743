// DICOM RT Structure Sets (PS3.3 A.19, C.8.8.5-6): read one (DCMTK's dcmrt for its
// modules, the ROI Contour Sequence directly, see rtstruct_read.cpp) and rasterise its closed
// planar contours onto a volume's grid; write one from a label volume, its contours traced
// along the voxels' edges so that rasterising them gives back exactly the same voxels.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "dicom/seg.h"
#include "dicom/volume.h"

namespace vg::dicom {

struct RoiContours {
  int number = 0;                    // ROI Number
  std::string name;                  // ROI Name
  std::string interpreted_type;      // RT ROI Interpreted Type (ORGAN, PTV, ...), may be empty
  std::string generation_algorithm;  // ROI Generation Algorithm (AUTOMATIC, SEMIAUTOMATIC, MANUAL)
  std::optional<std::array<std::uint8_t, 3>> rgb;  // ROI Display Color
  // CLOSED_PLANAR contours with at least 3 points, patient LPS mm, as the file gives them.
  std::vector<std::vector<std::array<double, 3>>> contours;
};

struct RtStructHeader {
  std::string sop_uid, series_uid, study_uid, frame_of_reference_uid, manufacturer, software_versions, label,
      series_description;
  // Referenced Frame of Reference > RT Referenced Study > RT Referenced Series, in file order.
  std::vector<std::string> referenced_series_uids;
  std::vector<RoiContours> rois;  // in Structure Set ROI Sequence order
  // POINT, OPEN_PLANAR, OPEN_NONPLANAR (not areas) and contours of fewer than 3 points:
  // left out of `rois`, counted here.
  std::int64_t skipped_contours = 0;
};

// What a structure set read from outside may hold (kTooLarge beyond).
struct RtStructLimits {
  std::int64_t max_rois = 1000;
  std::int64_t max_points = 20'000'000;  // over all kept contours
};

// Any transfer syntax; ContourData that an Explicit VR writer sent as UN (PS3.5 6.2.2, for
// values past 64 KiB) is read as the DS it is. kInvalidArgument when it is not an RT
// Structure Set; kUnprocessable, naming ROI and contour by number, for: coordinates that are
// not numbers, not finite, not a multiple of 3 or not 3 x NumberOfContourPoints; duplicate
// ROI numbers; contours of an ROI the Structure Set ROI Sequence does not list.
Result<RtStructHeader> ReadRtStruct(std::string_view part10, const RtStructLimits& limits = {});

// Each ROI's CLOSED_PLANAR contours on `grid`: one mask (a byte per voxel, 0/1) per ROI
// number, for every ROI with at least one contour on a slice of the grid.
//
// A contour belongs to slice k when every point lies within 0.49 slice gaps of its plane
// (a contour between two slices, tilted against the grid, or outside the slice range is
// skipped and counted in `skipped_contours`). A voxel is inside iff its centre is inside
// the polygon (even-odd rule; the polygon's edges projected onto the slice), so an area
// agrees with the polygon's to within the voxels its boundary crosses; nothing is
// inside-by-partial-coverage. The contours of one ROI on one slice are combined by XOR,
// which is how the standard draws holes (PS3.3 C.8.8.6.3). Cost: O(points + rows crossed
// + voxels filled). kTooLarge when the masks would pass kMaxRtStructMaskBytes or the
// contours cross more than kMaxRtStructCrossings rows.
struct RasterisedRois {
  std::map<int, std::vector<std::uint8_t>> masks;  // by ROI number
  std::int64_t skipped_contours = 0;
};
Result<RasterisedRois> RasteriseRtStruct(const RtStructHeader& rt, const VolumeGeometry& grid);

inline constexpr std::uint64_t kMaxRtStructMaskBytes = 2ull << 30;
inline constexpr std::uint64_t kMaxRtStructCrossings = 1ull << 28;

// The outlines of one label on each slice, as closed polygons in patient coordinates that
// follow the voxels' edges (vertices at voxel corners, collinear points removed; no
// polygon passes a vertex twice, so each is simple). Holes are separate contours, islands
// in holes too: RasteriseRtStruct of them gives back exactly the same voxels (even-odd).
// Diagonally touching voxels belong to separate polygons that share a corner. Slices in
// increasing k; empty when `labels` does not hold a byte per voxel of its grid.
std::vector<std::pair<std::int64_t /*slice k*/, std::vector<std::array<double, 3>>>> ContoursOfLabel(
    const LabelVolume& labels, std::uint8_t label);

struct RtStructWriteOptions {
  std::string series_uid, sop_uid;  // empty: new ones
  std::int64_t series_number = 301;
  std::string series_description = "Structure set";
  std::string label = "VOXELGATE";  // Structure Set Label (SH: 16 characters)
  std::string manufacturer = "voxelgate", software_version, algorithm_name, algorithm_version;
  bool automatic = true;  // ROI Generation Algorithm AUTOMATIC (else MANUAL) for every ROI
};

// An RTSTRUCT of `labels` on `source`'s grid (source.slices[k] names slice k's image): one
// ROI per segment (ROI Number = segment label, ROI Name, ROI Display Color = rgb), its
// contours from ContoursOfLabel, each with a Contour Image Sequence naming its slice's
// image; patient, study and frame of reference from `source_part10` (any image of the
// series). RT ROI Interpreted Type: PTV/CTV/GTV for those target codes, EXTERNAL for the
// entire body, ORGAN for the Anatomical Structure category, else empty (Type 2: not
// known) - see RoiTypeOfSegment in rtstruct_write.cpp for why not CONTROL. A contour whose
// ContourData would pass the 64 KiB an Explicit VR DS can hold is traced in bands of rows
// instead (the bands' shared edges are horizontal, so rasterising is unchanged).
// Returns the Part 10 file (Explicit VR Little Endian). kInvalidArgument when nothing
// carries a segment's label; kTooLarge past kMaxRtStructContourBytes of contour data.
Result<std::string> WriteRtStruct(std::string_view source_part10, const Volume& source, const LabelVolume& labels,
                                  const std::vector<SegmentInfo>& segments, const RtStructWriteOptions& options);

inline constexpr std::uint64_t kMaxRtStructContourBytes = 1ull << 30;

// A segment for an ROI: label = roi.number when 1..255 (else 0: the caller renumbers),
// name, colour (else SegmentInfo's default), AUTOMATIC -> automatic (SEMIAUTOMATIC and
// MANUAL -> not). Category and type: PTV/CTV/GTV/ITV -> the SNOMED CT target volume concepts
// (CID 9534); EXTERNAL -> Entire body; otherwise a common organ named by the ROI name
// (lung left/right, liver, heart, kidneys, ...), else Anatomical Structure / Tissue.
SegmentInfo SegmentOfRoi(const RoiContours& roi);

}  // namespace vg::dicom
