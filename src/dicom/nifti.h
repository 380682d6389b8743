// NIfTI-1 (.nii / .nii.gz) export and import of volumes and label volumes, with
// niftilib for the header (qform quaternion and sform) and zlib for the compression.
//
// NIfTI is RAS, DICOM is LPS: the affine written is the volume's LPS mapping with its
// first two rows negated; voxel order is kept (column fastest, then row, then slice), as
// ITK writes it. Both qform and sform are set (code 1, scanner anatomical).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "dicom/volume.h"

struct z_stream_s;  // zlib's, kept out of this header

namespace vg::dicom {

// Receives output chunk by chunk; an error stops the writer.
using ByteSink = std::function<Result<void>(std::string_view)>;

// Streams a gzip-compressed NIfTI-1 file into `sink` (level 1: fast, ~3x smaller for CT).
Result<void> WriteNiftiGz(const Volume& volume, const ByteSink& sink, int level = 1);
Result<void> WriteNiftiGz(const LabelVolume& labels, const ByteSink& sink, int level = 1);
Result<std::string> NiftiGzBytes(const LabelVolume& labels, int level = 1);
// Label maps of one grid as one file: 3-D for one layer (as above), else 4-D (dim[4] =
// the number of layers, each layer a label map), as an imported SEG's overlapping
// segments are kept.
Result<std::string> NiftiGzLayers(const std::vector<LabelVolume>& layers, int level = 1);
// The layers of a file NiftiGzLayers wrote (a 3-D file is one layer); at most
// `max_voxels` voxels in all.
Result<std::vector<LabelVolume>> ReadNiftiLayers(std::string_view bytes, std::int64_t max_voxels = 1ll << 30);

// A NIfTI image read back: its grid in LPS and its values.
struct NiftiImage {
  VolumeGeometry geometry;
  int datatype = 0;            // NIFTI_TYPE_*
  // In voxel order, scaled (scl_slope/scl_inter applied), as float (half the memory of
  // double; exact for every integer image up to 24 bits). Unscaled 8-bit unsigned images
  // (label maps) fill `bytes` instead of `values`, at a quarter of the memory.
  std::vector<float> values;
  std::vector<std::uint8_t> bytes;
  bool IsBytes() const { return values.empty() && !bytes.empty(); }
};

// Reads a .nii or .nii.gz held in memory (gzip is recognised by its magic). Refuses
// more than `max_voxels` voxels, more than 3 dimensions with extent > 1, and files whose
// data is shorter than the header says. A left-handed grid is re-ordered along k so
// that the result follows VolumeGeometry's convention (normal = row x column).
Result<NiftiImage> ReadNifti(std::string_view bytes, std::int64_t max_voxels = 1ll << 30);

// Re-orders a left-handed grid (third axis against row x column) along k, so that it
// follows VolumeGeometry's convention; the voxels stay where they are in space.
void MakeRightHanded(NiftiImage& image);

// Labels from a NIfTI image: every value must be an integer in 0..255.
Result<LabelVolume> LabelsFromNifti(const NiftiImage& image);

// gzip helpers for the HTTP layer and readers.
bool LooksGzipped(std::string_view bytes);
// The whole stream, or kTooLarge past `max_output` (inflation stops there).
Result<std::string> Gunzip(std::string_view bytes, std::uint64_t max_output);

// Inflates a gzip (or zlib) stream held in memory step by step, so that a reader can
// inflate a header, learn how much data it declares, check that, and inflate exactly so
// much more. Not thread-safe.
class GzipReader {
 public:
  explicit GzipReader(std::string_view compressed);
  ~GzipReader();
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;
  // Appends to `out` until it holds `target` bytes or the stream ends (then it is
  // shorter: the caller decides whether that is truncation).
  Result<void> InflateTo(std::string& out, std::uint64_t target);
  bool ended() const { return ended_; }

 private:
  std::string_view compressed_;
  std::unique_ptr<::z_stream_s> stream_;
  std::size_t consumed_ = 0;  // bytes of `compressed_` handed to zlib
  bool ok_ = false;
  bool ended_ = false;
};
Result<std::string> Gzip(std::string_view bytes, int level = 1);

}  // namespace vg::dicom
