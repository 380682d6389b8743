// A segmentation as a derived series of overlay images, for viewers and PACS that cannot
// show DICOM SEG: each slice that holds a segment, windowed to grey, with every segment's
// outline burned in in the segment's colour. Secondary Capture Image Storage (RGB, 8
// bits), one instance per slice, Explicit VR Little Endian.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "dicom/seg.h"
#include "dicom/volume.h"

namespace vg::dicom {

struct OverlayOptions {
  std::string series_uid;  // empty: a new one
  // Non-empty: slice k's SOP Instance UID derives from it (a retried writer makes the same
  // UIDs, so what an earlier attempt stored is recognised); empty: new ones.
  std::string uid_seed;
  std::int64_t series_number = 302;
  // e.g. "ct-lungs 1.2 overlay - not for primary diagnosis" (the caller composes it; cut to 64)
  std::string series_description;
  std::string manufacturer = "voxelgate", software_version;
  std::string algorithm_name, algorithm_version;
  bool not_for_primary_diagnosis = false;  // also said in ImageComments and DerivationDescription
  // Centre and width in modality units (HU for CT). Default: the first WindowCenter/Width
  // of `source_part10`; else for CT a lung window (-600/1500) when a segment's name or type
  // says lung, a soft-tissue window (40/400) otherwise; else the volume's min..max.
  std::optional<std::pair<double, double>> window;
  int outline_width = 1;  // pixels, 1..kMaxOutlineWidth
};

inline constexpr int kMaxOutlineWidth = 64;
// An overlay series holds at most this much pixel data (kTooLarge otherwise, before any
// image is made).
inline constexpr std::uint64_t kMaxOverlaySeriesBytes = 2ull << 30;

// One Secondary Capture image per slice k of `labels` that holds a voxel of a listed
// segment (other label values are background), in slice order: source slice k windowed
// to grey (R=G=B), and each segment's outline -- its voxels with an in-plane 4-neighbour
// outside the segment or outside the image, `outline_width` pixels deep -- in
// SegmentInfo::rgb. Pixels come from `source` (the assembled volume: no decoding here);
// source.slices[k] is named in each image's Source Image Sequence and Derivation
// Description together with the algorithm. Patient, study and frame of reference are
// copied from `source_part10` (any image of the source series); the series is new and
// keeps the source's modality. Every image: ImageType DERIVED\SECONDARY, ConversionType
// WSD, BurnedInAnnotation NO (outlines only, no text; ImageComments carries the colour
// legend), InstanceNumber k+1, the slice's Image Position/Orientation (Patient) and Pixel
// Spacing. Labels on another grid than source.geometry are kInvalidArgument; no slice
// holding a listed segment gives an empty vector.
Result<std::vector<std::string>> WriteOverlaySeries(std::string_view source_part10, const Volume& source,
                                                    const LabelVolume& labels, const std::vector<SegmentInfo>& segments,
                                                    const OverlayOptions& options);

}  // namespace vg::dicom
