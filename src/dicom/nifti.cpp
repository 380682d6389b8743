#include "dicom/nifti.h"

#include <nifti/nifti1_io.h>
#include <zlib.h>

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <optional>

#include "core/checked_math.h"

namespace vg::dicom {
namespace {

using Vec3 = std::array<double, 3>;

// The voxel -> RAS affine of a grid.
mat44 RasAffine(const VolumeGeometry& g) {
  mat44 m{};
  for (int r = 0; r < 3; ++r) {
    const double sign = r < 2 ? -1.0 : 1.0;  // LPS -> RAS
    for (int c = 0; c < 3; ++c) m.m[r][c] = static_cast<float>(sign * g.direction[3 * c + r] * g.spacing[c]);
    m.m[r][3] = static_cast<float>(sign * g.origin[r]);
  }
  m.m[3][3] = 1;
  return m;
}

// 348-byte header + 4-byte extension flag, for `datatype` on grid `g`.
std::string NiftiHeader(const VolumeGeometry& g, int datatype, int intent) {
  const int dims[8] = {3, static_cast<int>(g.dims[0]), static_cast<int>(g.dims[1]), static_cast<int>(g.dims[2]), 1, 1, 1, 1};
  std::unique_ptr<nifti_image, decltype(&nifti_image_free)> nim(nifti_make_new_nim(dims, datatype, 0), nifti_image_free);
  const mat44 affine = RasAffine(g);
  nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
  nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
  nim->qto_xyz = affine;
  nim->sto_xyz = affine;
  float qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac;
  nifti_mat44_to_quatern(affine, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac);
  nim->quatern_b = qb;
  nim->quatern_c = qc;
  nim->quatern_d = qd;
  nim->qoffset_x = qx;
  nim->qoffset_y = qy;
  nim->qoffset_z = qz;
  nim->qfac = qfac;
  nim->dx = nim->pixdim[1] = static_cast<float>(g.spacing[0]);
  nim->dy = nim->pixdim[2] = static_cast<float>(g.spacing[1]);
  nim->dz = nim->pixdim[3] = static_cast<float>(g.spacing[2]);
  nim->xyz_units = NIFTI_UNITS_MM;
  nim->scl_slope = 1;
  nim->scl_inter = 0;
  nim->intent_code = intent;
  std::snprintf(nim->descrip, sizeof nim->descrip, "voxelgate");
  nifti_1_header header = nifti_convert_nim2nhdr(nim.get());
  header.vox_offset = 352;
  std::string out(reinterpret_cast<const char*>(&header), sizeof header);
  out.append(4, '\0');  // no extensions
  return out;
}

class GzipWriter {
 public:
  GzipWriter(const ByteSink& sink, int level) : sink_(sink) {
    stream_.zalloc = Z_NULL;
    stream_.zfree = Z_NULL;
    ok_ = deflateInit2(&stream_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~GzipWriter() { deflateEnd(&stream_); }
  Result<void> Write(std::string_view data) { return Pump(data, Z_NO_FLUSH); }
  Result<void> Finish() { return Pump({}, Z_FINISH); }

 private:
  Result<void> Pump(std::string_view data, int flush) {
    if (!ok_) return Fail(ErrorCode::kInternal, "cannot start gzip compression");
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream_.avail_in = static_cast<uInt>(data.size());
    do {
      stream_.next_out = reinterpret_cast<Bytef*>(buffer_);
      stream_.avail_out = sizeof buffer_;
      const int rc = deflate(&stream_, flush);
      if (rc == Z_STREAM_ERROR) return Fail(ErrorCode::kInternal, "gzip compression failed");
      const size_t produced = sizeof buffer_ - stream_.avail_out;
      if (produced > 0)
        if (auto r = sink_(std::string_view(buffer_, produced)); !r) return r;
      if (flush == Z_FINISH && rc == Z_STREAM_END) return {};
    } while (stream_.avail_out == 0 || (flush == Z_FINISH));
    return {};
  }

  const ByteSink& sink_;
  z_stream stream_{};
  bool ok_ = false;
  char buffer_[256 * 1024];
};

template <typename T>
Result<void> WriteGz(const VolumeGeometry& g, int datatype, int intent, const std::vector<T>& voxels,
                     const ByteSink& sink, int level) {
  if (static_cast<std::int64_t>(voxels.size()) != g.VoxelCount())
    return Fail(ErrorCode::kInternal, "voxel buffer does not match the geometry");
  auto writer = std::make_unique<GzipWriter>(sink, level);
  if (auto r = writer->Write(NiftiHeader(g, datatype, intent)); !r) return r;
  // Little-endian hosts only (x86-64, aarch64): the voxels are written as they lie.
  const char* bytes = reinterpret_cast<const char*>(voxels.data());
  const size_t total = voxels.size() * sizeof(T);
  constexpr size_t kChunk = 4 << 20;
  for (size_t at = 0; at < total; at += kChunk)
    if (auto r = writer->Write(std::string_view(bytes + at, std::min(kChunk, total - at))); !r) return r;
  return writer->Finish();
}

template <typename T>
double Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return static_cast<double>(v);
}

}  // namespace

bool LooksGzipped(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f && static_cast<unsigned char>(bytes[1]) == 0x8b;
}

GzipReader::GzipReader(std::string_view compressed) : compressed_(compressed) {
  stream_ = std::make_unique<z_stream>();
  ok_ = inflateInit2(stream_.get(), 15 + 32) == Z_OK;
  stream_->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream_->avail_in = static_cast<uInt>(std::min<std::size_t>(compressed.size(), UINT32_MAX));
  consumed_ = stream_->avail_in;
}

GzipReader::~GzipReader() {
  if (ok_) inflateEnd(stream_.get());
}

Result<void> GzipReader::InflateTo(std::string& out, std::uint64_t target) {
  if (!ok_) return Fail(ErrorCode::kInternal, "cannot start gzip decompression");
  char buffer[256 * 1024];
  while (out.size() < target && !ended_) {
    if (stream_->avail_in == 0 && consumed_ < compressed_.size()) {
      const std::size_t more = std::min<std::size_t>(compressed_.size() - consumed_, UINT32_MAX);
      stream_->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed_.data() + consumed_));
      stream_->avail_in = static_cast<uInt>(more);
      consumed_ += more;
    }
    const std::uint64_t want = std::min<std::uint64_t>(sizeof buffer, target - out.size());
    stream_->next_out = reinterpret_cast<Bytef*>(buffer);
    stream_->avail_out = static_cast<uInt>(want);
    const int rc = inflate(stream_.get(), Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
      return Fail(ErrorCode::kInvalidArgument, "the gzip data is damaged");
    const std::size_t produced = want - stream_->avail_out;
    out.append(buffer, produced);
    if (rc == Z_STREAM_END) ended_ = true;
    if (produced == 0 && stream_->avail_in == 0 && consumed_ >= compressed_.size()) break;  // truncated
  }
  return {};
}

Result<std::string> Gunzip(std::string_view bytes, std::uint64_t max_output) {
  GzipReader reader(bytes);
  std::string out;
  // One byte more than allowed tells "exactly the limit" from "more than the limit".
  if (auto r = reader.InflateTo(out, max_output + 1); !r) return std::unexpected(r.error());
  if (out.size() > max_output)
    return Fail(ErrorCode::kTooLarge, "the decompressed data exceeds " + std::to_string(max_output) + " bytes");
  if (!reader.ended()) return Fail(ErrorCode::kInvalidArgument, "the gzip data is truncated");
  return out;
}

Result<std::string> Gzip(std::string_view bytes, int level) {
  std::string out;
  ByteSink sink = [&](std::string_view chunk) -> Result<void> {
    out.append(chunk);
    return {};
  };
  GzipWriter writer(sink, level);
  if (auto r = writer.Write(bytes); !r) return std::unexpected(r.error());
  if (auto r = writer.Finish(); !r) return std::unexpected(r.error());
  return out;
}

Result<void> WriteNiftiGz(const Volume& volume, const ByteSink& sink, int level) {
  if (volume.type == VoxelType::kInt16)
    return WriteGz(volume.geometry, NIFTI_TYPE_INT16, NIFTI_INTENT_NONE, volume.int16_voxels, sink, level);
  return WriteGz(volume.geometry, NIFTI_TYPE_FLOAT32, NIFTI_INTENT_NONE, volume.float32_voxels, sink, level);
}

Result<void> WriteNiftiGz(const LabelVolume& labels, const ByteSink& sink, int level) {
  return WriteGz(labels.geometry, NIFTI_TYPE_UINT8, NIFTI_INTENT_LABEL, labels.labels, sink, level);
}

Result<std::string> NiftiGzBytes(const LabelVolume& labels, int level) {
  std::string out;
  auto written = WriteNiftiGz(
      labels,
      [&](std::string_view chunk) -> Result<void> {
        out.append(chunk);
        return {};
      },
      level);
  if (!written) return std::unexpected(written.error());
  return out;
}

Result<NiftiImage> ReadNifti(std::string_view bytes, std::int64_t max_voxels) {
  // A gzipped file is inflated in two steps: the header, then exactly the data it
  // declares (checked against the voxel limit first), never more: a gzip bomb stops there.
  std::string inflated;
  std::optional<GzipReader> gz;
  if (LooksGzipped(bytes)) {
    gz.emplace(bytes);
    if (auto r = gz->InflateTo(inflated, sizeof(nifti_1_header)); !r) return std::unexpected(r.error());
    bytes = inflated;
  }
  if (bytes.size() < sizeof(nifti_1_header)) return Fail(ErrorCode::kInvalidArgument, "not a NIfTI file: too short");
  nifti_1_header header;
  std::memcpy(&header, bytes.data(), sizeof header);
  if (header.sizeof_hdr != 348) {
    swap_nifti_header(&header, 1);
    if (header.sizeof_hdr != 348) return Fail(ErrorCode::kInvalidArgument, "not a NIfTI-1 file (sizeof_hdr is not 348)");
    return Fail(ErrorCode::kUnsupported, "big-endian NIfTI files are not read; save it little-endian");
  }
  if (std::memcmp(header.magic, "n+1", 4) != 0)
    return Fail(ErrorCode::kInvalidArgument, "not a single-file NIfTI-1 image (magic is not n+1)");
  if (header.dim[0] < 1 || header.dim[0] > 7) return Fail(ErrorCode::kInvalidArgument, "the NIfTI header has bad dimensions");
  for (int d = 4; d <= header.dim[0]; ++d)
    if (header.dim[d] > 1) return Fail(ErrorCode::kUnsupported, "4D NIfTI images are not read; give one 3D volume");
  std::int64_t n[3] = {1, 1, 1};
  for (int d = 1; d <= std::min<int>(3, header.dim[0]); ++d) {
    if (header.dim[d] < 1) return Fail(ErrorCode::kInvalidArgument, "the NIfTI header has bad dimensions");
    n[d - 1] = header.dim[d];
  }
  auto counted = ProductWithin({n[0], n[1], n[2]}, static_cast<std::uint64_t>(std::max<std::int64_t>(0, max_voxels)));
  if (!counted)
    return Fail(ErrorCode::kTooLarge, fmt::format("the NIfTI image has {}x{}x{} voxels, more than the limit of {}", n[0],
                                                  n[1], n[2], max_voxels));
  const std::int64_t voxels = static_cast<std::int64_t>(*counted);
  switch (header.datatype) {
    case NIFTI_TYPE_UINT8: case NIFTI_TYPE_INT8: case NIFTI_TYPE_INT16: case NIFTI_TYPE_UINT16:
    case NIFTI_TYPE_INT32: case NIFTI_TYPE_UINT32: case NIFTI_TYPE_FLOAT32: case NIFTI_TYPE_FLOAT64: break;
    default: return Fail(ErrorCode::kUnsupported, "NIfTI datatype " + std::to_string(header.datatype) + " is not read");
  }
  int bytes_per_voxel = 0, swap_size = 0;
  nifti_datatype_sizes(header.datatype, &bytes_per_voxel, &swap_size);
  // vox_offset is a float from the file: finite and small before it becomes an integer.
  if (!std::isfinite(header.vox_offset) || header.vox_offset < 352 || header.vox_offset > (1 << 30) || bytes_per_voxel <= 0)
    return Fail(ErrorCode::kInvalidArgument, "the NIfTI header is inconsistent");
  const std::int64_t offset = static_cast<std::int64_t>(header.vox_offset);
  const std::uint64_t needed = static_cast<std::uint64_t>(offset) + static_cast<std::uint64_t>(voxels) * bytes_per_voxel;
  // A gzipped file's voxels are inflated a slab at a time and decoded as they come (below):
  // the whole inflated data is never held, only the values.
  if (gz) {
    if (auto r = gz->InflateTo(inflated, static_cast<std::uint64_t>(offset)); !r) return std::unexpected(r.error());
    if (inflated.size() < static_cast<std::uint64_t>(offset))
      return Fail(ErrorCode::kInvalidArgument, "the NIfTI data is shorter than its header says");
  } else if (bytes.size() < needed) {
    return Fail(ErrorCode::kInvalidArgument, "the NIfTI data is shorter than its header says");
  }

  std::unique_ptr<nifti_image, decltype(&nifti_image_free)> nim(nifti_convert_nhdr2nim(header, "upload"), nifti_image_free);
  if (!nim) return Fail(ErrorCode::kInvalidArgument, "the NIfTI header cannot be interpreted");
  const mat44& m = nim->sform_code > 0 ? nim->sto_xyz : nim->qto_xyz;
  NiftiImage image;
  VolumeGeometry& g = image.geometry;
  g.dims = {n[0], n[1], n[2]};
  Vec3 axes[3];
  for (int c = 0; c < 3; ++c) {
    axes[c] = {-m.m[0][c], -m.m[1][c], m.m[2][c]};  // RAS -> LPS
    const double length = std::sqrt(axes[c][0] * axes[c][0] + axes[c][1] * axes[c][1] + axes[c][2] * axes[c][2]);
    if (length <= 0) return Fail(ErrorCode::kInvalidArgument, "the NIfTI affine is degenerate");
    g.spacing[c] = length;
    for (int r = 0; r < 3; ++r) g.direction[3 * c + r] = axes[c][r] / length;
  }
  g.origin = {-m.m[0][3], -m.m[1][3], m.m[2][3]};
  if (auto usable = CheckGeometry(g, max_voxels); !usable) return std::unexpected(usable.error());

  const double slope = (header.scl_slope == 0 || std::isnan(header.scl_slope)) ? 1.0 : header.scl_slope;
  const double inter = std::isnan(header.scl_inter) ? 0.0 : header.scl_inter;
  image.datatype = header.datatype;
  const bool as_bytes = header.datatype == NIFTI_TYPE_UINT8 && slope == 1.0 && inter == 0.0;
  if (as_bytes) image.bytes.resize(static_cast<std::size_t>(voxels));
  else image.values.resize(static_cast<std::size_t>(voxels));
  // Voxels [first, first + count) from `data`.
  auto decode = [&](const char* data, std::int64_t first, std::int64_t count) {
    if (as_bytes) {
      std::memcpy(image.bytes.data() + first, data, static_cast<std::size_t>(count));
      return;
    }
    for (std::int64_t j = 0; j < count; ++j) {
      const std::int64_t i = first + j;
      const char* p = data + j * bytes_per_voxel;
      double v = 0;
      switch (header.datatype) {
        case NIFTI_TYPE_UINT8: v = Load<std::uint8_t>(p); break;
        case NIFTI_TYPE_INT8: v = Load<std::int8_t>(p); break;
        case NIFTI_TYPE_INT16: v = Load<std::int16_t>(p); break;
        case NIFTI_TYPE_UINT16: v = Load<std::uint16_t>(p); break;
        case NIFTI_TYPE_INT32: v = Load<std::int32_t>(p); break;
        case NIFTI_TYPE_UINT32: v = Load<std::uint32_t>(p); break;
        case NIFTI_TYPE_FLOAT32: v = Load<float>(p); break;
        case NIFTI_TYPE_FLOAT64: v = Load<double>(p); break;
        default: break;  // refused above
      }
      image.values[i] = static_cast<float>(v * slope + inter);
    }
  };
  if (!gz) {
    decode(bytes.data() + offset, 0, voxels);
  } else {
    const std::int64_t slab = std::max<std::int64_t>(1, (8 << 20) / bytes_per_voxel);  // voxels per 8 MiB
    std::string chunk;
    for (std::int64_t first = 0; first < voxels; first += slab) {
      const std::int64_t count = std::min(slab, voxels - first);
      chunk.clear();
      if (auto r = gz->InflateTo(chunk, static_cast<std::uint64_t>(count) * bytes_per_voxel); !r)
        return std::unexpected(r.error());
      if (chunk.size() < static_cast<std::uint64_t>(count) * bytes_per_voxel)
        return Fail(ErrorCode::kInvalidArgument, "the NIfTI data is shorter than its header says");
      decode(chunk.data(), first, count);
    }
  }

  MakeRightHanded(image);
  return image;
}

void MakeRightHanded(NiftiImage& image) {
  VolumeGeometry& g = image.geometry;
  const auto& n = g.dims;
  // A left-handed grid (third axis against row x column): walk k backwards instead.
  const Vec3 row{g.direction[0], g.direction[1], g.direction[2]}, col{g.direction[3], g.direction[4], g.direction[5]};
  const Vec3 cross{row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2], row[0] * col[1] - row[1] * col[0]};
  const double handedness = cross[0] * g.direction[6] + cross[1] * g.direction[7] + cross[2] * g.direction[8];
  if (handedness < 0 && n[2] > 1) {
    g.origin = g.PatientPosition(0, 0, static_cast<double>(n[2] - 1));
    for (int r = 0; r < 3; ++r) g.direction[6 + r] = -g.direction[6 + r];
    const std::int64_t plane = n[0] * n[1];
    auto reverse_slices = [&](auto& v) {
      for (std::int64_t k = 0; k < n[2] / 2; ++k)
        std::swap_ranges(v.begin() + k * plane, v.begin() + (k + 1) * plane, v.begin() + (n[2] - 1 - k) * plane);
    };
    if (image.IsBytes()) reverse_slices(image.bytes);
    else reverse_slices(image.values);
  } else if (handedness < 0) {
    for (int r = 0; r < 3; ++r) g.direction[6 + r] = cross[r];
  }
}

Result<LabelVolume> LabelsFromNifti(const NiftiImage& image) {
  LabelVolume labels;
  labels.geometry = image.geometry;
  if (image.IsBytes()) {
    labels.labels = image.bytes;
    return labels;
  }
  labels.labels.resize(image.values.size());
  for (size_t i = 0; i < image.values.size(); ++i) {
    const double v = image.values[i];
    if (v < 0 || v > 255 || v != std::floor(v))
      return Fail(ErrorCode::kInvalidArgument, "a label image holds a value that is not an integer in 0..255");
    labels.labels[i] = static_cast<std::uint8_t>(v);
  }
  return labels;
}

Result<std::string> NiftiGzLayers(const std::vector<LabelVolume>& layers, int level) {
  if (layers.empty()) return Fail(ErrorCode::kInternal, "no label layers");
  if (layers.size() == 1) return NiftiGzBytes(layers.front(), level);
  const VolumeGeometry& g = layers.front().geometry;
  for (const auto& layer : layers)
    if (static_cast<std::int64_t>(layer.labels.size()) != g.VoxelCount() || layer.geometry.dims != g.dims)
      return Fail(ErrorCode::kInternal, "label layers of different grids");
  std::string header = NiftiHeader(g, NIFTI_TYPE_UINT8, NIFTI_INTENT_LABEL);
  nifti_1_header h;
  std::memcpy(&h, header.data(), sizeof h);
  h.dim[0] = 4;
  h.dim[4] = static_cast<short>(layers.size());
  h.pixdim[4] = 1;
  std::memcpy(header.data(), &h, sizeof h);
  std::string out;
  ByteSink sink = [&](std::string_view chunk) -> Result<void> {
    out.append(chunk);
    return {};
  };
  GzipWriter writer(sink, level);
  if (auto r = writer.Write(header); !r) return std::unexpected(r.error());
  for (const auto& layer : layers)
    if (auto r = writer.Write(std::string_view(reinterpret_cast<const char*>(layer.labels.data()), layer.labels.size())); !r)
      return std::unexpected(r.error());
  if (auto r = writer.Finish(); !r) return std::unexpected(r.error());
  return out;
}

Result<std::vector<LabelVolume>> ReadNiftiLayers(std::string_view bytes, std::int64_t max_voxels) {
  std::string inflated;
  if (LooksGzipped(bytes)) {
    auto whole = Gunzip(bytes, static_cast<std::uint64_t>(std::max<std::int64_t>(0, max_voxels)) + (1 << 16));
    if (!whole) return std::unexpected(whole.error());
    inflated = std::move(*whole);
    bytes = inflated;
  }
  if (bytes.size() < sizeof(nifti_1_header)) return Fail(ErrorCode::kInvalidArgument, "not a NIfTI file: too short");
  nifti_1_header h;
  std::memcpy(&h, bytes.data(), sizeof h);
  if (h.sizeof_hdr != 348 || h.dim[0] != 4 || h.dim[4] <= 1) {
    auto image = ReadNifti(bytes, max_voxels);
    if (!image) return std::unexpected(image.error());
    auto labels = LabelsFromNifti(*image);
    if (!labels) return std::unexpected(labels.error());
    return std::vector<LabelVolume>{std::move(*labels)};
  }
  if (h.datatype != NIFTI_TYPE_UINT8 || h.dim[4] > 255 || !std::isfinite(h.vox_offset) || h.vox_offset < 352 ||
      h.vox_offset > 4096)
    return Fail(ErrorCode::kInvalidArgument, "not a layered label image");
  const int count = h.dim[4];
  // Each layer is read as the 3-D image it is: the header with dim[4] = 1 and its bytes.
  nifti_1_header three_d = h;
  three_d.dim[0] = 3;
  three_d.dim[4] = 1;
  std::string layer_file(bytes.substr(0, static_cast<std::size_t>(h.vox_offset)));
  std::memcpy(layer_file.data(), &three_d, sizeof three_d);
  const std::size_t header_size = layer_file.size();
  std::vector<LabelVolume> layers;
  std::uint64_t layer_bytes = 0;
  for (int l = 0; l < count; ++l) {
    layer_file.resize(header_size);
    if (l == 0) {
      std::uint64_t n = 1;
      for (int d = 1; d <= 3; ++d) {
        if (h.dim[d] < 1) return Fail(ErrorCode::kInvalidArgument, "the NIfTI header has bad dimensions");
        n *= static_cast<std::uint64_t>(h.dim[d]);
      }
      if (n * static_cast<std::uint64_t>(count) > static_cast<std::uint64_t>(std::max<std::int64_t>(0, max_voxels)))
        return Fail(ErrorCode::kTooLarge, "the layered label image is larger than the limit");
      layer_bytes = n;
    }
    const std::uint64_t at = header_size + layer_bytes * static_cast<std::uint64_t>(l);
    if (bytes.size() < at + layer_bytes) return Fail(ErrorCode::kInvalidArgument, "the NIfTI data is shorter than its header says");
    layer_file.append(bytes.substr(static_cast<std::size_t>(at), static_cast<std::size_t>(layer_bytes)));
    auto image = ReadNifti(layer_file, max_voxels);
    if (!image) return std::unexpected(image.error());
    auto labels = LabelsFromNifti(*image);
    if (!labels) return std::unexpected(labels.error());
    layers.push_back(std::move(*labels));
  }
  return layers;
}

}  // namespace vg::dicom
