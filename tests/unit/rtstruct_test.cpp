// RT Structure Sets: outlines traced from labels rasterise back to the same voxels (holes,
// islands, diagonal touches, the border), contours off the slices are skipped and counted,
// hostile files are refused with a reason, and write -> read -> rasterise gives back the
// labels of a synthetic series.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dctk.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>

#include "dicom/dcmtk_io.h"
#include "dicom/dicom.h"
#include "dicom/rtstruct.h"
#include "dicom/volume.h"
#include "synthetic_dicom.h"

namespace vg::dicom::rtstruct_test {
namespace {

using Points = std::vector<std::array<double, 3>>;

// An oblique grid: rotated about a skew axis, anisotropic, an origin with many digits, so
// that every coordinate goes through the full transform both ways.
VolumeGeometry ObliqueGrid(std::int64_t columns, std::int64_t rows, std::int64_t slices) {
  const double axis_norm = std::sqrt(1.0 + 4.0 + 9.0);
  const double x = 1 / axis_norm, y = 2 / axis_norm, z = 3 / axis_norm, angle = 0.3;
  const double c = std::cos(angle), s = std::sin(angle), t = 1 - c;
  const double r[3][3] = {{t * x * x + c, t * x * y - s * z, t * x * z + s * y},
                          {t * x * y + s * z, t * y * y + c, t * y * z - s * x},
                          {t * x * z - s * y, t * y * z + s * x, t * z * z + c}};
  VolumeGeometry g;
  g.dims = {columns, rows, slices};
  g.spacing = {0.7, 0.9, 2.5};
  g.origin = {-123.456789, 78.9012345, -301.25};
  for (int axis = 0; axis < 3; ++axis)
    for (int a = 0; a < 3; ++a) g.direction[3 * axis + a] = r[a][axis];
  return g;
}

VolumeGeometry AxialGrid(std::int64_t columns, std::int64_t rows, std::int64_t slices) {
  VolumeGeometry g;
  g.dims = {columns, rows, slices};
  g.spacing = {1.0, 1.0, 2.5};
  g.origin = {0, 0, 0};
  g.direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  return g;
}

LabelVolume Empty(const VolumeGeometry& g) { return LabelVolume{g, std::vector<std::uint8_t>(g.VoxelCount(), 0)}; }

std::uint8_t& At(LabelVolume& l, std::int64_t i, std::int64_t j, std::int64_t k) {
  return l.labels[(k * l.geometry.dims[1] + j) * l.geometry.dims[0] + i];
}

std::vector<std::uint8_t> MaskOf(const LabelVolume& l, std::uint8_t label) {
  std::vector<std::uint8_t> mask(l.labels.size());
  for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = l.labels[i] == label ? 1 : 0;
  return mask;
}

// What RasteriseRtStruct makes of ContoursOfLabel's outlines.
std::vector<std::uint8_t> ThroughContours(const LabelVolume& labels, std::uint8_t label) {
  RtStructHeader rt;
  RoiContours roi;
  roi.number = 7;
  for (auto& [k, points] : ContoursOfLabel(labels, label)) {
    // Simple polygons: no corner twice.
    std::set<std::array<double, 3>> distinct(points.begin(), points.end());
    EXPECT_EQ(distinct.size(), points.size()) << "a contour on slice " << k << " visits a corner twice";
    roi.contours.push_back(points);
  }
  rt.rois.push_back(roi);
  auto rasterised = RasteriseRtStruct(rt, labels.geometry);
  EXPECT_TRUE(rasterised) << rasterised.error().public_message;
  if (!rasterised) return {};
  EXPECT_EQ(rasterised->skipped_contours, 0);
  auto mask = rasterised->masks.find(7);
  if (mask == rasterised->masks.end()) return std::vector<std::uint8_t>(labels.labels.size(), 0);
  return mask->second;
}

TEST(RtStructContours, RandomMasksRoundTripVoxelExact) {
  for (double density : {0.15, 0.5, 0.85})
    for (unsigned seed = 0; seed < 12; ++seed) {
      std::mt19937 random(seed);
      auto labels = Empty(ObliqueGrid(17, 13, 3));
      std::uniform_real_distribution<double> u(0, 1);
      for (auto& v : labels.labels) v = u(random) < density ? (u(random) < 0.5 ? 1 : 2) : 0;
      for (std::uint8_t label : {1, 2})
        ASSERT_EQ(ThroughContours(labels, label), MaskOf(labels, label))
            << "density " << density << ", seed " << seed << ", label " << int(label);
    }
}

TEST(RtStructContours, HolesIslandsDiagonalsAndTheBorderRoundTripVoxelExact) {
  auto labels = Empty(ObliqueGrid(9, 9, 5));
  // Slice 0: a frame along the border; inside it a ring with an island in its hole.
  for (int i = 0; i < 9; ++i)
    for (int j = 0; j < 9; ++j)
      if (i == 0 || j == 0 || i == 8 || j == 8 || (i >= 2 && i <= 6 && j >= 2 && j <= 6)) At(labels, i, j, 0) = 1;
  for (int i = 3; i <= 5; ++i)
    for (int j = 3; j <= 5; ++j) At(labels, i, j, 0) = (i == 4 && j == 4) ? 1 : 0;
  // Slice 1: a checkerboard, every voxel touching its neighbours only at corners.
  for (int i = 0; i < 9; ++i)
    for (int j = 0; j < 9; ++j) At(labels, i, j, 1) = (i + j) % 2 == 0 ? 1 : 0;
  // Slice 2: one voxel in two corners of the grid.
  At(labels, 0, 0, 2) = 1;
  At(labels, 8, 8, 2) = 1;
  // Slice 3: every voxel.
  for (int i = 0; i < 9; ++i)
    for (int j = 0; j < 9; ++j) At(labels, i, j, 3) = 1;
  // Slice 4: a ring pinched at a diagonal (its outline meets itself at one corner).
  for (auto [i, j] : std::vector<std::pair<int, int>>{{1, 1}, {1, 0}, {2, 0}, {3, 0}, {3, 1}, {3, 2}, {2, 2}})
    At(labels, i, j, 4) = 1;
  EXPECT_EQ(ThroughContours(labels, 1), MaskOf(labels, 1));

  std::map<std::int64_t, int> per_slice;
  for (auto& [k, points] : ContoursOfLabel(labels, 1)) ++per_slice[k];
  EXPECT_EQ(per_slice[0], 5) << "frame outside and inside, ring outside and inside, island";
  EXPECT_EQ(per_slice[1], 41) << "one square per voxel of the checkerboard";
  EXPECT_EQ(per_slice[2], 2);
  EXPECT_EQ(per_slice[3], 1);
  EXPECT_EQ(per_slice[4], 2) << "the pinched ring is cut where it meets itself";
}

TEST(RtStructContours, OneVoxelIsASquareThroughItsFourCorners) {
  auto labels = Empty(ObliqueGrid(4, 3, 2));
  At(labels, 2, 1, 1) = 5;
  auto contours = ContoursOfLabel(labels, 5);
  ASSERT_EQ(contours.size(), 1u);
  EXPECT_EQ(contours[0].first, 1);
  ASSERT_EQ(contours[0].second.size(), 4u) << "collinear corners are left out";
  const auto& g = labels.geometry;
  std::set<std::array<double, 3>> expected;
  for (double di : {-0.5, 0.5})
    for (double dj : {-0.5, 0.5}) expected.insert(g.PatientPosition(2 + di, 1 + dj, 1));
  for (const auto& p : contours[0].second) {
    double best = 1e9;
    for (const auto& e : expected) best = std::min(best, std::hypot(p[0] - e[0], p[1] - e[1], p[2] - e[2]));
    EXPECT_LT(best, 1e-9);
  }
  EXPECT_TRUE(ContoursOfLabel(labels, 9).empty());
}

// Square contours (voxel coordinates on the axial 1 mm grid) as patient points on slice k.
Points Square(double i0, double j0, double i1, double j1, double z) {
  return {{i0, j0, z}, {i1, j0, z}, {i1, j1, z}, {i0, j1, z}};
}

TEST(RtStructRasterise, NestedContoursXorIntoAHole) {
  const auto g = AxialGrid(12, 12, 3);
  RtStructHeader rt;
  RoiContours roi;
  roi.number = 4;
  roi.contours = {Square(1.5, 1.5, 9.5, 9.5, 2.5), Square(3.5, 3.5, 6.5, 6.5, 2.5)};
  rt.rois.push_back(roi);
  auto r = RasteriseRtStruct(rt, g);
  ASSERT_TRUE(r) << r.error().public_message;
  ASSERT_EQ(r->masks.count(4), 1u);
  const auto& mask = r->masks.at(4);
  auto at = [&](int i, int j, int k) { return mask[(k * 12 + j) * 12 + i]; };
  int count = 0;
  for (std::uint8_t v : mask) count += v;
  EXPECT_EQ(count, 8 * 8 - 3 * 3);
  EXPECT_EQ(at(2, 2, 1), 1);
  EXPECT_EQ(at(5, 5, 1), 0) << "the inner contour cuts a hole";
  EXPECT_EQ(at(9, 9, 1), 1);
  EXPECT_EQ(at(10, 10, 1), 0);
  EXPECT_EQ(at(5, 5, 0), 0);
}

TEST(RtStructRasterise, ContoursOffTheSlicesAreSkippedAndCounted) {
  const auto g = AxialGrid(10, 10, 4);  // slices at z = 0, 2.5, 5, 7.5
  RtStructHeader rt;
  RoiContours roi;
  roi.number = 2;
  roi.contours = {Square(1.5, 1.5, 4.5, 4.5, 3.75),   // between slices 1 and 2
                  Square(1.5, 1.5, 4.5, 4.5, 20.0),   // beyond the last slice
                  Square(1.5, 1.5, 4.5, 4.5, -1.5)};  // before the first
  Points tilted = Square(1.5, 1.5, 4.5, 4.5, 5.0);
  tilted[2][2] = 6.5;  // 0.6 slice gaps off the plane
  roi.contours.push_back(tilted);
  roi.contours.push_back({{1, 1, 5}, {2, 2, 5}});  // two points: no area
  RoiContours other;
  other.number = 3;
  other.contours = {Square(1.5, 1.5, 4.5, 4.5, 5.0 + 0.3 * 2.5)};  // 0.3 gaps off slice 2: on it
  rt.rois = {roi, other};
  auto r = RasteriseRtStruct(rt, g);
  ASSERT_TRUE(r) << r.error().public_message;
  EXPECT_EQ(r->skipped_contours, 5);
  EXPECT_EQ(r->masks.count(2), 0u) << "an ROI with nothing on the grid has no mask";
  ASSERT_EQ(r->masks.count(3), 1u);
  int on_slice_2 = 0;
  for (std::int64_t v = 2 * 100; v < 3 * 100; ++v) on_slice_2 += r->masks.at(3)[v];
  EXPECT_EQ(on_slice_2, 9);
}

TEST(RtStructRasterise, AnUnusableGridIsRefused) {
  auto g = AxialGrid(4, 4, 2);
  g.spacing[0] = std::nan("");
  auto r = RasteriseRtStruct(RtStructHeader{}, g);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnprocessable);
}

TEST(RtStructSegments, SegmentOfRoiMapsInterpretedTypesAndOrganNames) {
  auto of = [](int number, std::string name, std::string type, std::string algorithm = "MANUAL") {
    RoiContours roi;
    roi.number = number;
    roi.name = std::move(name);
    roi.interpreted_type = std::move(type);
    roi.generation_algorithm = std::move(algorithm);
    return SegmentOfRoi(roi);
  };
  EXPECT_EQ(of(1, "PTV 60", "PTV").type.code, "228793007");
  EXPECT_EQ(of(1, "target", "CTV").type.code, "228792002");
  auto gtv = of(1, "GTV primary", "GTV");
  EXPECT_EQ(gtv.type.code, "228791009");
  EXPECT_EQ(gtv.category.code, "49755003");
  EXPECT_EQ(of(1, "PTV_boost", "").type.code, "228793007") << "no interpreted type: the name says target";
  EXPECT_EQ(of(1, "BODY", "EXTERNAL").type.code, "38266002");
  auto left = of(1, "Lung_L", "ORGAN");
  EXPECT_EQ(left.type.code, "44029006");
  EXPECT_EQ(left.category.code, "123037004");
  EXPECT_EQ(of(1, "Right Lung", "ORGAN").type.code, "3341006");
  EXPECT_EQ(of(1, "lungs", "ORGAN").type.code, "39607008");
  EXPECT_EQ(of(1, "Liver", "AVOIDANCE").type.code, "10200004");
  EXPECT_EQ(of(1, "Kidney_R", "").type.code, "9846003");
  EXPECT_EQ(of(1, "KidneyL", "ORGAN").type.code, "18639004");
  EXPECT_EQ(of(1, "GallBladder", "ORGAN").type.code, "28231008");
  EXPECT_EQ(of(1, "BrainStem", "ORGAN").type.code, "15926001");
  auto unknown = of(300, "Couch", "SUPPORT", "AUTOMATIC");
  EXPECT_EQ(unknown.type.code, "85756007") << "a generic Tissue";
  EXPECT_EQ(unknown.label, 0) << "ROI numbers past 255 are the caller's to renumber";
  EXPECT_TRUE(unknown.automatic);
  EXPECT_FALSE(unknown.algorithm_name.empty());
  RoiContours coloured;
  coloured.number = 12;
  coloured.rgb = std::array<std::uint8_t, 3>{1, 2, 3};
  coloured.generation_algorithm = "SEMIAUTOMATIC";
  auto s = SegmentOfRoi(coloured);
  EXPECT_EQ(s.label, 12);
  EXPECT_EQ(s.rgb, (std::array<std::uint8_t, 3>{1, 2, 3}));
  EXPECT_FALSE(s.automatic);
}

// A synthetic axial series (CT, 16-bit) and its volume.
struct Series {
  std::vector<std::string> files;
  Volume volume;
};

Series MakeSeries(int columns, int rows, int slices) {
  Series series;
  for (int k = 0; k < slices; ++k) {
    vg::testing::SliceSpec s;
    s.sop_uid = s.series_uid + "." + std::to_string(k + 1);
    s.instance_number = k + 1;
    s.rows = rows;
    s.columns = columns;
    s.position[0] = -123.456789;
    s.position[1] = 45.678901;
    s.position[2] = -301.25 + 2.5 * k;
    s.pixel_spacing[0] = 0.9;
    s.pixel_spacing[1] = 0.7;
    series.files.push_back(vg::testing::MakeSlice(s, [](int c, int r) { return c + r; }));
  }
  std::vector<std::string_view> views(series.files.begin(), series.files.end());
  auto volume = AssembleVolume(views);
  EXPECT_TRUE(volume) << volume.error().public_message;
  if (volume) series.volume = std::move(*volume);
  return series;
}

class RtStructFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Initialize(); }
};

// Two segments on a 24 x 20 x 5 series: a disc with a hole (label 1) and a block touching
// the border with a diagonal spur (label 3).
LabelVolume TwoSegments(const VolumeGeometry& g) {
  auto labels = Empty(g);
  for (int k = 1; k < 4; ++k)
    for (int j = 0; j < 20; ++j)
      for (int i = 0; i < 24; ++i) {
        const double r = std::hypot(i - 8.0, j - 9.0);
        if (r < 6.5 && !(k == 2 && r < 2.5)) At(labels, i, j, k) = 1;
        if (i >= 18 && j >= 12) At(labels, i, j, k) = 3;
      }
  At(labels, 17, 11, 2) = 3;
  At(labels, 16, 10, 2) = 3;
  return labels;
}

std::vector<SegmentInfo> SegmentsForTwo() {
  SegmentInfo lung;
  lung.label = 1;
  lung.name = "Left lung";
  lung.rgb = {200, 100, 50};
  lung.type = {"44029006", "SCT", "Left lung"};
  SegmentInfo mass;
  mass.label = 3;
  mass.name = "Mass";
  mass.rgb = {10, 220, 30};
  mass.category = {"49755003", "SCT", "Morphologically Altered Structure"};
  mass.type = {"108369006", "SCT", "Neoplasm"};
  return {lung, mass};
}

void DumpIfAsked(const std::string& bytes, const char* variable) {
  if (const char* path = std::getenv(variable)) {
    FILE* f = std::fopen(path, "wb");
    if (!f) return;
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
}

TEST_F(RtStructFiles, WriteThenReadThenRasteriseGivesBackTheLabels) {
  auto series = MakeSeries(24, 20, 5);
  ASSERT_EQ(series.volume.geometry.dims[2], 5);
  const auto labels = TwoSegments(series.volume.geometry);
  RtStructWriteOptions options;
  options.algorithm_name = "ct-lungs";
  options.algorithm_version = "1.2";
  options.software_version = "0.9";
  auto written = WriteRtStruct(series.files[2], series.volume, labels, SegmentsForTwo(), options);
  ASSERT_TRUE(written) << written.error().public_message << " " << written.error().detail;
  DumpIfAsked(*written, "VG_DUMP_RTSTRUCT");

  auto rt = ReadRtStruct(*written);
  ASSERT_TRUE(rt) << rt.error().public_message << " " << rt.error().detail;
  EXPECT_EQ(rt->study_uid, vg::testing::SliceSpec{}.study_uid);
  EXPECT_EQ(rt->frame_of_reference_uid, vg::testing::SliceSpec{}.frame_of_reference_uid);
  EXPECT_EQ(rt->referenced_series_uids, std::vector<std::string>{vg::testing::SliceSpec{}.series_uid});
  EXPECT_NE(rt->series_uid, vg::testing::SliceSpec{}.series_uid);
  EXPECT_EQ(rt->manufacturer, "voxelgate");
  EXPECT_EQ(rt->software_versions, "0.9");
  EXPECT_EQ(rt->label, "VOXELGATE");
  EXPECT_EQ(rt->skipped_contours, 0);
  ASSERT_EQ(rt->rois.size(), 2u);
  EXPECT_EQ(rt->rois[0].number, 1);
  EXPECT_EQ(rt->rois[0].name, "Left lung");
  EXPECT_EQ(rt->rois[0].interpreted_type, "ORGAN");
  EXPECT_EQ(rt->rois[0].generation_algorithm, "AUTOMATIC");
  EXPECT_EQ(rt->rois[0].rgb, (std::array<std::uint8_t, 3>{200, 100, 50}));
  EXPECT_EQ(rt->rois[1].number, 3);
  EXPECT_EQ(rt->rois[1].interpreted_type, "") << "a mass is neither an organ nor a clinician's target";
  EXPECT_EQ(SegmentOfRoi(rt->rois[0]).type.code, "44029006");

  auto r = RasteriseRtStruct(*rt, series.volume.geometry);
  ASSERT_TRUE(r) << r.error().public_message;
  EXPECT_EQ(r->skipped_contours, 0);
  ASSERT_EQ(r->masks.size(), 2u);
  EXPECT_EQ(r->masks.at(1), MaskOf(labels, 1));
  EXPECT_EQ(r->masks.at(3), MaskOf(labels, 3));
}

TEST_F(RtStructFiles, AnEmptySegmentationIsRefused) {
  auto series = MakeSeries(8, 6, 2);
  auto written = WriteRtStruct(series.files[0], series.volume, Empty(series.volume.geometry), SegmentsForTwo(), {});
  ASSERT_FALSE(written);
  EXPECT_NE(written.error().public_message.find("empty"), std::string::npos);
}

// Every ContourData of a file, as stored.
std::vector<DcmElement*> ContourDataOf(DcmDataset& ds) {
  std::vector<DcmElement*> out;
  DcmSequenceOfItems* rois = nullptr;
  if (ds.findAndGetSequence(DCM_ROIContourSequence, rois).bad() || !rois) return out;
  for (unsigned long r = 0; r < rois->card(); ++r) {
    DcmSequenceOfItems* contours = nullptr;
    if (rois->getItem(r)->findAndGetSequence(DCM_ContourSequence, contours).bad() || !contours) continue;
    for (unsigned long c = 0; c < contours->card(); ++c) {
      DcmElement* data = nullptr;
      if (contours->getItem(c)->findAndGetElement(DCM_ContourData, data).good()) out.push_back(data);
    }
  }
  return out;
}

TEST_F(RtStructFiles, LongContoursAreWrittenInBandsThatFitAnExplicitVrDecimalString) {
  // A comb along both long sides: one outline of 4,000 corners, ~100 KB as DS text.
  auto series = MakeSeries(1000, 12, 2);
  auto labels = Empty(series.volume.geometry);
  for (int i = 0; i < 1000; ++i)
    for (int j = 0; j < 12; ++j)
      if ((j >= 2 && j < 10) || i % 2 == 0) At(labels, i, j, 1) = 1;
  ASSERT_EQ(ContoursOfLabel(labels, 1).size(), 1u);
  auto written = WriteRtStruct(series.files[0], series.volume, labels, {SegmentsForTwo()[0]}, {});
  ASSERT_TRUE(written) << written.error().public_message;

  auto loaded = LoadFromMemory(*written);
  ASSERT_TRUE(loaded);
  auto data = ContourDataOf(*loaded->dataset);
  EXPECT_GT(data.size(), 1u) << "the outline was cut into bands";
  for (DcmElement* e : data) {
    EXPECT_EQ(e->ident(), EVR_DS);
    EXPECT_LE(e->getLength(), 65534u);
  }
  auto rt = ReadRtStruct(*written);
  ASSERT_TRUE(rt);
  auto r = RasteriseRtStruct(*rt, series.volume.geometry);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->masks.at(1), MaskOf(labels, 1));
}

// The written file with the first contour's ContourData (and NumberOfContourPoints when
// given) replaced.
std::string WithFirstContour(const std::string& file, const std::string& data, const char* points = nullptr) {
  auto loaded = LoadFromMemory(file);
  EXPECT_TRUE(loaded);
  if (!loaded) return {};
  DcmItem* roi = nullptr;
  DcmItem* contour = nullptr;
  EXPECT_TRUE(loaded->dataset->findAndGetSequenceItem(DCM_ROIContourSequence, roi, 0).good());
  EXPECT_TRUE(roi->findAndGetSequenceItem(DCM_ContourSequence, contour, 0).good());
  contour->putAndInsertString(DCM_ContourData, data.c_str());
  if (points) contour->putAndInsertString(DCM_NumberOfContourPoints, points);
  auto bytes = WriteFileToString(*loaded->file);
  EXPECT_TRUE(bytes);
  return bytes ? *bytes : std::string();
}

TEST_F(RtStructFiles, HostileStructureSetsAreRefusedWithAReason) {
  auto series = MakeSeries(24, 20, 5);
  auto written = WriteRtStruct(series.files[0], series.volume, TwoSegments(series.volume.geometry), SegmentsForTwo(), {});
  ASSERT_TRUE(written);
  auto refused = [](const std::string& bytes, ErrorCode code, const std::string& says, RtStructLimits limits = {}) {
    auto rt = ReadRtStruct(bytes, limits);
    ASSERT_FALSE(rt) << says;
    EXPECT_EQ(rt.error().code, code) << rt.error().public_message;
    EXPECT_NE(rt.error().public_message.find(says), std::string::npos) << rt.error().public_message;
  };
  refused(WithFirstContour(*written, "1\\2\\3\\4\\5\\6\\7\\8\\9\\10", "3"), ErrorCode::kUnprocessable,
          "not a multiple of 3");
  refused(WithFirstContour(*written, "1\\2\\3\\4\\5\\6\\7\\8\\9", "4"), ErrorCode::kUnprocessable,
          "NumberOfContourPoints");
  refused(WithFirstContour(*written, "1\\2\\3\\4\\nan\\6\\7\\8\\9", "3"), ErrorCode::kUnprocessable, "not a finite");
  refused(WithFirstContour(*written, "1\\2\\3\\4\\1e999\\6\\7\\8\\9", "3"), ErrorCode::kUnprocessable, "not a finite");
  refused(WithFirstContour(*written, "1\\2\\3\\4\\x\\6\\7\\8\\9", "3"), ErrorCode::kUnprocessable, "not a number");
  RtStructLimits few_points;
  few_points.max_points = 10;
  refused(*written, ErrorCode::kTooLarge, "contour points", few_points);
  RtStructLimits one_roi;
  one_roi.max_rois = 1;
  refused(*written, ErrorCode::kTooLarge, "ROIs", one_roi);

  auto truncated = ReadRtStruct(std::string_view(*written).substr(0, written->size() / 2));
  EXPECT_FALSE(truncated);
  auto image = ReadRtStruct(series.files[0]);
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().code, ErrorCode::kInvalidArgument);

  // A two-point contour is no area: skipped and counted, not refused.
  auto short_one = ReadRtStruct(WithFirstContour(*written, "1\\2\\3\\4\\5\\6", "2"));
  ASSERT_TRUE(short_one) << short_one.error().public_message;
  EXPECT_EQ(short_one->skipped_contours, 1);
}

TEST_F(RtStructFiles, ContourDataSentAsUnIsReadAsDecimals) {
  auto series = MakeSeries(24, 20, 5);
  const auto labels = TwoSegments(series.volume.geometry);
  auto written = WriteRtStruct(series.files[0], series.volume, labels, SegmentsForTwo(), {});
  ASSERT_TRUE(written);
  // As an Explicit VR writer sends a value past 64 KiB (PS3.5 6.2.2): VR UN, same bytes.
  auto loaded = LoadFromMemory(*written);
  ASSERT_TRUE(loaded);
  DcmSequenceOfItems* rois = nullptr;
  ASSERT_TRUE(loaded->dataset->findAndGetSequence(DCM_ROIContourSequence, rois).good());
  int replaced = 0;
  for (unsigned long r = 0; r < rois->card(); ++r) {
    DcmSequenceOfItems* contours = nullptr;
    if (rois->getItem(r)->findAndGetSequence(DCM_ContourSequence, contours).bad() || !contours) continue;
    for (unsigned long c = 0; c < contours->card(); ++c) {
      DcmItem* contour = contours->getItem(c);
      OFString text;
      ASSERT_TRUE(contour->findAndGetOFStringArray(DCM_ContourData, text).good());
      std::string bytes(text.c_str(), text.length());
      if (bytes.size() % 2) bytes += ' ';
      auto* un = new DcmOtherByteOtherWord(DcmTag(DCM_ContourData, EVR_UN));
      un->putUint8Array(reinterpret_cast<const Uint8*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
      contour->insert(un, OFTrue);
      ++replaced;
    }
  }
  ASSERT_GT(replaced, 0);
  auto bytes = WriteFileToString(*loaded->file);
  ASSERT_TRUE(bytes);
  auto rt = ReadRtStruct(*bytes);
  ASSERT_TRUE(rt) << rt.error().public_message;
  auto r = RasteriseRtStruct(*rt, series.volume.geometry);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->masks.at(1), MaskOf(labels, 1));
}

}  // namespace
}  // namespace vg::dicom::rtstruct_test
