#include "dicom/mosaic.h"

#include <cmath>
#include <cstring>

namespace vg::dicom {
namespace {

std::uint32_t U32(std::string_view bytes, size_t at) {
  std::uint32_t v = 0;
  std::memcpy(&v, bytes.data() + at, 4);
  return v;
}

std::string RawPrivate(DcmDataset& ds, const DcmTagKey& tag) {
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(tag, element).bad() || !element) return {};
  Uint8* data = nullptr;
  if (element->getUint8Array(data).bad() || !data) return {};
  return std::string(reinterpret_cast<const char*>(data), element->getLength());
}

std::optional<int> ImagesInMosaic(DcmDataset& ds) {
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DcmTagKey(0x0019, 0x100A), element).bad() || !element) return std::nullopt;
  Uint16 value = 0;
  if (element->getUint16(value).good() && value > 0) return value;
  // Implicit VR without the private dictionary: the raw two bytes, little endian.
  const std::string raw = RawPrivate(ds, DcmTagKey(0x0019, 0x100A));
  if (raw.size() >= 2) return static_cast<unsigned char>(raw[0]) | static_cast<unsigned char>(raw[1]) << 8;
  return std::nullopt;
}

}  // namespace

std::vector<double> CsaNumbers(std::string_view csa, std::string_view name) {
  // "SV10" 4 bytes, 4 unused, uint32 tag count, uint32 77; each tag: name[64], vm,
  // vr[4], syngodt, item count, 77 (all int32); each item: 4 int32 (the first is the
  // length), then the value padded to 4 bytes.
  if (csa.size() < 16 || csa.substr(0, 4) != "SV10") return {};
  const std::uint32_t tags = U32(csa, 8);
  size_t at = 16;
  for (std::uint32_t t = 0; t < tags && t < 1000; ++t) {
    if (at + 84 > csa.size()) return {};
    std::string_view tag_name(csa.data() + at, 64);
    tag_name = tag_name.substr(0, tag_name.find('\0'));
    const std::uint32_t items = U32(csa, at + 76);
    at += 84;
    std::vector<double> values;
    for (std::uint32_t i = 0; i < items && i < 10000; ++i) {
      if (at + 16 > csa.size()) return {};
      const std::uint32_t length = U32(csa, at);
      at += 16;
      if (at + length > csa.size()) return {};
      std::string text(csa.data() + at, length);
      text = text.substr(0, text.find('\0'));
      if (!text.empty()) values.push_back(std::strtod(text.c_str(), nullptr));
      at += (length + 3) / 4 * 4;
    }
    if (tag_name == name) return values;
  }
  return {};
}

Result<std::optional<MosaicLayout>> ReadMosaicLayout(DcmDataset& ds) {
  const std::string image_type = GetString(ds, DCM_ImageType);
  if (image_type.find("MOSAIC") == std::string::npos) return std::optional<MosaicLayout>{};
  auto images = ImagesInMosaic(ds);
  if (!images) return std::optional<MosaicLayout>{};
  MosaicLayout layout;
  layout.images = *images;
  layout.tiles_per_side = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(*images))));
  // US only (the pixel readers refuse another VR; a UL could carry 32-bit sizes).
  Uint16 rows16 = 0, columns16 = 0;
  ds.findAndGetUint16(DCM_Rows, rows16);
  ds.findAndGetUint16(DCM_Columns, columns16);
  const std::int64_t rows = rows16, columns = columns16;
  if (layout.tiles_per_side <= 0 || rows == 0 || columns == 0 || rows % layout.tiles_per_side ||
      columns % layout.tiles_per_side)
    return Fail(ErrorCode::kInvalidArgument, "a MOSAIC image whose size is not a whole grid of its slices");
  layout.tile_rows = rows / layout.tiles_per_side;
  layout.tile_columns = columns / layout.tiles_per_side;

  Float64 v = 0;
  std::array<double, 3> position{}, row{}, column{};
  std::array<double, 2> spacing{};
  for (int a = 0; a < 3; ++a) {
    if (ds.findAndGetFloat64(DCM_ImagePositionPatient, v, a).bad())
      return Fail(ErrorCode::kInvalidArgument, "a MOSAIC image has no ImagePositionPatient");
    position[a] = v;
    if (ds.findAndGetFloat64(DCM_ImageOrientationPatient, v, a).bad() ||
        (row[a] = v, ds.findAndGetFloat64(DCM_ImageOrientationPatient, v, a + 3).bad()))
      return Fail(ErrorCode::kInvalidArgument, "a MOSAIC image has no ImageOrientationPatient");
    column[a] = v;
  }
  for (int a = 0; a < 2; ++a) {
    if (ds.findAndGetFloat64(DCM_PixelSpacing, v, a).bad())
      return Fail(ErrorCode::kInvalidArgument, "a MOSAIC image has no PixelSpacing");
    spacing[a] = v;
  }
  std::array<double, 3> normal{row[1] * column[2] - row[2] * column[1], row[2] * column[0] - row[0] * column[2],
                               row[0] * column[1] - row[1] * column[0]};
  // Siemens states which way the slices go; it may be against row x column.
  auto csa_normal = CsaNumbers(RawPrivate(ds, DcmTagKey(0x0029, 0x1010)), "SliceNormalVector");
  if (csa_normal.size() == 3 && normal[0] * csa_normal[0] + normal[1] * csa_normal[1] + normal[2] * csa_normal[2] < 0)
    for (double& x : normal) x = -x;
  double gap = 0;
  if (ds.findAndGetFloat64(DCM_SpacingBetweenSlices, v).good() && v > 0) gap = v;
  else if (ds.findAndGetFloat64(DCM_SliceThickness, v).good() && v > 0) gap = v;
  else return Fail(ErrorCode::kInvalidArgument, "a MOSAIC image states neither SpacingBetweenSlices nor SliceThickness");
  const double shift_x = spacing[1] * static_cast<double>(columns - layout.tile_columns) / 2.0;
  const double shift_y = spacing[0] * static_cast<double>(rows - layout.tile_rows) / 2.0;
  for (int a = 0; a < 3; ++a) {
    layout.first_position[a] = position[a] + row[a] * shift_x + column[a] * shift_y;
    layout.step[a] = normal[a] * gap;
  }
  return std::optional<MosaicLayout>(layout);
}

Result<DecodedPixels> SplitMosaic(const DecodedPixels& mosaic, const MosaicLayout& layout) {
  const PixelLayout& in = mosaic.layout;
  if (in.bits_allocated != 8 && in.bits_allocated != 16)
    return Fail(ErrorCode::kUnsupported, "a MOSAIC image of this bit depth is not read");
  const int bytes = in.bits_allocated / 8;
  // The tiles must cover exactly the decoded mosaic frame they are cut from.
  if (layout.tile_rows * layout.tiles_per_side != in.rows || layout.tile_columns * layout.tiles_per_side != in.columns ||
      layout.images < 1 || layout.images > layout.tiles_per_side * layout.tiles_per_side || mosaic.frame_data.empty())
    return Fail(ErrorCode::kUnprocessable, "the MOSAIC layout does not match the image's Rows and Columns");
  const std::int64_t tile_pixels = layout.tile_rows * layout.tile_columns;
  auto buffer = std::make_shared<std::vector<std::uint8_t>>(static_cast<size_t>(tile_pixels * bytes * layout.images));
  const std::uint8_t* src = mosaic.frame_data[0];
  for (int k = 0; k < layout.images; ++k) {
    const std::int64_t tile_row = k / layout.tiles_per_side, tile_col = k % layout.tiles_per_side;
    std::uint8_t* dst = buffer->data() + k * tile_pixels * bytes;
    for (std::int64_t j = 0; j < layout.tile_rows; ++j) {
      const std::int64_t mosaic_row = tile_row * layout.tile_rows + j;
      std::memcpy(dst + j * layout.tile_columns * bytes,
                  src + (mosaic_row * in.columns + tile_col * layout.tile_columns) * bytes,
                  static_cast<size_t>(layout.tile_columns * bytes));
    }
  }
  DecodedPixels out;
  out.layout = in;
  out.layout.rows = layout.tile_rows;
  out.layout.columns = layout.tile_columns;
  out.layout.frames = layout.images;
  for (int k = 0; k < layout.images; ++k) out.frame_data.push_back(buffer->data() + k * tile_pixels * bytes);
  out.owner = buffer;
  return out;
}

}  // namespace vg::dicom
