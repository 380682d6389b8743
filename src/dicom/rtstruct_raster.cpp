// rtstruct.h's RasteriseRtStruct: closed planar contours onto a volume's grid.
#include "dicom/rtstruct.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "dicom/rtstruct_internal.h"

namespace vg::dicom {
// A named namespace around the anonymous one: the library is a unity build, and seg.cpp's,
// overlay_series.cpp's and the other rtstruct_*.cpp files' helpers would otherwise meet these.
namespace rtstruct_raster_detail {
namespace {

using rtstruct_detail::Point;

// ---------------------------------------------------------------------------------------
// Rasterising

// Patient position -> continuous voxel coordinates: the inverse of PatientPosition's
// matrix (columns row*sx, column*sy, normal*sz), which need not be orthonormal.
struct ToVoxel {
  std::array<double, 9> inverse{};  // row-major
  Point origin{};
  Point operator()(const Point& p) const {
    const double d[3] = {p[0] - origin[0], p[1] - origin[1], p[2] - origin[2]};
    return {inverse[0] * d[0] + inverse[1] * d[1] + inverse[2] * d[2],
            inverse[3] * d[0] + inverse[4] * d[1] + inverse[5] * d[2],
            inverse[6] * d[0] + inverse[7] * d[1] + inverse[8] * d[2]};
  }
};

std::optional<ToVoxel> InverseOf(const VolumeGeometry& g) {
  // m[r][c]: component r of axis c.
  double m[3][3];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) m[r][c] = g.direction[3 * c + r] * g.spacing[c];
  const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                     m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  const double scale = g.spacing[0] * g.spacing[1] * g.spacing[2];
  if (!std::isfinite(det) || !(std::abs(det) > 1e-6 * scale)) return std::nullopt;
  ToVoxel t;
  t.origin = g.origin;
  t.inverse = {(m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det, (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det,
               (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det, (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det,
               (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det, (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det,
               (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det, (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det,
               (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det};
  return t;
}

// A contour's points are within this many slice gaps of its slice's plane.
constexpr double kPlaneTolerance = 0.49;
// One contour's row crossings are held in memory at once: a bound on that memory (8 bytes
// each), far above what any drawn outline crosses (a 512-row slice, thousands of points).
constexpr std::uint64_t kMaxCrossingsPerContour = 1ull << 24;

class ScanlineFiller {
 public:
  ScanlineFiller(std::int64_t columns, std::int64_t rows) : columns_(columns), rows_(rows) {}

  // XORs the polygon `ij` (continuous column, row coordinates) into `slice`: voxel (i, j)
  // flips iff its centre is inside (even-odd). An edge crosses row j iff
  // min(y) <= j < max(y) (half-open, so a vertex on a row counts once), at the x where it
  // meets the row's centre line; voxels with crossing[2n] <= i < crossing[2n+1] are inside.
  Result<void> Fill(const std::vector<std::array<double, 2>>& ij, std::uint8_t* slice, std::uint64_t& budget) {
    const std::size_t n = ij.size();
    std::int64_t row_lo = rows_, row_hi = -1;
    std::uint64_t total = 0;
    for (std::size_t e = 0; e < n; ++e) {
      const auto [lo, hi] = RowsOf(ij[e], ij[(e + 1) % n]);
      if (lo > hi) continue;
      total += static_cast<std::uint64_t>(hi - lo + 1);
      row_lo = std::min(row_lo, lo);
      row_hi = std::max(row_hi, hi);
    }
    if (total == 0) return {};
    if (total > kMaxCrossingsPerContour || total > budget)
      return Fail(ErrorCode::kTooLarge, "the structure set's contours cross too many rows of the grid to rasterise");
    budget -= total;
    // Counting sort by row: O(crossings + rows), then a sort of each row's few crossings.
    const std::int64_t span = row_hi - row_lo + 1;
    start_.assign(static_cast<std::size_t>(span + 1), 0);
    for (std::size_t e = 0; e < n; ++e) {
      const auto [lo, hi] = RowsOf(ij[e], ij[(e + 1) % n]);
      for (std::int64_t j = lo; j <= hi; ++j) ++start_[j - row_lo + 1];
    }
    for (std::int64_t r = 0; r < span; ++r) start_[r + 1] += start_[r];
    xs_.resize(total);
    next_.assign(start_.begin(), start_.end() - 1);
    for (std::size_t e = 0; e < n; ++e) {
      const auto& a = ij[e];
      const auto& b = ij[(e + 1) % n];
      const auto [lo, hi] = RowsOf(a, b);
      const double slope = (b[0] - a[0]) / (b[1] - a[1]);
      for (std::int64_t j = lo; j <= hi; ++j) xs_[next_[j - row_lo]++] = a[0] + (static_cast<double>(j) - a[1]) * slope;
    }
    for (std::int64_t r = 0; r < span; ++r) {
      double* first = xs_.data() + start_[r];
      double* last = xs_.data() + start_[r + 1];
      std::sort(first, last);
      std::uint8_t* row = slice + (row_lo + r) * columns_;
      // A closed polygon crosses every row an even number of times; a stray last crossing
      // (impossible by the half-open rule) would be ignored.
      for (double* x = first; x + 1 < last; x += 2) {
        const auto from = static_cast<std::int64_t>(std::clamp(std::ceil(x[0]), 0.0, static_cast<double>(columns_)));
        const auto to = static_cast<std::int64_t>(std::clamp(std::ceil(x[1]), 0.0, static_cast<double>(columns_)));
        for (std::int64_t i = from; i < to; ++i) row[i] ^= 1;
      }
    }
    return {};
  }

 private:
  // Rows j in [0, rows) with min(a.y, b.y) <= j < max(a.y, b.y); lo > hi when none. In
  // double until clamped: a coordinate far off the grid must not overflow an integer.
  std::pair<std::int64_t, std::int64_t> RowsOf(const std::array<double, 2>& a, const std::array<double, 2>& b) const {
    if (a[1] == b[1]) return {1, 0};
    const double lo = std::max(0.0, std::ceil(std::min(a[1], b[1])));
    const double hi = std::min(static_cast<double>(rows_ - 1), std::ceil(std::max(a[1], b[1])) - 1);
    if (lo > hi) return {1, 0};
    return {static_cast<std::int64_t>(lo), static_cast<std::int64_t>(hi)};
  }

  std::int64_t columns_, rows_;
  std::vector<std::int64_t> start_, next_;
  std::vector<double> xs_;
};

Result<RasterisedRois> Rasterise(const RtStructHeader& rt, const VolumeGeometry& grid) {
  if (auto usable = CheckGeometry(grid, static_cast<std::int64_t>(kMaxRtStructMaskBytes)); !usable)
    return std::unexpected(usable.error());
  const auto to_voxel = InverseOf(grid);
  if (!to_voxel) return Fail(ErrorCode::kUnprocessable, "the grid's axes do not span a volume");
  const std::int64_t columns = grid.dims[0], rows = grid.dims[1], slices = grid.dims[2];
  const std::int64_t plane = columns * rows;
  RasterisedRois out;
  std::uint64_t mask_bytes = 0;
  std::uint64_t crossing_budget = kMaxRtStructCrossings;
  ScanlineFiller filler(columns, rows);
  std::vector<std::array<double, 2>> ij;
  for (const RoiContours& roi : rt.rois) {
    std::vector<std::uint8_t>* mask = nullptr;
    for (const auto& contour : roi.contours) {
      if (contour.size() < 3) {
        ++out.skipped_contours;
        continue;
      }
      ij.clear();
      bool on_a_slice = true;
      std::int64_t k = 0;
      for (std::size_t p = 0; p < contour.size() && on_a_slice; ++p) {
        const Point v = (*to_voxel)(contour[p]);
        if (!std::isfinite(v[0]) || !std::isfinite(v[1]) || !std::isfinite(v[2])) {
          on_a_slice = false;
          break;
        }
        if (p == 0) {
          // Compared in double before it becomes an integer (a point may be anywhere).
          if (!(v[2] > -0.5 && v[2] < static_cast<double>(slices) - 0.5)) {
            on_a_slice = false;
            break;
          }
          k = std::llround(v[2]);
        }
        if (std::abs(v[2] - static_cast<double>(k)) > kPlaneTolerance) on_a_slice = false;
        ij.push_back({v[0], v[1]});
      }
      if (!on_a_slice) {
        ++out.skipped_contours;
        continue;
      }
      if (!mask) {
        auto it = out.masks.find(roi.number);
        if (it == out.masks.end()) {
          mask_bytes += static_cast<std::uint64_t>(grid.VoxelCount());
          if (mask_bytes > kMaxRtStructMaskBytes)
            return Fail(ErrorCode::kTooLarge, fmt::format("the structure set's ROIs need more than {} MiB on this grid",
                                                          kMaxRtStructMaskBytes >> 20));
          it = out.masks.emplace(roi.number, std::vector<std::uint8_t>(static_cast<std::size_t>(grid.VoxelCount()), 0))
                   .first;
        }
        mask = &it->second;
      }
      if (auto filled = filler.Fill(ij, mask->data() + k * plane, crossing_budget); !filled)
        return std::unexpected(filled.error());
    }
  }
  return out;
}

}  // namespace
}  // namespace rtstruct_raster_detail

Result<RasterisedRois> RasteriseRtStruct(const RtStructHeader& rt, const VolumeGeometry& grid) {
  return rtstruct_raster_detail::Rasterise(rt, grid);
}

}  // namespace vg::dicom
