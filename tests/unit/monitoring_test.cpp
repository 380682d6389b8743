// Monitoring's plain logic: agreement between an algorithm's result and a clinician's
// correction (Dice, volume difference, HD95), the drift test, alert notifications and
// the webhook URL parser.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "http/client.h"
#include "services/alert_notifier.h"
#include "services/monitoring.h"
#include "services/overlap.h"

namespace vg::services {
namespace {

using nlohmann::json;

dicom::LabelVolume Grid(std::int64_t nx, std::int64_t ny, std::int64_t nz, std::array<double, 3> spacing) {
  dicom::LabelVolume v;
  v.geometry.dims = {nx, ny, nz};
  v.geometry.spacing = spacing;
  v.geometry.direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  v.labels.assign(static_cast<size_t>(nx * ny * nz), 0);
  return v;
}

void Box(dicom::LabelVolume& v, int label, std::array<std::int64_t, 3> lo, std::array<std::int64_t, 3> hi) {
  const auto& n = v.geometry.dims;
  for (auto k = lo[2]; k <= hi[2]; ++k)
    for (auto j = lo[1]; j <= hi[1]; ++j)
      for (auto i = lo[0]; i <= hi[0]; ++i) v.labels[static_cast<size_t>((k * n[1] + j) * n[0] + i)] = label;
}

TEST(AssessmentLog, CsvQuotesWhatNeedsItAndDisarmsFormulas) {
  nlohmann::json row = {{"clinic", "alpha"},          {"job_id", 7},          {"algorithm", "ct-lungs"},
                        {"version", "1.0"},           {"series_uid", "1.2.3"}, {"result_at", 100},
                        {"verdict", "rejected"},      {"reason", "other"},     {"author", "=HYPERLINK(\"x\")"},
                        {"assessed_at", 160},         {"seconds_to_assessment", 60},
                        {"mean_correction_dice", nullptr},
                        {"correction_dice", nlohmann::json::array({{{"name", "a,b"}, {"dice", 0.5}}})}};
  const std::string csv = Monitoring::AssessmentsCsv({row});
  EXPECT_NE(csv.find(",\"'=HYPERLINK(\"\"x\"\")\","), std::string::npos) << csv;
  EXPECT_NE(csv.find("\"a,b=0.5000\""), std::string::npos) << csv;
  EXPECT_NE(csv.find(",rejected,other,"), std::string::npos) << csv;
}

TEST(Overlap, DiceAndVolumeDifferenceMatchHandComputedValues) {
  // Spacing 1 x 1 x 2 mm: a voxel is 2 mm³. The algorithm's box is 4 x 4 x 2 voxels (32);
  // the clinician moved it one column and grew it one row: 4 x 5 x 2 (40). Overlap:
  // columns 3..5 (3) x rows 2..5 (4) x 2 slices = 24 voxels.
  auto a = Grid(12, 12, 4, {1, 1, 2});
  auto b = a;
  Box(a, 1, {2, 2, 0}, {5, 5, 1});
  Box(b, 1, {3, 2, 0}, {6, 6, 1});
  auto result = CompareLabels(a, b);
  ASSERT_EQ(result.size(), 1u);
  EXPECT_EQ(result[0].label, 1);
  EXPECT_DOUBLE_EQ(result[0].dice, 2.0 * 24 / (32 + 40));  // 0.6667
  EXPECT_DOUBLE_EQ(result[0].volume_a_ml, 32 * 2 / 1000.0);
  EXPECT_DOUBLE_EQ(result[0].volume_b_ml, 40 * 2 / 1000.0);
  EXPECT_DOUBLE_EQ(result[0].volume_difference_ml, 8 * 2 / 1000.0);
  ASSERT_TRUE(result[0].hd95_mm.has_value());
  EXPECT_GT(*result[0].hd95_mm, 0.0);
  EXPECT_LE(*result[0].hd95_mm, 1.0 + 1e-9);  // no surface point is more than one voxel away
}

TEST(Overlap, IdenticalMasksAgreeFullyWithZeroDistance) {
  auto a = Grid(10, 10, 6, {0.7, 0.7, 2.5});
  Box(a, 2, {1, 2, 1}, {7, 8, 4});
  auto result = CompareLabels(a, a);
  ASSERT_EQ(result.size(), 1u);
  EXPECT_DOUBLE_EQ(result[0].dice, 1.0);
  EXPECT_DOUBLE_EQ(result[0].volume_difference_ml, 0.0);
  EXPECT_DOUBLE_EQ(*result[0].hd95_mm, 0.0);
}

TEST(Overlap, ALabelOnlyOneSideHasScoresZeroDiceAndNoDistance) {
  auto a = Grid(8, 8, 3, {1, 1, 1});
  auto b = a;
  Box(a, 1, {1, 1, 0}, {3, 3, 2});
  Box(b, 1, {1, 1, 0}, {3, 3, 2});
  Box(b, 3, {5, 5, 0}, {6, 6, 1});  // the clinician added a segment the algorithm missed
  auto result = CompareLabels(a, b);
  ASSERT_EQ(result.size(), 2u);
  EXPECT_EQ(result[1].label, 3);
  EXPECT_DOUBLE_EQ(result[1].dice, 0.0);
  EXPECT_FALSE(result[1].hd95_mm.has_value());
  EXPECT_DOUBLE_EQ(result[1].volume_b_ml, 8 / 1000.0);
}

TEST(Overlap, DistanceTransformEqualsBruteForceOnAnAnisotropicGrid) {
  const std::array<std::int64_t, 3> n{9, 7, 5};
  const std::array<double, 3> spacing{0.8, 1.3, 3.0};
  std::vector<std::uint8_t> mask(static_cast<size_t>(n[0] * n[1] * n[2]), 0);
  std::mt19937 random(7);
  for (auto& m : mask) m = random() % 17 == 0;
  auto d = SquaredDistanceToMask(mask, n, spacing);
  for (std::int64_t p = 0; p < static_cast<std::int64_t>(mask.size()); ++p) {
    double best = INFINITY;
    for (std::int64_t q = 0; q < static_cast<std::int64_t>(mask.size()); ++q) {
      if (!mask[q]) continue;
      const double dx = (p % n[0] - q % n[0]) * spacing[0];
      const double dy = (p / n[0] % n[1] - q / n[0] % n[1]) * spacing[1];
      const double dz = (p / (n[0] * n[1]) - q / (n[0] * n[1])) * spacing[2];
      best = std::min(best, dx * dx + dy * dy + dz * dz);
    }
    ASSERT_NEAR(d[p], best, 1e-9) << "voxel " << p;
  }
}

TEST(Statistics, KolmogorovSmirnovSeesAShiftAndNotItsAbsence) {
  std::vector<double> a, b, shifted;
  for (int i = 1; i <= 20; ++i) {
    a.push_back(i);
    b.push_back(i + 0.5);
    shifted.push_back(i + 10);
  }
  auto same = KolmogorovSmirnov(a, b);
  EXPECT_NEAR(same.statistic, 0.05, 1e-12);
  EXPECT_GT(same.p_value, 0.99);
  auto moved = KolmogorovSmirnov(a, shifted);
  EXPECT_NEAR(moved.statistic, 0.5, 1e-12);  // ten of twenty values lie beyond the other sample
  EXPECT_LT(moved.p_value, 0.02);
  EXPECT_GT(moved.p_value, 0.001);
}

TEST(Statistics, PercentileInterpolatesBetweenRanks) {
  EXPECT_DOUBLE_EQ(Percentile({}, 0.5), 0.0);
  EXPECT_DOUBLE_EQ(Percentile({4, 1, 3, 2}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(Percentile({10, 20, 30, 40, 50}, 0.95), 48.0);
}

// A version's runs: `n` per window, lung volume drawn around `mean`.
std::vector<storage::JobRecord> Runs(std::int64_t start, std::int64_t days, int n, double mean, std::mt19937& random) {
  std::normal_distribution<double> volume(mean, 150.0);
  std::vector<storage::JobRecord> out;
  for (int i = 0; i < n; ++i) {
    storage::JobRecord r;
    r.kind = "algorithm";
    r.state = "succeeded";
    r.created_at = start + days * 86400 * i / n;
    r.result = json{{"metrics", {{"lung_volume_ml", volume(random)}, {"components", 2}}}}.dump();
    out.push_back(r);
  }
  return out;
}

// The drift of these runs, each read as the dashboard reads it.
DriftResult Drift(const std::vector<storage::JobRecord>& runs, std::int64_t now) {
  std::vector<RunSample> samples;
  for (const auto& r : runs) samples.push_back(SampleOf(r));
  std::vector<const RunSample*> pointers;
  for (const auto& s : samples) pointers.push_back(&s);
  return DetectDrift(pointers, now);
}

TEST(Drift, FlagTurnsOnForAShiftedOutputAndStaysOffWithoutOne) {
  const std::int64_t day0 = 1'700'000'000, now = day0 + 90 * 86400;
  std::mt19937 random(42);
  auto baseline = Runs(day0, 30, 40, 4800, random);
  auto steady = baseline, shifted = baseline;
  for (auto& r : Runs(now - 7 * 86400, 7, 25, 4800, random)) steady.push_back(r);
  for (auto& r : Runs(now - 7 * 86400, 7, 25, 4200, random)) shifted.push_back(r);  // a new scanner, say

  auto off = Drift(steady, now);
  EXPECT_FALSE(off.flagged) << off.per_metric.dump();
  EXPECT_GT(off.per_metric["lung_volume_ml"]["p"].get<double>(), 0.01);
  EXPECT_EQ(off.per_metric["lung_volume_ml"]["baseline_n"], 40);
  EXPECT_EQ(off.per_metric["lung_volume_ml"]["recent_n"], 25);

  auto on = Drift(shifted, now);
  EXPECT_TRUE(on.flagged) << on.per_metric.dump();
  EXPECT_LT(on.per_metric["lung_volume_ml"]["p"].get<double>(), 0.01);
  EXPECT_FALSE(on.per_metric["components"]["flag"].get<bool>());  // a constant metric does not drift
}

TEST(Drift, TooFewRecentRunsAreNotJudged) {
  const std::int64_t day0 = 1'700'000'000, now = day0 + 90 * 86400;
  std::mt19937 random(1);
  auto runs = Runs(day0, 30, 40, 4800, random);
  for (auto& r : Runs(now - 86400, 1, 3, 1000, random)) runs.push_back(r);
  auto result = Drift(runs, now);
  EXPECT_FALSE(result.flagged);
  EXPECT_EQ(result.per_metric["lung_volume_ml"]["recent_n"], 3);
}

TEST(Alerts, AnAlertIsSentOnceWhenItFiresAndOnceWhenItResolves) {
  json current = {{"alerts", json::array({{{"kind", "failure_rate"}, {"key", "failure_rate:a@1"}, {"message", "m"}}})}};
  std::vector<json> sent;
  bool reachable = true;
  AlertNotifier notifier([&](std::int64_t) -> Result<json> { return current; },
                         [&](const std::string& body) -> Result<void> {
                           if (!reachable) return Fail(ErrorCode::kUnavailable, "down");
                           sent.push_back(json::parse(body));
                           return {};
                         });
  EXPECT_EQ(*notifier.Tick(100), 1);
  EXPECT_EQ(*notifier.Tick(160), 0);  // still firing: no repeat
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["state"], "firing");
  EXPECT_EQ(sent[0]["alert"]["kind"], "failure_rate");

  current["alerts"] = json::array();
  reachable = false;
  EXPECT_FALSE(notifier.Tick(220).has_value());  // undelivered: tried again next time
  EXPECT_EQ(notifier.firing().size(), 1u);
  reachable = true;
  EXPECT_EQ(*notifier.Tick(280), 1);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1]["state"], "resolved");
  EXPECT_EQ(sent[1]["alert"]["key"], "failure_rate:a@1");
  EXPECT_TRUE(notifier.firing().empty());
}

TEST(WebhookUrl, ParsesSchemesPortsAndIpv6AndRefusesTheRest) {
  auto plain = http::ParseUrl("http://127.0.0.1:9000/hooks/alerts?x=1");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->https);
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, "9000");
  EXPECT_EQ(plain->target, "/hooks/alerts?x=1");
  auto secure = http::ParseUrl("https://alerts.example.com");
  ASSERT_TRUE(secure);
  EXPECT_TRUE(secure->https);
  EXPECT_EQ(secure->port, "443");
  EXPECT_EQ(secure->target, "/");
  auto v6 = http::ParseUrl("http://[::1]:8081/x");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "8081");
  for (const char* bad : {"ftp://x", "http://", "http://user:pw@host/", "http://host:99999/", "http://[::1/"})
    EXPECT_FALSE(http::ParseUrl(bad)) << bad;
}

}  // namespace
}  // namespace vg::services
