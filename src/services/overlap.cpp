#include "services/overlap.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace vg::services {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// One dimension of the squared distance transform: the lower envelope of parabolas.
void Transform1d(const double* f, double* d, std::int64_t n, double step, std::vector<std::int64_t>& v,
                 std::vector<double>& z) {
  v.assign(n, 0);
  z.assign(n + 1, 0);
  std::int64_t k = -1;
  for (std::int64_t q = 0; q < n; ++q) {
    if (f[q] == kInf) continue;
    const double qs = q * step;
    while (k >= 0) {
      const double vs = v[k] * step;
      const double s = ((f[q] + qs * qs) - (f[v[k]] + vs * vs)) / (2 * qs - 2 * vs);
      if (s <= z[k]) --k;
      else break;
    }
    ++k;
    v[k] = q;
    z[k] = k == 0 ? -kInf : ((f[q] + qs * qs) - (f[v[k - 1]] + (v[k - 1] * step) * (v[k - 1] * step))) /
                                (2 * qs - 2 * v[k - 1] * step);
    z[k + 1] = kInf;
  }
  if (k < 0) {
    std::fill(d, d + n, kInf);
    return;
  }
  std::int64_t j = 0;
  for (std::int64_t q = 0; q < n; ++q) {
    const double qs = q * step;
    while (z[j + 1] < qs) ++j;
    const double diff = qs - v[j] * step;
    d[q] = diff * diff + f[v[j]];
  }
}

// Surface voxels: set, with a 6-neighbour unset (or at the grid's edge).
std::vector<std::uint8_t> Surface(const std::vector<std::uint8_t>& mask, const std::array<std::int64_t, 3>& n) {
  std::vector<std::uint8_t> out(mask.size(), 0);
  const std::int64_t sx = 1, sy = n[0], sz = n[0] * n[1];
  for (std::int64_t k = 0; k < n[2]; ++k)
    for (std::int64_t j = 0; j < n[1]; ++j)
      for (std::int64_t i = 0; i < n[0]; ++i) {
        const std::int64_t p = k * sz + j * sy + i * sx;
        if (!mask[p]) continue;
        const bool edge = i == 0 || j == 0 || k == 0 || i == n[0] - 1 || j == n[1] - 1 || k == n[2] - 1;
        if (edge || !mask[p - sx] || !mask[p + sx] || !mask[p - sy] || !mask[p + sy] || !mask[p - sz] || !mask[p + sz])
          out[p] = 1;
      }
  return out;
}

}  // namespace

std::vector<double> SquaredDistanceToMask(const std::vector<std::uint8_t>& mask, const std::array<std::int64_t, 3>& n,
                                          const std::array<double, 3>& spacing) {
  std::vector<double> d(mask.size());
  for (size_t i = 0; i < mask.size(); ++i) d[i] = mask[i] ? 0.0 : kInf;
  std::vector<std::int64_t> v;
  std::vector<double> z;
  const std::int64_t longest = std::max({n[0], n[1], n[2]});
  std::vector<double> in(longest), out(longest);
  const std::int64_t stride[3] = {1, n[0], n[0] * n[1]};
  for (int axis = 0; axis < 3; ++axis) {
    const int a = (axis + 1) % 3, b = (axis + 2) % 3;
    for (std::int64_t x = 0; x < n[a]; ++x)
      for (std::int64_t y = 0; y < n[b]; ++y) {
        const std::int64_t base = x * stride[a] + y * stride[b];
        for (std::int64_t q = 0; q < n[axis]; ++q) in[q] = d[base + q * stride[axis]];
        Transform1d(in.data(), out.data(), n[axis], spacing[axis], v, z);
        for (std::int64_t q = 0; q < n[axis]; ++q) d[base + q * stride[axis]] = out[q];
      }
  }
  return d;
}

std::vector<LabelAgreement> CompareLabels(const dicom::LabelVolume& a, const dicom::LabelVolume& b, bool with_hd95) {
  const auto& g = a.geometry;
  const double voxel_ml = g.spacing[0] * g.spacing[1] * g.spacing[2] / 1000.0;
  std::map<int, std::array<std::int64_t, 3>> counts;  // label -> {in a, in b, in both}
  for (size_t i = 0; i < a.labels.size(); ++i) {
    const int la = a.labels[i], lb = b.labels[i];
    if (la) ++counts[la][0];
    if (lb) ++counts[lb][1];
    if (la && la == lb) ++counts[la][2];
  }
  std::vector<LabelAgreement> out;
  for (const auto& [label, c] : counts) {
    LabelAgreement r;
    r.label = label;
    r.dice = c[0] + c[1] == 0 ? 1.0 : 2.0 * c[2] / static_cast<double>(c[0] + c[1]);
    r.volume_a_ml = c[0] * voxel_ml;
    r.volume_b_ml = c[1] * voxel_ml;
    r.volume_difference_ml = r.volume_b_ml - r.volume_a_ml;
    if (with_hd95 && c[0] > 0 && c[1] > 0) {
      // Both surfaces lie inside the union's bounding box: the distances are exact there,
      // and a lung-sized mask is a fraction of the volume.
      std::array<std::int64_t, 3> lo{g.dims[0], g.dims[1], g.dims[2]}, hi{-1, -1, -1};
      for (std::int64_t k = 0; k < g.dims[2]; ++k)
        for (std::int64_t j = 0; j < g.dims[1]; ++j)
          for (std::int64_t i = 0; i < g.dims[0]; ++i) {
            const size_t p = static_cast<size_t>((k * g.dims[1] + j) * g.dims[0] + i);
            if (a.labels[p] != label && b.labels[p] != label) continue;
            const std::int64_t at[3] = {i, j, k};
            for (int d = 0; d < 3; ++d) {
              lo[d] = std::min(lo[d], at[d]);
              hi[d] = std::max(hi[d], at[d]);
            }
          }
      std::array<std::int64_t, 3> n{};
      for (int d = 0; d < 3; ++d) {
        lo[d] = std::max<std::int64_t>(0, lo[d] - 1);
        hi[d] = std::min<std::int64_t>(g.dims[d] - 1, hi[d] + 1);
        n[d] = hi[d] - lo[d] + 1;
      }
      std::vector<std::uint8_t> ma(static_cast<size_t>(n[0] * n[1] * n[2])), mb(ma.size());
      for (std::int64_t k = 0; k < n[2]; ++k)
        for (std::int64_t j = 0; j < n[1]; ++j)
          for (std::int64_t i = 0; i < n[0]; ++i) {
            const size_t src = static_cast<size_t>(((k + lo[2]) * g.dims[1] + (j + lo[1])) * g.dims[0] + (i + lo[0]));
            const size_t dst = static_cast<size_t>((k * n[1] + j) * n[0] + i);
            ma[dst] = a.labels[src] == label;
            mb[dst] = b.labels[src] == label;
          }
      const auto sa = Surface(ma, n), sb = Surface(mb, n);
      const auto to_a = SquaredDistanceToMask(sa, n, g.spacing), to_b = SquaredDistanceToMask(sb, n, g.spacing);
      std::vector<double> distances;
      for (size_t i = 0; i < sa.size(); ++i) {
        if (sa[i]) distances.push_back(std::sqrt(to_b[i]));
        if (sb[i]) distances.push_back(std::sqrt(to_a[i]));
      }
      r.hd95_mm = Percentile(distances, 0.95);
    }
    out.push_back(r);
  }
  return out;
}

KsResult KolmogorovSmirnov(std::vector<double> a, std::vector<double> b) {
  KsResult r;
  if (a.empty() || b.empty()) return r;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  size_t i = 0, j = 0;
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  while (i < a.size() && j < b.size()) {
    const double x = std::min(a[i], b[j]);
    while (i < a.size() && a[i] <= x) ++i;
    while (j < b.size() && b[j] <= x) ++j;
    r.statistic = std::max(r.statistic, std::abs(i / na - j / nb));
  }
  // Kolmogorov's asymptotic distribution, with Stephens' small-sample correction.
  const double ne = na * nb / (na + nb);
  const double lambda = (std::sqrt(ne) + 0.12 + 0.11 / std::sqrt(ne)) * r.statistic;
  double sum = 0;
  for (int k = 1; k <= 100; ++k) {
    const double term = 2.0 * ((k % 2) ? 1.0 : -1.0) * std::exp(-2.0 * k * k * lambda * lambda);
    sum += term;
    if (std::abs(term) < 1e-12) break;
  }
  r.p_value = lambda < 1e-3 ? 1.0 : std::clamp(sum, 0.0, 1.0);
  return r;
}

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double at = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(at));
  const auto hi = std::min(values.size() - 1, lo + 1);
  return values[lo] + (values[hi] - values[lo]) * (at - static_cast<double>(lo));
}

}  // namespace vg::services
