// How much two label volumes on one grid agree, per label: Dice, the volume difference,
// and the 95th-percentile Hausdorff distance (symmetric, between the two surfaces, in mm,
// with the grid's spacing). Plain logic, used when a clinician corrects an algorithm's
// result. Also the statistics of the monitoring dashboard: the two-sample
// Kolmogorov-Smirnov test and percentiles.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "dicom/volume.h"

namespace vg::services {

struct LabelAgreement {
  int label = 0;
  double dice = 0;               // 1 when both are empty
  double volume_a_ml = 0, volume_b_ml = 0;
  double volume_difference_ml = 0;  // b - a
  std::optional<double> hd95_mm;    // none when either is empty
};

// `a` and `b` must be on the same grid. One entry per label present in either. Without
// `with_hd95` only the linear part (Dice, volumes): HD95 costs two distance transforms a label.
std::vector<LabelAgreement> CompareLabels(const dicom::LabelVolume& a, const dicom::LabelVolume& b, bool with_hd95 = true);

// Exact squared Euclidean distance transform (Felzenszwalb & Huttenlocher), anisotropic:
// for every voxel, the squared distance in mm² to the nearest voxel where `mask` is set
// (infinity when none is).
std::vector<double> SquaredDistanceToMask(const std::vector<std::uint8_t>& mask, const std::array<std::int64_t, 3>& dims,
                                          const std::array<double, 3>& spacing);

struct KsResult {
  double statistic = 0;  // D: the largest gap between the two empirical distributions
  double p_value = 1;    // asymptotic (Kolmogorov distribution with the effective sample size)
};
// Two-sample KS test; p = 1 when either sample is empty.
KsResult KolmogorovSmirnov(std::vector<double> a, std::vector<double> b);

// The q-quantile (0..1) of `values` by linear interpolation; 0 for none.
double Percentile(std::vector<double> values, double q);

}  // namespace vg::services
