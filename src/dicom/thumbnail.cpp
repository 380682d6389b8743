#include "dicom/thumbnail.h"

#include <png.h>

#include <algorithm>
#include <cmath>

namespace vg::dicom {
namespace {

struct PngSink {
  std::string bytes;
};

void WriteToString(png_structp png, png_bytep data, png_size_t length) {
  auto* sink = static_cast<PngSink*>(png_get_io_ptr(png));
  sink->bytes.append(reinterpret_cast<const char*>(data), length);
}

void FlushNothing(png_structp) {}

}  // namespace

Result<std::string> PngFromRgb(std::int64_t width, std::int64_t height, const std::vector<std::uint8_t>& rgb) {
  if (width < 1 || height < 1 || width > 16384 || height > 16384 ||
      static_cast<std::int64_t>(rgb.size()) != width * height * 3)
    return Fail(ErrorCode::kInvalidArgument, "not an RGB image of that size");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (!png) return Fail(ErrorCode::kResourceExhausted, "cannot start a PNG");
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    return Fail(ErrorCode::kResourceExhausted, "cannot start a PNG");
  }
  PngSink sink;
  // libpng reports errors by longjmp: nothing with a destructor lives between here and
  // the end but `sink`, declared before.
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return Fail(ErrorCode::kInternal, "the PNG could not be written");
  }
  png_set_write_fn(png, &sink, WriteToString, FlushNothing);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (std::int64_t y = 0; y < height; ++y)
    png_write_row(png, const_cast<png_bytep>(rgb.data() + y * width * 3));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return std::move(sink.bytes);
}

Result<ComparisonPicture> DisagreementPicture(const Volume& volume, const LabelVolume& reference, const LabelVolume& result,
                                              int label, std::pair<double, double> window, int max_side) {
  const auto& g = volume.geometry;
  if (reference.geometry.dims != g.dims || result.geometry.dims != g.dims ||
      static_cast<std::int64_t>(reference.labels.size()) != g.VoxelCount() ||
      static_cast<std::int64_t>(result.labels.size()) != g.VoxelCount())
    return Fail(ErrorCode::kInvalidArgument, "the volume and the segmentations are not on one grid");
  if (volume.int16_voxels.empty() && volume.float32_voxels.empty())
    return Fail(ErrorCode::kInvalidArgument, "the volume has no voxels");
  const std::int64_t nx = g.dims[0], ny = g.dims[1], nz = g.dims[2], plane = nx * ny;
  ComparisonPicture out;
  std::int64_t best = -1;
  for (std::int64_t k = 0; k < nz; ++k) {
    std::int64_t differ = 0;
    for (std::int64_t i = k * plane; i < (k + 1) * plane; ++i)
      differ += (reference.labels[i] == label) != (result.labels[i] == label);
    if (differ > best) {
      best = differ;
      out.slice = k;
    }
  }
  out.disagreeing_voxels = std::max<std::int64_t>(best, 0);
  const std::int64_t step = std::max<std::int64_t>(1, (std::max(nx, ny) + max_side - 1) / max_side);
  const std::int64_t w = (nx + step - 1) / step, h = (ny + step - 1) / step;
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w * h * 3));
  const std::int64_t base = out.slice * plane;
  const double low = window.first - window.second / 2, span = std::max(1e-6, window.second);
  auto edge = [&](const LabelVolume& l, std::int64_t x, std::int64_t y) {
    if (l.labels[base + y * nx + x] != label) return false;
    const std::int64_t nbr[4][2] = {{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
    for (const auto& n : nbr) {
      if (n[0] < 0 || n[1] < 0 || n[0] >= nx || n[1] >= ny) return true;
      if (l.labels[base + n[1] * nx + n[0]] != label) return true;
    }
    return false;
  };
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) {
      const std::int64_t sx = x * step, sy = y * step;
      const double v = volume.ValueAt(base + sy * nx + sx);
      const auto grey = static_cast<std::uint8_t>(std::clamp((v - low) / span * 255.0, 0.0, 255.0));
      std::uint8_t* p = &rgb[static_cast<std::size_t>((y * w + x) * 3)];
      p[0] = p[1] = p[2] = grey;
      // An outline anywhere in the block the pixel stands for shows.
      bool ref_edge = false, res_edge = false;
      for (std::int64_t dy = 0; dy < step && sy + dy < ny; ++dy)
        for (std::int64_t dx = 0; dx < step && sx + dx < nx; ++dx) {
          ref_edge = ref_edge || edge(reference, sx + dx, sy + dy);
          res_edge = res_edge || edge(result, sx + dx, sy + dy);
        }
      if (ref_edge) p[0] = 40, p[1] = 220, p[2] = 60;
      if (res_edge) p[0] = 230, p[1] = res_edge && ref_edge ? 200 : 40, p[2] = 40;
    }
  auto png = PngFromRgb(w, h, rgb);
  if (!png) return std::unexpected(png.error());
  out.png = std::move(*png);
  return out;
}

}  // namespace vg::dicom
