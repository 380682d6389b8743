// Series -> 3D volume. Slices are ordered by their position along the slice normal
// (never by file name or InstanceNumber), spacing comes from the positions (never from
// SliceThickness), orientation from ImageOrientationPatient, values are rescaled to
// modality units (HU for CT). Enhanced multi-frame objects are read through their
// per-frame and shared functional groups. What cannot be one volume is refused with a
// reason a person can act on: a gap, a duplicate, mixed orientations or sizes, uneven
// spacing, gantry tilt, or several volumes in one series.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace vg::dicom {

// Voxel (i, j, k) -> patient (LPS, mm): origin + i*spacing[0]*row + j*spacing[1]*column
// + k*spacing[2]*normal, where row = direction[0..2] (along a row: increasing column
// index), column = direction[3..5], normal = direction[6..8] = row x column.
struct VolumeGeometry {
  std::array<std::int64_t, 3> dims{};  // columns, rows, slices
  std::array<double, 3> spacing{};     // mm
  std::array<double, 3> origin{};      // centre of voxel (0,0,0)
  std::array<double, 9> direction{};

  std::int64_t VoxelCount() const { return dims[0] * dims[1] * dims[2]; }
  std::array<double, 3> PatientPosition(double i, double j, double k) const;
  // True when both describe the same voxel grid: equal dims, spacing, origin and
  // direction within `tolerance_mm` (directions compared over the grid's extent).
  // (False when either grid holds a coordinate that is not finite.)
  bool SameGrid(const VolumeGeometry& other, double tolerance_mm = 0.01) const;
};

// A grid read from outside (a DICOM series, a NIfTI or NRRD header, a SEG) is usable:
// dims positive with at most `max_voxels` voxels, spacing finite and in (0, 10 m],
// origin finite, direction finite with unit, orthogonal row and column. kUnprocessable
// (422) names what is wrong, kTooLarge the voxel limit.
Result<void> CheckGeometry(const VolumeGeometry& g, std::int64_t max_voxels);

// Where slice k came from.
struct SliceSource {
  std::string sop_uid;
  std::string sop_class_uid;
  std::int64_t frame = 1;  // 1-based, for multi-frame objects
};

enum class VoxelType { kInt16, kFloat32 };

struct Volume {
  VolumeGeometry geometry;
  std::vector<SliceSource> slices;  // slices[k]
  VoxelType type = VoxelType::kInt16;
  // Column fastest, then row, then slice; rescaled values. One of the two is filled
  // (int16 when every value is an integer that fits, else float32); empty with headers only.
  std::vector<std::int16_t> int16_voxels;
  std::vector<float> float32_voxels;
  std::string modality, study_uid, series_uid, frame_of_reference_uid;

  double ValueAt(std::int64_t index) const {
    return type == VoxelType::kInt16 ? int16_voxels[index] : float32_voxels[index];
  }
};

// Labels on a volume's grid: one byte per voxel, 0 = background.
struct LabelVolume {
  VolumeGeometry geometry;
  std::vector<std::uint8_t> labels;
};

struct VolumeOptions {
  std::int64_t max_voxels = 1ll << 29;  // 512 x 512 x 2048: refused before allocating (docs/limits.md)
  double spacing_tolerance = 0.05;      // relative deviation of one slice gap from the mean
  double max_tilt_degrees = 0.1;        // beyond this the stack is sheared (gantry tilt)
  bool headers_only = false;            // geometry and slice order, no pixels decoded
};

// Collects the slices of one series, one Part 10 file at a time, from any number of
// threads; Build() orders them and makes the volume, or refuses with a reason.
class VolumeAssembler {
 public:
  explicit VolumeAssembler(VolumeOptions options = {});
  ~VolumeAssembler();
  VolumeAssembler(const VolumeAssembler&) = delete;
  VolumeAssembler& operator=(const VolumeAssembler&) = delete;

  // Thread-safe. An instance without pixels (a SEG, SR, ...) is refused; the caller
  // passes only the series' images.
  Result<void> Add(std::string_view part10);
  // Call once, after every Add has returned.
  Result<Volume> Build();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience: the volume of these files, decoded on `threads` threads.
Result<Volume> AssembleVolume(const std::vector<std::string_view>& files, VolumeOptions options = {}, int threads = 2);

// True for SOP classes whose instances are images that can be slices of a volume
// (not SEG, SR, presentation states, RT structures, ...).
bool IsVolumeImageClass(std::string_view sop_class_uid);

}  // namespace vg::dicom
