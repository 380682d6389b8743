#include "dicom/volume.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>

#include "core/checked_math.h"
#include "dicom/dcmtk_io.h"
#include "dicom/mosaic.h"
#include "dicom/pixels.h"

namespace vg::dicom {
namespace {

using Vec3 = std::array<double, 3>;

double Dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double Norm(const Vec3& a) { return std::sqrt(Dot(a, a)); }

}  // namespace

namespace volume_detail {
// One slice before ordering: where it lies and how to read its pixels.
struct Slice {
  Vec3 position{};
  std::array<double, 6> orientation{};
  std::array<double, 2> pixel_spacing{};  // between rows, between columns (DICOM order)
  double slice_thickness = 0;
  double slope = 1, intercept = 0;
  std::int64_t rows = 0, columns = 0;
  std::string volume_key;  // echo / temporal position: tells volumes of one series apart
  std::string frame_of_reference_uid;  // its own: some archives give each slice another one
  SliceSource source;
  std::shared_ptr<DecodedPixels> pixels;  // null with headers only
  std::int64_t frame_index = 0;           // into pixels
  double distance = 0;                    // along the normal, set by Build
};
}  // namespace volume_detail

namespace {
using volume_detail::Slice;

std::vector<double> GetDoubles(DcmItem& item, const DcmTagKey& tag) {
  std::vector<double> out;
  Float64 value = 0;
  for (unsigned long i = 0; item.findAndGetFloat64(tag, value, i).good(); ++i) out.push_back(value);
  return out;
}

std::optional<double> GetDouble(DcmItem& item, const DcmTagKey& tag) {
  Float64 value = 0;
  if (item.findAndGetFloat64(tag, value).good()) return value;
  return std::nullopt;
}

// The first item of `sequence` in the frame's own functional groups, else in the shared ones.
DcmItem* FunctionalGroup(DcmItem* per_frame, DcmItem* shared, const DcmTagKey& sequence) {
  DcmItem* found = nullptr;
  if (per_frame && per_frame->findAndGetSequenceItem(sequence, found, 0).good() && found) return found;
  if (shared && shared->findAndGetSequenceItem(sequence, found, 0).good() && found) return found;
  return nullptr;
}

bool AllFinite(const std::vector<double>& values) {
  return std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); });
}

std::string Where(const Vec3& p) { return fmt::format("({:.1f}, {:.1f}, {:.1f}) mm", p[0], p[1], p[2]); }

// Fills the geometry and rescale of a classic (single-frame or legacy multi-frame) image.
Result<void> ReadClassicHeader(DcmDataset& ds, Slice& slice) {
  auto position = GetDoubles(ds, DCM_ImagePositionPatient);
  auto orientation = GetDoubles(ds, DCM_ImageOrientationPatient);
  auto spacing = GetDoubles(ds, DCM_PixelSpacing);
  if (position.size() != 3) return Fail(ErrorCode::kInvalidArgument, "an image has no ImagePositionPatient");
  if (orientation.size() != 6) return Fail(ErrorCode::kInvalidArgument, "an image has no ImageOrientationPatient");
  if (spacing.size() != 2) return Fail(ErrorCode::kInvalidArgument, "an image has no PixelSpacing");
  if (!AllFinite(position) || !AllFinite(orientation) || !AllFinite(spacing))
    return Fail(ErrorCode::kUnprocessable, "an image's position, orientation or pixel spacing is not a finite number");
  std::copy(position.begin(), position.end(), slice.position.begin());
  std::copy(orientation.begin(), orientation.end(), slice.orientation.begin());
  std::copy(spacing.begin(), spacing.end(), slice.pixel_spacing.begin());
  slice.slice_thickness = GetDouble(ds, DCM_SliceThickness).value_or(0);
  slice.slope = GetDouble(ds, DCM_RescaleSlope).value_or(1);
  slice.intercept = GetDouble(ds, DCM_RescaleIntercept).value_or(0);
  slice.volume_key = GetString(ds, DCM_EchoNumbers) + "|" + GetString(ds, DCM_TemporalPositionIdentifier);
  return {};
}

// Fills one frame of an enhanced multi-frame object from its functional groups.
Result<void> ReadFrameHeader(DcmItem* per_frame, DcmItem* shared, Slice& slice) {
  DcmItem* plane_position = FunctionalGroup(per_frame, shared, DCM_PlanePositionSequence);
  DcmItem* plane_orientation = FunctionalGroup(per_frame, shared, DCM_PlaneOrientationSequence);
  DcmItem* measures = FunctionalGroup(per_frame, shared, DCM_PixelMeasuresSequence);
  if (!plane_position || !plane_orientation || !measures)
    return Fail(ErrorCode::kInvalidArgument,
                "a frame lacks its plane position, plane orientation or pixel measures functional group");
  auto position = GetDoubles(*plane_position, DCM_ImagePositionPatient);
  auto orientation = GetDoubles(*plane_orientation, DCM_ImageOrientationPatient);
  auto spacing = GetDoubles(*measures, DCM_PixelSpacing);
  if (position.size() != 3 || orientation.size() != 6 || spacing.size() != 2)
    return Fail(ErrorCode::kInvalidArgument, "a frame's position, orientation or pixel spacing is incomplete");
  if (!AllFinite(position) || !AllFinite(orientation) || !AllFinite(spacing))
    return Fail(ErrorCode::kUnprocessable, "a frame's position, orientation or pixel spacing is not a finite number");
  std::copy(position.begin(), position.end(), slice.position.begin());
  std::copy(orientation.begin(), orientation.end(), slice.orientation.begin());
  std::copy(spacing.begin(), spacing.end(), slice.pixel_spacing.begin());
  slice.slice_thickness = GetDouble(*measures, DCM_SliceThickness).value_or(0);
  if (DcmItem* transform = FunctionalGroup(per_frame, shared, DCM_PixelValueTransformationSequence)) {
    slice.slope = GetDouble(*transform, DCM_RescaleSlope).value_or(1);
    slice.intercept = GetDouble(*transform, DCM_RescaleIntercept).value_or(0);
  }
  std::string key;
  if (DcmItem* content = FunctionalGroup(per_frame, nullptr, DCM_FrameContentSequence))
    key = GetString(*content, DCM_TemporalPositionIndex) + "|" + GetString(*content, DCM_StackID);
  if (DcmItem* echo = FunctionalGroup(per_frame, nullptr, DCM_MREchoSequence))
    key += "|" + GetString(*echo, DCM_EffectiveEchoTime);
  slice.volume_key = key;
  return {};
}

// Rescaled values fit int16 exactly when slope and intercept are integers and the extremes fit.
bool FitsInt16(const std::vector<Slice>& slices) {
  for (const Slice& s : slices)
    if (s.slope != std::floor(s.slope) || s.intercept != std::floor(s.intercept)) return false;
  double low = 0, high = 0;
  bool first = true;
  for (const Slice& s : slices) {
    const std::int64_t n = s.rows * s.columns;
    std::int32_t min = std::numeric_limits<std::int32_t>::max(), max = std::numeric_limits<std::int32_t>::min();
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int32_t v = s.pixels->Sample(s.frame_index, i);
      min = std::min(min, v);
      max = std::max(max, v);
    }
    const double a = min * s.slope + s.intercept, b = max * s.slope + s.intercept;
    low = first ? std::min(a, b) : std::min({low, a, b});
    high = first ? std::max(a, b) : std::max({high, a, b});
    first = false;
  }
  return low >= std::numeric_limits<std::int16_t>::min() && high <= std::numeric_limits<std::int16_t>::max();
}

template <typename Out>
void CopySlices(const std::vector<Slice>& slices, std::vector<Out>& out, std::int64_t first, std::int64_t last) {
  for (std::int64_t k = first; k < last; ++k) {
    const Slice& s = slices[k];
    const std::int64_t n = s.rows * s.columns;
    Out* dst = out.data() + k * n;
    const DecodedPixels& px = *s.pixels;
    const bool identity = s.slope == 1 && s.intercept == 0;
    // The common case (16-bit samples) without the per-sample switch.
    if (px.layout.bits_allocated == 16) {
      const int bits = px.layout.bits_stored;
      const std::uint32_t mask = bits >= 16 ? 0xFFFFu : ((1u << bits) - 1);
      const std::uint32_t sign = 1u << (bits - 1);
      const auto* src = reinterpret_cast<const std::uint16_t*>(px.frame_data[s.frame_index]);
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint32_t raw = src[i] & mask;
        std::int32_t v = (px.layout.is_signed && (raw & sign)) ? static_cast<std::int32_t>(raw) - (1 << bits)
                                                               : static_cast<std::int32_t>(raw);
        dst[i] = identity ? static_cast<Out>(v) : static_cast<Out>(v * s.slope + s.intercept);
      }
    } else {
      for (std::int64_t i = 0; i < n; ++i) {
        const std::int32_t v = px.Sample(s.frame_index, i);
        dst[i] = identity ? static_cast<Out>(v) : static_cast<Out>(v * s.slope + s.intercept);
      }
    }
  }
}

template <typename Out>
void CopyParallel(const std::vector<Slice>& slices, std::vector<Out>& out) {
  const std::int64_t count = static_cast<std::int64_t>(slices.size());
  const std::int64_t workers = std::clamp<std::int64_t>(std::thread::hardware_concurrency(), 1, 8);
  if (workers == 1 || count < 8) return CopySlices(slices, out, 0, count);
  std::vector<std::thread> threads;
  const std::int64_t chunk = (count + workers - 1) / workers;
  for (std::int64_t w = 0; w < workers; ++w) {
    const std::int64_t first = w * chunk, last = std::min(count, first + chunk);
    if (first < last) threads.emplace_back([&, first, last] { CopySlices(slices, out, first, last); });
  }
  for (auto& t : threads) t.join();
}

}  // namespace

std::array<double, 3> VolumeGeometry::PatientPosition(double i, double j, double k) const {
  std::array<double, 3> p{};
  for (int a = 0; a < 3; ++a)
    p[a] = origin[a] + i * spacing[0] * direction[a] + j * spacing[1] * direction[3 + a] +
           k * spacing[2] * direction[6 + a];
  return p;
}

bool VolumeGeometry::SameGrid(const VolumeGeometry& other, double tolerance_mm) const {
  if (dims != other.dims) return false;
  // Compare where the grid's corners land: this weighs spacing and direction by the extent.
  for (double i : {0.0, double(dims[0] - 1)})
    for (double j : {0.0, double(dims[1] - 1)})
      for (double k : {0.0, double(dims[2] - 1)}) {
        auto a = PatientPosition(i, j, k), b = other.PatientPosition(i, j, k);
        // Written so that NaN (from a grid that is not finite) fails the comparison.
        if (!(Norm({a[0] - b[0], a[1] - b[1], a[2] - b[2]}) <= tolerance_mm)) return false;
      }
  return true;
}

Result<void> CheckGeometry(const VolumeGeometry& g, std::int64_t max_voxels) {
  if (g.dims[0] < 1 || g.dims[1] < 1 || g.dims[2] < 1)
    return Fail(ErrorCode::kUnprocessable, "the grid has a dimension that is not positive");
  if (!ProductWithin({g.dims[0], g.dims[1], g.dims[2]}, static_cast<std::uint64_t>(std::max<std::int64_t>(0, max_voxels))))
    return Fail(ErrorCode::kTooLarge, fmt::format("the grid of {}x{}x{} voxels passes the limit of {} voxels", g.dims[0],
                                                  g.dims[1], g.dims[2], max_voxels));
  for (double s : g.spacing)
    if (!std::isfinite(s) || !(s > 0) || s > 10000)
      return Fail(ErrorCode::kUnprocessable, "the grid's spacing is not a finite number of millimetres above 0");
  for (double o : g.origin)
    if (!std::isfinite(o)) return Fail(ErrorCode::kUnprocessable, "the grid's origin is not finite");
  for (double d : g.direction)
    if (!std::isfinite(d)) return Fail(ErrorCode::kUnprocessable, "the grid's orientation is not finite");
  const Vec3 row{g.direction[0], g.direction[1], g.direction[2]}, column{g.direction[3], g.direction[4], g.direction[5]};
  if (std::abs(Norm(row) - 1) > 1e-3 || std::abs(Norm(column) - 1) > 1e-3 || std::abs(Dot(row, column)) > 1e-3)
    return Fail(ErrorCode::kUnprocessable, "the grid's row and column directions are not orthogonal unit vectors");
  return {};
}

bool IsVolumeImageClass(std::string_view uid) {
  static const std::set<std::string_view> kImages = {
      "1.2.840.10008.5.1.4.1.1.2",      // CT
      "1.2.840.10008.5.1.4.1.1.2.1",    // Enhanced CT
      "1.2.840.10008.5.1.4.1.1.2.2",    // Legacy Converted Enhanced CT
      "1.2.840.10008.5.1.4.1.1.4",      // MR
      "1.2.840.10008.5.1.4.1.1.4.1",    // Enhanced MR
      "1.2.840.10008.5.1.4.1.1.4.4",    // Legacy Converted Enhanced MR
      "1.2.840.10008.5.1.4.1.1.128",    // PET
      "1.2.840.10008.5.1.4.1.1.130",    // Enhanced PET
      "1.2.840.10008.5.1.4.1.1.128.1",  // Legacy Converted Enhanced PET
      "1.2.840.10008.5.1.4.1.1.20",     // NM
      "1.2.840.10008.5.1.4.1.1.7",      // Secondary Capture (some pipelines make volumes of these)
      "1.2.840.10008.5.1.4.1.1.7.2",    // Multi-frame Grayscale Byte SC
      "1.2.840.10008.5.1.4.1.1.7.3",    // Multi-frame Grayscale Word SC
      "1.2.840.10008.5.1.4.1.1.481.1",  // RT Image
  };
  return kImages.contains(uid);
}

struct VolumeAssembler::Impl {
  VolumeOptions options;
  std::mutex mutex;
  std::vector<volume_detail::Slice> slices;
  std::optional<Error> first_error;
  std::string modality, study_uid, series_uid, frame_of_reference_uid;
  // Voxels of every slice added so far: the limit is kept while instances are decoded,
  // not only once the whole series sits in memory.
  std::atomic<std::uint64_t> voxels{0};
};

VolumeAssembler::VolumeAssembler(VolumeOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
}
VolumeAssembler::~VolumeAssembler() = default;

Result<void> VolumeAssembler::Add(std::string_view part10) {
  auto fail = [&](Error error) -> Result<void> {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->first_error) impl_->first_error = error;
    return std::unexpected(std::move(error));
  };
  auto loaded_result = LoadFromMemory(part10);
  if (!loaded_result) return fail(loaded_result.error());
  auto loaded = std::make_shared<LoadedFile>(std::move(*loaded_result));
  DcmDataset& ds = *loaded->dataset;
  SliceSource source;
  source.sop_uid = GetString(ds, DCM_SOPInstanceUID);
  source.sop_class_uid = GetString(ds, DCM_SOPClassUID);
  std::int64_t rows = 0, columns = 0;
  {
    Uint16 r = 0, c = 0;
    ds.findAndGetUint16(DCM_Rows, r);
    ds.findAndGetUint16(DCM_Columns, c);
    rows = r;
    columns = c;
  }
  long frames = 1;
  ds.findAndGetLongInt(DCM_NumberOfFrames, frames);
  if (frames < 1) frames = 1;

  std::vector<Slice> found;
  DcmSequenceOfItems* per_frame_groups = nullptr;
  if (ds.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, per_frame_groups).good() && per_frame_groups) {
    DcmItem* shared = nullptr;
    ds.findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0);
    if (static_cast<long>(per_frame_groups->card()) != frames)
      return fail(Error{ErrorCode::kInvalidArgument, "the per-frame functional groups do not match NumberOfFrames", {}});
    for (long f = 0; f < frames; ++f) {
      Slice slice;
      if (auto r = ReadFrameHeader(per_frame_groups->getItem(f), shared, slice); !r) return fail(r.error());
      slice.source = source;
      slice.source.frame = f + 1;
      slice.frame_index = f;
      found.push_back(std::move(slice));
    }
  } else {
    if (frames > 1)
      return fail(Error{ErrorCode::kUnsupported,
                        "a multi-frame image without per-frame positions cannot be placed in a volume", {}});
    Slice slice;
    if (auto r = ReadClassicHeader(ds, slice); !r) return fail(r.error());
    slice.source = source;
    found.push_back(std::move(slice));
  }
  auto mosaic = ReadMosaicLayout(ds);
  if (!mosaic) return fail(mosaic.error());
  if (*mosaic) {
    // One image, many slices: each tile becomes a slice at its own position.
    Slice model = found.front();
    found.clear();
    rows = (*mosaic)->tile_rows;
    columns = (*mosaic)->tile_columns;
    for (int k = 0; k < (*mosaic)->images; ++k) {
      Slice slice = model;
      for (int a = 0; a < 3; ++a) slice.position[a] = (*mosaic)->first_position[a] + k * (*mosaic)->step[a];
      slice.frame_index = k;
      found.push_back(std::move(slice));
    }
  }
  {
    const std::uint64_t added = static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(columns) * found.size();
    const std::uint64_t total = impl_->voxels.fetch_add(added) + added;
    if (total > static_cast<std::uint64_t>(std::max<std::int64_t>(0, impl_->options.max_voxels)))
      return fail(Error{ErrorCode::kTooLarge,
                        fmt::format("the series has more than the limit of {} voxels", impl_->options.max_voxels), {}});
  }
  std::shared_ptr<DecodedPixels> pixels;
  if (!impl_->options.headers_only) {
    auto decoded = DecodeFrames(loaded);
    if (!decoded) return fail(decoded.error());
    if (*mosaic) {
      auto tiles = SplitMosaic(*decoded, **mosaic);
      if (!tiles) return fail(tiles.error());
      decoded = std::move(tiles);
    }
    pixels = std::make_shared<DecodedPixels>(std::move(*decoded));
  }
  const std::string frame_of_reference = GetString(ds, DCM_FrameOfReferenceUID);
  for (Slice& slice : found) {
    slice.rows = rows;
    slice.columns = columns;
    slice.pixels = pixels;
    slice.frame_of_reference_uid = frame_of_reference;
  }
  std::lock_guard lock(impl_->mutex);
  if (impl_->slices.empty()) {
    impl_->modality = GetString(ds, DCM_Modality);
    impl_->study_uid = GetString(ds, DCM_StudyInstanceUID);
    impl_->series_uid = GetString(ds, DCM_SeriesInstanceUID);
    impl_->frame_of_reference_uid = GetString(ds, DCM_FrameOfReferenceUID);
  }
  for (Slice& slice : found) impl_->slices.push_back(std::move(slice));
  return {};
}

Result<Volume> VolumeAssembler::Build() {
  if (impl_->first_error) return std::unexpected(*impl_->first_error);
  std::vector<Slice>& slices = impl_->slices;
  const VolumeOptions& options = impl_->options;
  if (slices.empty()) return Fail(ErrorCode::kInvalidArgument, "the series has no image slices");

  const Slice& first = slices.front();
  for (const Slice& s : slices) {
    if (s.rows != first.rows || s.columns != first.columns)
      return Fail(ErrorCode::kInvalidArgument, fmt::format("slices differ in size ({}x{} and {}x{})", first.columns,
                                                           first.rows, s.columns, s.rows));
    for (int a = 0; a < 6; ++a)
      if (std::abs(s.orientation[a] - first.orientation[a]) > 1e-4)
        return Fail(ErrorCode::kInvalidArgument, "mixed orientations: the slices are not parallel planes of one stack");
    for (int a = 0; a < 2; ++a)
      if (std::abs(s.pixel_spacing[a] - first.pixel_spacing[a]) > 1e-4 * std::max(1.0, first.pixel_spacing[a]))
        return Fail(ErrorCode::kInvalidArgument, "the slices have different pixel spacings");
  }
  Vec3 row{first.orientation[0], first.orientation[1], first.orientation[2]};
  Vec3 column{first.orientation[3], first.orientation[4], first.orientation[5]};
  if (std::abs(Norm(row) - 1) > 1e-3 || std::abs(Norm(column) - 1) > 1e-3 || std::abs(Dot(row, column)) > 1e-3)
    return Fail(ErrorCode::kInvalidArgument, "ImageOrientationPatient is not two orthogonal unit vectors");
  for (auto* v : {&row, &column}) {
    const double n = Norm(*v);
    for (double& x : *v) x /= n;
  }
  const Vec3 normal = Cross(row, column);
  for (Slice& s : slices) s.distance = Dot(s.position, normal);
  std::stable_sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) { return a.distance < b.distance; });

  // Several slices at one position: duplicates, or several volumes (echoes, phases).
  constexpr double kSamePosition = 0.01;  // mm
  std::vector<size_t> group_sizes;
  for (size_t i = 0; i < slices.size();) {
    size_t j = i + 1;
    while (j < slices.size() && slices[j].distance - slices[i].distance < kSamePosition) ++j;
    group_sizes.push_back(j - i);
    i = j;
  }
  if (group_sizes.size() < slices.size()) {
    const size_t k = group_sizes.front();
    const bool uniform = std::all_of(group_sizes.begin(), group_sizes.end(), [&](size_t g) { return g == k; });
    std::set<std::string> keys;
    for (const Slice& s : slices) keys.insert(s.volume_key);
    if (uniform && k > 1 && keys.size() > 1)
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("the series holds {} volumes ({} slices at each of {} positions, e.g. several echoes "
                              "or phases); split it into one series per volume first",
                              k, k, group_sizes.size()));
    size_t at = 0;
    for (size_t g : group_sizes) {
      if (g > 1)
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("duplicated slice: {} slices at {}", g, Where(slices[at].position)));
      at += g;
    }
  }

  const std::int64_t count = static_cast<std::int64_t>(slices.size());
  double slice_spacing = 0;
  if (count == 1) {
    slice_spacing = first.slice_thickness > 0 ? first.slice_thickness : 1.0;
  } else {
    std::vector<double> gaps;
    for (std::int64_t k = 1; k < count; ++k) gaps.push_back(slices[k].distance - slices[k - 1].distance);
    std::vector<double> sorted = gaps;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    const double typical = sorted[sorted.size() / 2];
    for (std::int64_t k = 1; k < count; ++k) {
      const double gap = gaps[k - 1];
      if (gap > 1.5 * typical) {
        const auto missing = static_cast<std::int64_t>(std::llround(gap / typical)) - 1;
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{} slice{} missing between {} and {} (slices are {:.3g} mm apart, this gap is "
                                "{:.3g} mm)",
                                missing, missing == 1 ? "" : "s", Where(slices[k - 1].position),
                                Where(slices[k].position), typical, gap));
      }
    }
    slice_spacing = (slices.back().distance - slices.front().distance) / static_cast<double>(count - 1);
    for (double gap : gaps)
      if (std::abs(gap - slice_spacing) > std::max(0.01, options.spacing_tolerance * slice_spacing))
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("uneven slice spacing: gaps from {:.3g} to {:.3g} mm (tolerance {:.0f}%)",
                                *std::min_element(gaps.begin(), gaps.end()), *std::max_element(gaps.begin(), gaps.end()),
                                options.spacing_tolerance * 100));
    // The stack must run along the normal: a sideways drift is a tilted gantry.
    const Vec3& start = slices.front().position;
    const Vec3& end = slices.back().position;
    const Vec3 run{end[0] - start[0], end[1] - start[1], end[2] - start[2]};
    const double axial = Dot(run, normal);
    const Vec3 lateral{run[0] - axial * normal[0], run[1] - axial * normal[1], run[2] - axial * normal[2]};
    const double tilt = std::atan2(Norm(lateral), std::abs(axial)) * 180.0 / M_PI;
    if (tilt > options.max_tilt_degrees)
      return Fail(ErrorCode::kUnsupported,
                  fmt::format("gantry tilt of {:.1f} degrees: tilted stacks are not resampled into volumes", tilt));
  }

  Volume volume;
  VolumeGeometry& g = volume.geometry;
  g.dims = {first.columns, first.rows, count};
  if (first.columns <= 0 || first.rows <= 0) return Fail(ErrorCode::kInvalidArgument, "the slices have no Rows/Columns");
  // PixelSpacing is (between rows, between columns): x steps along a row use the second.
  g.spacing = {first.pixel_spacing[1], first.pixel_spacing[0], slice_spacing};
  g.origin = slices.front().position;
  g.direction = {row[0], row[1], row[2], column[0], column[1], column[2], normal[0], normal[1], normal[2]};
  if (auto usable = CheckGeometry(g, options.max_voxels); !usable) return std::unexpected(usable.error());
  volume.modality = impl_->modality;
  volume.study_uid = impl_->study_uid;
  volume.series_uid = impl_->series_uid;
  // The first slice in space, not the first one read (threads read them in any order).
  volume.frame_of_reference_uid = slices.front().frame_of_reference_uid;
  for (const Slice& s : slices) volume.slices.push_back(s.source);
  if (options.headers_only) return volume;

  if (FitsInt16(slices)) {
    volume.type = VoxelType::kInt16;
    volume.int16_voxels.resize(g.VoxelCount());
    CopyParallel(slices, volume.int16_voxels);
  } else {
    volume.type = VoxelType::kFloat32;
    volume.float32_voxels.resize(g.VoxelCount());
    CopyParallel(slices, volume.float32_voxels);
  }
  slices.clear();  // release the decoded files
  return volume;
}

Result<Volume> AssembleVolume(const std::vector<std::string_view>& files, VolumeOptions options, int threads) {
  VolumeAssembler assembler(options);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (size_t i = next++; i < files.size() && !failed; i = next++)
      if (!assembler.Add(files[i])) failed = true;
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return assembler.Build();
}

}  // namespace vg::dicom
