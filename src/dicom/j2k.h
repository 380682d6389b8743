// JPEG 2000 (Part 1 and High-Throughput) decoding with OpenJPEG: private to dicom/.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace vg::dicom {

struct J2kImage {
  std::int64_t width = 0, height = 0;
  int precision = 0;
  bool is_signed = false;
  std::vector<std::int32_t> samples;  // first component only, row by row
};

// Decodes one codestream (raw J2K, or a JP2 file); refuses images with more than one
// component and anything over `max_pixels`.
Result<J2kImage> DecodeJ2k(std::string_view codestream, std::int64_t max_pixels);

bool IsJ2kTransferSyntax(std::string_view uid);

}  // namespace vg::dicom
