// Decoded pixel frames of one instance: private to dicom/ (DCMTK types).
//
// Every frame comes out as native little-endian samples, whatever the transfer syntax:
// DCMTK decodes JPEG, JPEG-LS, RLE and deflate; JPEG 2000 (and HTJ2K) goes through
// OpenJPEG, which DCMTK lacks. Only single-sample (grey) images are decoded.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dicom/dcmtk_io.h"

namespace vg::dicom {

struct PixelLayout {
  std::int64_t rows = 0, columns = 0, frames = 1;
  int bits_allocated = 16;  // 8, 16 or 32 (1: binary SEG, see DecodeFrames)
  int bits_stored = 16;
  bool is_signed = false;  // PixelRepresentation 1
};

// The image attributes every pixel reader trusts, read once and checked before any size
// is computed from them or any decoder runs: Rows and Columns as US (another VR could
// carry 32-bit values), SamplesPerPixel 1 to 4, BitsAllocated 1, 8, 16, 32 or 64,
// NumberOfFrames 1 to kMaxFrames, a frame of at most kMaxFramePixels pixels, and every
// frame decoded at most kMaxDecodedBytes. kUnprocessable (422) names what is implausible.
struct ImageLayout {
  std::int64_t rows = 0, columns = 0, samples = 1, frames = 1;
  int bits_allocated = 0;
  std::uint64_t frame_bits = 0;     // rows x columns x samples x bits
  std::uint64_t decoded_bytes = 0;  // every frame, unpacked to whole bytes per sample
};
inline constexpr std::int64_t kMaxFramePixels = 16384ll * 16384;
inline constexpr std::int64_t kMaxFrames = 1 << 20;
inline constexpr std::uint64_t kMaxDecodedBytes = 2ull << 30;
Result<ImageLayout> ReadImageLayout(DcmItem& dataset);

// Frames as native samples. `frame_data[f]` points at rows*columns samples of
// bits_allocated bits (for bits_allocated 1: one byte per pixel, 0 or 1, unpacked).
// The pointers stay valid as long as this object (it owns the file or the decoded copy).
struct DecodedPixels {
  PixelLayout layout;
  std::vector<const std::uint8_t*> frame_data;
  std::shared_ptr<void> owner;
  // The value of sample `i` of frame `f`, masked to bits_stored and sign-extended.
  std::int32_t Sample(std::int64_t f, std::int64_t i) const;
};

// Decodes every frame of `loaded` (the dataset is changed: decompressed in place).
// kUnsupported names a transfer syntax or photometric interpretation that cannot be read.
Result<DecodedPixels> DecodeFrames(std::shared_ptr<LoadedFile> loaded);

// Which fragments (items [first, last) of the sequence; item 0 is the offset table) hold
// each of `count` frames: all for a single frame, one each when there are as many as
// frames, else by the Basic Offset Table. kUnsupported when they cannot be told apart.
Result<std::vector<std::pair<unsigned long, unsigned long>>> FrameFragments(DcmPixelSequence& sequence,
                                                                            std::int64_t count);

// The compressed fragments of each frame, as stored (the Basic Offset Table, one fragment
// per frame, or all fragments for a single frame).
Result<std::vector<std::string>> EncapsulatedFrameBytes(DcmDataset& dataset, E_TransferSyntax xfer,
                                                        std::int64_t frame_count);

}  // namespace vg::dicom
