// ct-lungs: the left and right lung of a chest CT, with ITK.
//
// 1. Work at about 1.6 mm (block-averaged), where a chest CT is ~10 M voxels.
// 2. Air: HU < -400. Air connected to the image's sides is outside the body; what is left
//    and large is lungs plus airways (bowel gas is much smaller, and dropped).
// 3. Separate the lungs: erode (a threshold on the distance to the background) until the
//    two largest pieces are of comparable size; they are the two lungs' cores. The
//    trachea and main bronchi, thinner than the erosion, vanish or stay small.
// 4. Grow each core back within the air mask, to the nearest core, no further than it
//    was eroded: the mediastinal airways are further away and stay out.
// 5. Close each lung (3 mm) and fill the holes of each axial slice: vessels become lung.
// 6. Back to the input grid; the lung on the patient's left (larger LPS x) is label 2.
#include <itkBinShrinkImageFilter.h>
#include <itkConnectedComponentImageFilter.h>
#include <itkImage.h>
#include <itkImageRegionConstIterator.h>
#include <itkSignedMaurerDistanceMapImageFilter.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <map>

#include "algorithms/algorithm.h"

namespace vg::algorithms {
namespace {

using HuImage = itk::Image<short, 3>;
using MaskImage = itk::Image<unsigned char, 3>;
using CcImage = itk::Image<unsigned int, 3>;
using FloatImage = itk::Image<float, 3>;

constexpr short kAirBelowHu = -400;
constexpr double kMinLungsMl = 300;       // all candidate air together, below this: no lungs
constexpr double kCloseMm = 3.0;

Result<void> Stopped() { return Fail(ErrorCode::kUnavailable, "cancelled"); }

HuImage::Pointer ToItk(const dicom::Volume& v) {
  const auto& g = v.geometry;
  auto image = HuImage::New();
  HuImage::RegionType region;
  region.SetSize({static_cast<itk::SizeValueType>(g.dims[0]), static_cast<itk::SizeValueType>(g.dims[1]),
                  static_cast<itk::SizeValueType>(g.dims[2])});
  image->SetRegions(region);
  image->Allocate();
  HuImage::SpacingType spacing;
  HuImage::PointType origin;
  HuImage::DirectionType direction;
  for (int a = 0; a < 3; ++a) {
    spacing[a] = g.spacing[a];
    origin[a] = g.origin[a];
    for (int r = 0; r < 3; ++r) direction[r][a] = g.direction[3 * a + r];
  }
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
  short* out = image->GetBufferPointer();
  const std::int64_t n = g.VoxelCount();
  if (v.type == dicom::VoxelType::kInt16) {
    std::copy(v.int16_voxels.begin(), v.int16_voxels.end(), out);
  } else {
    for (std::int64_t i = 0; i < n; ++i)
      out[i] = static_cast<short>(std::clamp(std::lround(v.float32_voxels[i]), -32768l, 32767l));
  }
  return image;
}

template <typename T>
typename itk::Image<T, 3>::Pointer Like(const itk::ImageBase<3>* model, T fill) {
  auto image = itk::Image<T, 3>::New();
  image->CopyInformation(model);
  image->SetRegions(model->GetLargestPossibleRegion());
  image->Allocate();
  image->FillBuffer(fill);
  return image;
}

// Signed distance (mm) to the mask's boundary: negative inside, positive outside.
FloatImage::Pointer SignedDistance(const MaskImage* mask) {
  auto filter = itk::SignedMaurerDistanceMapImageFilter<MaskImage, FloatImage>::New();
  filter->SetInput(mask);
  filter->SetUseImageSpacing(true);
  filter->SetSquaredDistance(false);
  filter->SetInsideIsPositive(false);
  filter->SetBackgroundValue(0);
  filter->Update();
  return filter->GetOutput();
}

struct Components {
  CcImage::Pointer labels;
  std::vector<std::int64_t> sizes;  // by label (0 = background)
};

Components Connected(const MaskImage* mask, bool fully_connected = false) {
  auto filter = itk::ConnectedComponentImageFilter<MaskImage, CcImage>::New();
  filter->SetInput(mask);
  filter->SetFullyConnected(fully_connected);
  filter->Update();
  Components c;
  c.labels = filter->GetOutput();
  c.sizes.assign(filter->GetObjectCount() + 1, 0);
  const unsigned int* p = c.labels->GetBufferPointer();
  const size_t n = c.labels->GetLargestPossibleRegion().GetNumberOfPixels();
  for (size_t i = 0; i < n; ++i) ++c.sizes[p[i]];
  c.sizes[0] = 0;
  return c;
}

// Labels sorted by size, largest first.
std::vector<unsigned int> BySize(const Components& c) {
  std::vector<unsigned int> order;
  for (unsigned int l = 1; l < c.sizes.size(); ++l)
    if (c.sizes[l] > 0) order.push_back(l);
  std::sort(order.begin(), order.end(), [&](unsigned a, unsigned b) { return c.sizes[a] > c.sizes[b]; });
  return order;
}

// Holes of each axial slice (background not reached from the slice's edge) become mask.
void FillSliceHoles(MaskImage* mask) {
  const auto size = mask->GetLargestPossibleRegion().GetSize();
  const std::int64_t nx = size[0], ny = size[1], nz = size[2];
  unsigned char* m = mask->GetBufferPointer();
  std::vector<unsigned char> outside(nx * ny);
  std::deque<std::int64_t> queue;
  for (std::int64_t k = 0; k < nz; ++k) {
    unsigned char* slice = m + k * nx * ny;
    std::fill(outside.begin(), outside.end(), 0);
    auto seed = [&](std::int64_t i) {
      if (!slice[i] && !outside[i]) {
        outside[i] = 1;
        queue.push_back(i);
      }
    };
    for (std::int64_t i = 0; i < nx; ++i) seed(i), seed((ny - 1) * nx + i);
    for (std::int64_t j = 0; j < ny; ++j) seed(j * nx), seed(j * nx + nx - 1);
    while (!queue.empty()) {
      const std::int64_t p = queue.front();
      queue.pop_front();
      const std::int64_t x = p % nx, y = p / nx;
      if (x > 0) seed(p - 1);
      if (x + 1 < nx) seed(p + 1);
      if (y > 0) seed(p - nx);
      if (y + 1 < ny) seed(p + nx);
    }
    for (std::int64_t i = 0; i < nx * ny; ++i)
      if (!slice[i] && !outside[i]) slice[i] = 1;
  }
}

// Morphological closing by `radius_mm`, through two distance maps.
MaskImage::Pointer Close(const MaskImage* mask, double radius_mm) {
  auto outer = SignedDistance(mask);
  auto dilated = Like<unsigned char>(mask, 0);
  const size_t n = mask->GetLargestPossibleRegion().GetNumberOfPixels();
  for (size_t i = 0; i < n; ++i) dilated->GetBufferPointer()[i] = outer->GetBufferPointer()[i] <= radius_mm ? 1 : 0;
  auto inner = SignedDistance(dilated);
  auto closed = Like<unsigned char>(mask, 0);
  for (size_t i = 0; i < n; ++i)
    closed->GetBufferPointer()[i] =
        (mask->GetBufferPointer()[i] || inner->GetBufferPointer()[i] < -radius_mm) ? 1 : 0;
  return closed;
}

// Patient x (LPS: + is the patient's left) of voxel (i, j, k), without ITK's per-call overhead.
struct PatientX {
  explicit PatientX(const itk::ImageBase<3>* image) {
    const auto& d = image->GetDirection();
    const auto& s = image->GetSpacing();
    origin = image->GetOrigin()[0];
    for (int a = 0; a < 3; ++a) step[a] = d[0][a] * s[a];
  }
  double operator()(std::int64_t i, std::int64_t j, std::int64_t k) const {
    return origin + step[0] * static_cast<double>(i) + step[1] * static_cast<double>(j) + step[2] * static_cast<double>(k);
  }
  double origin = 0;
  std::array<double, 3> step{};
};

double VoxelMl(const itk::ImageBase<3>* image) {
  const auto s = image->GetSpacing();
  return s[0] * s[1] * s[2] / 1000.0;
}

}  // namespace

Result<AlgorithmOutput> SegmentLungs(const dicom::Volume& ct, const StopCheck& stop) {
  const auto& g = ct.geometry;
  if (g.dims[2] < 10) return Fail(ErrorCode::kInvalidArgument, "ct-lungs needs a CT volume of at least 10 slices");
  if (ct.modality != "CT" && !ct.modality.empty())
    return Fail(ErrorCode::kInvalidArgument, "ct-lungs segments CT, not " + ct.modality);
  auto full = ToItk(ct);

  // 1. About 1.6 mm: the anatomy survives, the work shrinks ~8x.
  auto shrink = itk::BinShrinkImageFilter<HuImage, HuImage>::New();
  shrink->SetInput(full);
  std::array<unsigned int, 3> factor{};
  for (int a = 0; a < 3; ++a) factor[a] = std::max(1u, static_cast<unsigned>(std::lround(1.6 / g.spacing[a])));
  itk::BinShrinkImageFilter<HuImage, HuImage>::ShrinkFactorsType factors;
  for (int a = 0; a < 3; ++a) factors[a] = factor[a];
  shrink->SetShrinkFactors(factors);
  shrink->Update();
  HuImage::Pointer low = shrink->GetOutput();
  low->DisconnectPipeline();
  const auto low_size = low->GetLargestPossibleRegion().GetSize();
  const std::int64_t nx = low_size[0], ny = low_size[1], nz = low_size[2];
  const std::int64_t n = nx * ny * nz;
  const double voxel_ml = VoxelMl(low);
  const double voxel_mm = std::cbrt(voxel_ml * 1000.0);
  if (stop()) return std::unexpected(Stopped().error());

  // 2. Air, minus what touches the image's sides.
  auto air = Like<unsigned char>(low, 0);
  for (std::int64_t i = 0; i < n; ++i) air->GetBufferPointer()[i] = low->GetBufferPointer()[i] < kAirBelowHu ? 1 : 0;
  Components air_parts = Connected(air);
  std::vector<bool> outside(air_parts.sizes.size(), false);
  const unsigned int* cc = air_parts.labels->GetBufferPointer();
  for (std::int64_t k = 0; k < nz; ++k)
    for (std::int64_t j = 0; j < ny; ++j)
      for (std::int64_t i = 0; i < nx; ++i)
        if (i == 0 || j == 0 || i == nx - 1 || j == ny - 1) outside[cc[(k * ny + j) * nx + i]] = true;
  std::vector<unsigned int> inside;
  for (unsigned int l : BySize(air_parts))
    if (!outside[l]) inside.push_back(l);
  if (inside.empty() || air_parts.sizes[inside[0]] * voxel_ml < kMinLungsMl / 2)
    return Fail(ErrorCode::kUnprocessable, "no lungs found: there is no large air-filled region inside the body");
  // Lungs (with airways): the largest inner air, and any other inner air at least 15%
  // of it (the second lung when the airways do not join them). Bowel gas is smaller.
  std::vector<bool> keep(air_parts.sizes.size(), false);
  double kept_ml = 0;
  for (unsigned int l : inside)
    if (air_parts.sizes[l] >= 0.15 * air_parts.sizes[inside[0]]) {
      keep[l] = true;
      kept_ml += air_parts.sizes[l] * voxel_ml;
    }
  if (kept_ml < kMinLungsMl)
    return Fail(ErrorCode::kUnprocessable,
                "no lungs found: the air inside the body is only " + std::to_string(std::lround(kept_ml)) + " mL");
  auto lungs = Like<unsigned char>(low, 0);
  for (std::int64_t i = 0; i < n; ++i) lungs->GetBufferPointer()[i] = keep[cc[i]] ? 1 : 0;
  air_parts = {};
  if (stop()) return std::unexpected(Stopped().error());

  // 3. Erode until two comparable cores appear.
  auto depth = SignedDistance(lungs);  // negative inside
  Components cores;
  std::vector<unsigned int> order;
  double eroded_mm = 0;
  for (double r = 4.0; r <= 24.0; r += 2.0) {
    auto core = Like<unsigned char>(low, 0);
    for (std::int64_t i = 0; i < n; ++i) core->GetBufferPointer()[i] = depth->GetBufferPointer()[i] < -r ? 1 : 0;
    cores = Connected(core);
    order = BySize(cores);
    if (order.size() >= 2 && cores.sizes[order[1]] >= 0.25 * cores.sizes[order[0]]) {
      eroded_mm = r;
      break;
    }
    if (order.empty()) break;
  }
  if (eroded_mm == 0)
    return Fail(ErrorCode::kUnprocessable, "the two lungs could not be told apart (one lung, or lungs fused)");
  if (stop()) return std::unexpected(Stopped().error());

  // 4. Smaller cores join the lung on their side (a lobe the erosion cut off); cores in
  //    the middle between the two lungs are airways (trachea, main bronchi) and stay out.
  const PatientX patient_x(low);
  std::vector<double> core_x(cores.sizes.size(), 0.0);
  {
    const unsigned int* c = cores.labels->GetBufferPointer();
    for (std::int64_t k = 0; k < nz; ++k)
      for (std::int64_t j = 0; j < ny; ++j)
        for (std::int64_t i = 0; i < nx; ++i)
          if (const unsigned int l = c[(k * ny + j) * nx + i]; l != 0) core_x[l] += patient_x(i, j, k);
    for (unsigned int l = 1; l < cores.sizes.size(); ++l)
      if (cores.sizes[l] > 0) core_x[l] /= static_cast<double>(cores.sizes[l]);
  }
  const double mid = (core_x[order[0]] + core_x[order[1]]) / 2.0;
  const double half = std::abs(core_x[order[0]] - core_x[order[1]]) / 2.0;
  std::vector<int> core_side(cores.sizes.size(), -1);
  core_side[order[0]] = 0;
  core_side[order[1]] = 1;
  const double a_sign = core_x[order[0]] > mid ? 1.0 : -1.0;
  for (size_t q = 2; q < order.size(); ++q) {
    const unsigned int l = order[q];
    if (cores.sizes[l] * voxel_ml < 5.0) break;  // crumbs
    if (std::abs(core_x[l] - mid) < 0.3 * half) continue;  // central: airways
    core_side[l] = ((core_x[l] - mid) * a_sign > 0) ? 0 : 1;
  }
  std::array<FloatImage::Pointer, 2> reach;
  for (int s = 0; s < 2; ++s) {
    auto core = Like<unsigned char>(low, 0);
    const unsigned int* c = cores.labels->GetBufferPointer();
    for (std::int64_t i = 0; i < n; ++i) core->GetBufferPointer()[i] = core_side[c[i]] == s ? 1 : 0;
    reach[s] = SignedDistance(core);
  }
  cores = {};
  const double limit = eroded_mm + 3.0 * voxel_mm;
  std::array<MaskImage::Pointer, 2> side = {Like<unsigned char>(low, 0), Like<unsigned char>(low, 0)};
  std::array<double, 2> x_sum{0, 0};
  std::array<std::int64_t, 2> count{0, 0};
  for (std::int64_t i = 0; i < n; ++i) {
    if (!lungs->GetBufferPointer()[i]) continue;
    const float a = reach[0]->GetBufferPointer()[i], b = reach[1]->GetBufferPointer()[i];
    const int s = a <= b ? 0 : 1;
    if (std::min(a, b) > limit) continue;  // mediastinal airways
    side[s]->GetBufferPointer()[i] = 1;
  }
  reach = {};
  if (stop()) return std::unexpected(Stopped().error());

  // 5. Vessels and airway walls inside each lung become lung.
  for (int s = 0; s < 2; ++s) {
    side[s] = Close(side[s], kCloseMm);
    FillSliceHoles(side[s]);
  }
  // Which side is which: the patient's left is +x in DICOM's LPS.
  for (int s = 0; s < 2; ++s) {
    const unsigned char* m = side[s]->GetBufferPointer();
    for (std::int64_t k = 0; k < nz; ++k)
      for (std::int64_t j = 0; j < ny; ++j)
        for (std::int64_t i = 0; i < nx; ++i)
          if (m[(k * ny + j) * nx + i]) {
            x_sum[s] += patient_x(i, j, k);
            ++count[s];
          }
  }
  const int left = (x_sum[0] / std::max<std::int64_t>(1, count[0])) > (x_sum[1] / std::max<std::int64_t>(1, count[1])) ? 0 : 1;
  auto label_low = Like<unsigned char>(low, 0);
  for (std::int64_t i = 0; i < n; ++i) {
    // Where the closings of both lungs overlap (a thin junction), the first claim stays.
    unsigned char v = 0;
    if (side[1 - left]->GetBufferPointer()[i]) v = 1;  // right lung
    else if (side[left]->GetBufferPointer()[i]) v = 2;  // left lung
    label_low->GetBufferPointer()[i] = v;
  }
  std::array<std::int64_t, 3> components{0, 0, 0};
  for (unsigned char l : {1, 2}) {
    auto one = Like<unsigned char>(low, 0);
    for (std::int64_t i = 0; i < n; ++i) one->GetBufferPointer()[i] = label_low->GetBufferPointer()[i] == l ? 1 : 0;
    components[l] = static_cast<std::int64_t>(BySize(Connected(one, true)).size());
  }
  if (stop()) return std::unexpected(Stopped().error());

  // 6. Back on the input grid: each input voxel takes its block's label.
  AlgorithmOutput out;
  out.labels.geometry = g;
  out.labels.labels.assign(g.VoxelCount(), 0);
  std::array<std::int64_t, 3> voxels{0, 0, 0};
  const unsigned char* lab = label_low->GetBufferPointer();
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    const std::int64_t lk = std::min<std::int64_t>(k / factor[2], nz - 1);
    for (std::int64_t j = 0; j < g.dims[1]; ++j) {
      const std::int64_t lj = std::min<std::int64_t>(j / factor[1], ny - 1);
      std::uint8_t* row = out.labels.labels.data() + (k * g.dims[1] + j) * g.dims[0];
      const unsigned char* low_row = lab + (lk * ny + lj) * nx;
      for (std::int64_t i = 0; i < g.dims[0]; ++i) {
        const std::uint8_t v = low_row[std::min<std::int64_t>(i / factor[0], nx - 1)];
        row[i] = v;
        ++voxels[v];
      }
    }
  }
  const double full_voxel_ml = g.spacing[0] * g.spacing[1] * g.spacing[2] / 1000.0;
  const double right_ml = voxels[1] * full_voxel_ml, left_ml = voxels[2] * full_voxel_ml;
  out.metrics = {{"right_lung_ml", std::round(right_ml * 10) / 10},
                 {"left_lung_ml", std::round(left_ml * 10) / 10},
                 {"right_lung_components", components[1]},
                 {"left_lung_components", components[2]},
                 {"erosion_mm", eroded_mm},
                 {"working_voxel_mm", std::round(voxel_mm * 100) / 100}};
  for (auto [name, ml] : {std::pair{"right", right_ml}, std::pair{"left", left_ml}})
    if (ml < 500 || ml > 5000)
      out.warnings.push_back(std::string("the ") + name + " lung measures " + std::to_string(std::lround(ml)) +
                             " mL, outside the usual 0.5-5 L: check the result");
  if (components[1] > 1 || components[2] > 1) out.warnings.push_back("a lung is in more than one piece");
  return out;
}

const BuiltinAlgorithm* FindBuiltin(const std::string& entry) {
  static const std::map<std::string, BuiltinAlgorithm> kBuiltins = {{"ct-lungs", SegmentLungs}};
  auto it = kBuiltins.find(entry);
  return it == kBuiltins.end() ? nullptr : &it->second;
}

}  // namespace vg::algorithms
