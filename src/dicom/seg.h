// DICOM Segmentation objects: write BINARY SEGs with DCMTK's dcmseg; read BINARY,
// FRACTIONAL and LABELMAP SEGs (any transfer syntax, 1-bit frames packed across frame
// boundaries included) onto the grid of their source volume.
#pragma once

#include <optional>

#include "dicom/written_values.h"

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dicom/volume.h"

namespace vg::dicom {

struct CodedConcept {
  std::string code, scheme, meaning;  // e.g. 39607008, SCT, Lung
};

struct SegmentInfo {
  int label = 0;  // value in the label volume, 1..255
  std::string name;
  std::array<std::uint8_t, 3> rgb{128, 174, 128};
  CodedConcept category{"123037004", "SCT", "Anatomical Structure"};
  CodedConcept type{"85756007", "SCT", "Tissue"};
  bool automatic = false;  // MANUAL, or AUTOMATIC with the algorithm's name and version
  std::string algorithm_name, algorithm_version;
  CodedConcept algorithm_family{"123110", "DCM", "Artificial Intelligence"};  // CID 7162
  int layer = 0;  // the label map that holds it, where segments overlap (LabelLayers)
};

struct SegWriteOptions {
  std::string series_uid;  // empty: a new one
  std::string sop_uid;     // empty: a new one
  std::int64_t series_number = 300;
  std::string series_description = "Segmentation";
  std::string content_label = "SEGMENTATION";  // CS: upper case, digits, _ and space
  std::string content_description;
  std::string content_creator;  // PN of the author (a clinician, not a patient)
  std::string manufacturer = "voxelgate";
  std::string software_version;
  // An algorithm's result: the algorithm, in the Contributing Equipment Sequence.
  std::optional<ProcessingAlgorithm> processing_algorithm;
};

// A BINARY SEG of `labels` (on `source`'s grid): one segment per entry of `segments`
// (numbered 1..n in the given order), one frame per segment and non-empty source slice,
// each with its plane position and a derivation reference to its source slice; patient,
// study and frame of reference come from `source_part10` (any image of the source
// series). Returns the Part 10 file (Explicit VR Little Endian).
Result<std::string> WriteBinarySeg(std::string_view source_part10, const Volume& source, const LabelVolume& labels,
                                   const std::vector<SegmentInfo>& segments, const SegWriteOptions& options);

// What a SEG says about itself (no pixels).
struct SegHeader {
  std::string segmentation_type;  // BINARY, FRACTIONAL, LABELMAP
  std::string sop_uid, series_uid, study_uid, frame_of_reference_uid;
  std::vector<std::string> referenced_series_uids;
  // Images its frames are derived from (per-frame Derivation Image > Source Image), for a
  // SEG without a Referenced Series Sequence; at most kMaxReferencedSops, first frames first.
  std::vector<std::string> referenced_sop_uids;
  std::string manufacturer, software_versions, series_description;
  std::vector<SegmentInfo> segments;  // label = the segment number
};
inline constexpr std::size_t kMaxReferencedSops = 16;
Result<SegHeader> ReadSegHeader(std::string_view part10);

// The SEG's segments on `grid`, as one mask per segment number (a byte per voxel, 0/1).
// Every frame must lie on a slice of the grid (position within 0.1 voxel, same
// orientation and in-plane size); otherwise the SEG does not belong to this volume.
struct SegMasks {
  SegHeader header;
  std::map<int, std::vector<std::uint8_t>> masks;  // by segment number, one byte per voxel
};
Result<SegMasks> ReadSegOnGrid(std::string_view part10, const VolumeGeometry& grid);

// The grid a SEG's own frames span (for a SEG whose source volume is not at hand): frame
// size, orientation and pixel spacing from its functional groups, slices from the first
// to the last frame position, SpacingBetweenSlices apart (else the smallest gap).
Result<VolumeGeometry> GridOfSeg(std::string_view part10);

// A SEG written here holds at most this much pixel data (kTooLarge otherwise).
inline constexpr std::uint64_t kMaxSegPixelBytes = 1ull << 30;
// ReadSegOnGrid refuses (kTooLarge) a SEG whose segments' masks on the grid would need more.
inline constexpr std::uint64_t kMaxSegMaskBytes = 2ull << 30;

// One label volume from masks: label = segment number, or `label_of[number]` when given;
// where segments overlap the highest label wins.
LabelVolume FlattenMasks(const SegMasks& masks, const VolumeGeometry& grid, const std::map<int, int>& label_of = {});

// Segments that may overlap, as few label maps as their overlaps allow: each segment goes
// into the first layer in which it overlaps no segment already there (segments in number
// order), with its segment number as label. One layer when nothing overlaps. Linear in the
// masks' size (a 16-bit set of occupied layers per voxel, made only when a second layer is
// needed); kUnprocessable past kMaxLabelLayers layers.
struct LabelLayers {
  std::vector<LabelVolume> layers;
  std::map<int, int> layer_of;  // segment number -> layer index
};
inline constexpr int kMaxLabelLayers = 16;
Result<LabelLayers> LayerMasks(const SegMasks& masks, const VolumeGeometry& grid);
// One label map from layers: later layers win where they overlap earlier ones.
LabelVolume FlattenLayers(const std::vector<LabelVolume>& layers);

}  // namespace vg::dicom
