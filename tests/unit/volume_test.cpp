// Series -> volume assembly, NIfTI and SEG round trips, on synthetic slices.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "dicom/dicom.h"
#include "dicom/nifti.h"
#include "dicom/seg.h"
#include "dicom/volume.h"
#include "synthetic_dicom.h"

namespace vg {
namespace {

using dicom::AssembleVolume;
using testing::MakeSlice;
using testing::SliceSpec;

struct Series {
  std::vector<std::string> files;
  std::vector<std::string_view> Views() const { return {files.begin(), files.end()}; }
};

// `count` axial slices starting at z0, `gap` mm apart, handed over in a shuffled order with
// InstanceNumbers that run against the geometry. Stored value = 100*k + 10*r + c.
Series AxialSeries(int count, double z0 = 5.0, double gap = 2.5, SliceSpec base = {}) {
  Series series;
  for (int k = 0; k < count; ++k) {
    SliceSpec s = base;
    s.sop_uid = base.series_uid + "." + std::to_string(k + 1);
    s.instance_number = count - k;
    s.position[0] = -10;
    s.position[1] = 20;
    s.position[2] = z0 + gap * k;
    series.files.push_back(MakeSlice(s, [k](int c, int r) { return 100 * k + 10 * r + c; }));
  }
  std::mt19937 shuffle(7);
  std::shuffle(series.files.begin(), series.files.end(), shuffle);
  return series;
}

class VolumeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dicom::Initialize(); }
};

TEST_F(VolumeTest, SlicesAreOrderedByPositionNotByFileOrInstanceNumber) {
  auto series = AxialSeries(8);
  auto volume = AssembleVolume(series.Views());
  ASSERT_TRUE(volume) << volume.error().public_message;
  const auto& g = volume->geometry;
  EXPECT_EQ(g.dims, (std::array<std::int64_t, 3>{5, 6, 8}));
  EXPECT_DOUBLE_EQ(g.origin[2], 5.0);
  EXPECT_NEAR(g.spacing[2], 2.5, 1e-9);  // from positions, not SliceThickness (9.9)
  EXPECT_DOUBLE_EQ(g.spacing[0], 0.75);  // along a row: PixelSpacing's second value
  EXPECT_DOUBLE_EQ(g.spacing[1], 0.5);
  ASSERT_EQ(volume->type, dicom::VoxelType::kInt16);
  for (int k = 0; k < 8; ++k)
    for (int r = 0; r < 6; ++r)
      for (int c = 0; c < 5; ++c) ASSERT_EQ(volume->ValueAt((k * 6 + r) * 5 + c), 100 * k + 10 * r + c);
  EXPECT_EQ(volume->slices.front().sop_uid, SliceSpec{}.series_uid + ".1");
  EXPECT_EQ(volume->slices.back().sop_uid, SliceSpec{}.series_uid + ".8");
}

TEST_F(VolumeTest, RescaleGivesModalityUnits) {
  SliceSpec base;
  base.bits_stored = 12;
  base.intercept = "-1024";
  auto series = AxialSeries(3, 0, 1, base);
  auto volume = AssembleVolume(series.Views());
  ASSERT_TRUE(volume) << volume.error().public_message;
  EXPECT_EQ(volume->type, dicom::VoxelType::kInt16);
  EXPECT_EQ(volume->ValueAt(0), -1024);
  EXPECT_EQ(volume->ValueAt(2 * 30 + 7), 200 + 10 + 2 - 1024);
}

TEST_F(VolumeTest, FractionalSlopeGivesFloatVoxels) {
  SliceSpec base;
  base.slope = "0.5";
  base.intercept = "1.25";
  auto volume = AssembleVolume(AxialSeries(3, 0, 1, base).Views());
  ASSERT_TRUE(volume) << volume.error().public_message;
  EXPECT_EQ(volume->type, dicom::VoxelType::kFloat32);
  EXPECT_FLOAT_EQ(volume->ValueAt(31), 0.5f * (100 + 1) + 1.25f);
}

TEST_F(VolumeTest, SignedPixelsKeepTheirSign) {
  SliceSpec base;
  base.is_signed = true;
  Series series;
  for (int k = 0; k < 3; ++k) {
    SliceSpec s = base;
    s.sop_uid = "1.2.3." + std::to_string(k + 1);
    s.position[2] = k;
    series.files.push_back(MakeSlice(s, [k](int c, int r) { return static_cast<std::uint16_t>(-1000 + k + c); }));
  }
  auto volume = AssembleVolume(series.Views());
  ASSERT_TRUE(volume) << volume.error().public_message;
  EXPECT_EQ(volume->ValueAt(0), -1000);
  EXPECT_EQ(volume->ValueAt(2 * 30 + 4), -1000 + 2 + 4);
}

TEST_F(VolumeTest, MissingSliceIsRefusedWithTheGapNamed) {
  auto series = AxialSeries(6);
  // Drop the slice at z = 5 + 2.5*3 = 12.5 (found by its position in the file).
  std::erase_if(series.files, [](const std::string& f) { return f.find("20\\12.5") != std::string::npos; });
  ASSERT_EQ(series.files.size(), 5u);
  auto volume = AssembleVolume(series.Views());
  ASSERT_FALSE(volume);
  EXPECT_NE(volume.error().public_message.find("1 slice missing between (-10.0, 20.0, 10.0) mm and (-10.0, 20.0, 15.0) mm"),
            std::string::npos)
      << volume.error().public_message;
}

TEST_F(VolumeTest, DuplicatedSliceIsRefused) {
  auto series = AxialSeries(4);
  series.files.push_back(series.files[0]);
  auto volume = AssembleVolume(series.Views());
  ASSERT_FALSE(volume);
  EXPECT_NE(volume.error().public_message.find("duplicated slice"), std::string::npos) << volume.error().public_message;
}

TEST_F(VolumeTest, SeveralEchoesAreRefusedAsSeveralVolumes) {
  Series series;
  for (int echo = 1; echo <= 2; ++echo)
    for (int k = 0; k < 4; ++k) {
      SliceSpec s;
      s.sop_uid = "1.2.3." + std::to_string(echo) + "." + std::to_string(k + 1);
      s.position[2] = k;
      s.echo_number = std::to_string(echo);
      series.files.push_back(MakeSlice(s, [](int, int) { return 1; }));
    }
  auto volume = AssembleVolume(series.Views());
  ASSERT_FALSE(volume);
  EXPECT_NE(volume.error().public_message.find("holds 2 volumes"), std::string::npos) << volume.error().public_message;
}

TEST_F(VolumeTest, MixedOrientationsAreRefused) {
  auto series = AxialSeries(3);
  SliceSpec odd;
  odd.sop_uid = "1.2.3.99";
  odd.position[2] = 30;
  odd.orientation[1] = 0.1;  // a row direction that leaves the axial plane
  odd.orientation[0] = std::sqrt(1 - 0.01);
  series.files.push_back(MakeSlice(odd, [](int, int) { return 0; }));
  auto volume = AssembleVolume(series.Views());
  ASSERT_FALSE(volume);
  EXPECT_NE(volume.error().public_message.find("mixed orientations"), std::string::npos);
}

TEST_F(VolumeTest, UnevenSpacingIsRefused) {
  Series series;
  const double z[] = {0, 1, 2, 3.3, 4.3};
  for (int k = 0; k < 5; ++k) {
    SliceSpec s;
    s.sop_uid = "1.2.3." + std::to_string(k + 1);
    s.position[2] = z[k];
    series.files.push_back(MakeSlice(s, [](int, int) { return 0; }));
  }
  auto volume = AssembleVolume(series.Views());
  ASSERT_FALSE(volume);
  EXPECT_NE(volume.error().public_message.find("uneven slice spacing"), std::string::npos) << volume.error().public_message;
}

TEST_F(VolumeTest, GantryTiltIsRefused) {
  Series series;
  for (int k = 0; k < 5; ++k) {
    SliceSpec s;
    s.sop_uid = "1.2.3." + std::to_string(k + 1);
    s.position[1] = 0.3 * k;  // the table moves sideways as z advances: ~17 degrees
    s.position[2] = k;
    series.files.push_back(MakeSlice(s, [](int, int) { return 0; }));
  }
  auto volume = AssembleVolume(series.Views());
  ASSERT_FALSE(volume);
  EXPECT_NE(volume.error().public_message.find("gantry tilt"), std::string::npos) << volume.error().public_message;
}

TEST_F(VolumeTest, SagittalStackHasNormalRowCrossColumn) {
  Series series;
  for (int k = 0; k < 3; ++k) {
    SliceSpec s;
    s.sop_uid = "1.2.3." + std::to_string(k + 1);
    const double o[6] = {0, 1, 0, 0, 0, -1};  // rows run anterior->posterior, columns downwards
    std::copy(o, o + 6, s.orientation);
    s.position[0] = 7.0 - 2.0 * k;  // stacked towards the patient's right
    series.files.push_back(MakeSlice(s, [k](int, int) { return k; }));
  }
  auto volume = AssembleVolume(series.Views());
  ASSERT_TRUE(volume) << volume.error().public_message;
  const auto& d = volume->geometry.direction;
  EXPECT_DOUBLE_EQ(d[6], -1);  // (0,1,0) x (0,0,-1) = (-1,0,0)
  EXPECT_DOUBLE_EQ(volume->geometry.origin[0], 7.0);
  EXPECT_NEAR(volume->geometry.spacing[2], 2.0, 1e-9);
  EXPECT_EQ(volume->ValueAt(2 * 30), 2);
}

TEST_F(VolumeTest, HeadersOnlyGivesGeometryWithoutPixels) {
  auto series = AxialSeries(4);
  dicom::VolumeOptions options;
  options.headers_only = true;
  auto volume = AssembleVolume(series.Views(), options);
  ASSERT_TRUE(volume);
  EXPECT_EQ(volume->geometry.dims[2], 4);
  EXPECT_TRUE(volume->int16_voxels.empty());
}

TEST_F(VolumeTest, TooManyVoxelsIsRefusedBeforeAllocating) {
  dicom::VolumeOptions options;
  options.max_voxels = 100;
  auto volume = AssembleVolume(AxialSeries(4).Views(), options);
  ASSERT_FALSE(volume);
  EXPECT_EQ(volume.error().code, ErrorCode::kTooLarge);
}

dicom::LabelVolume SphereLabels(const dicom::VolumeGeometry& g) {
  dicom::LabelVolume labels;
  labels.geometry = g;
  labels.labels.assign(g.VoxelCount(), 0);
  for (std::int64_t k = 0; k < g.dims[2]; ++k)
    for (std::int64_t j = 0; j < g.dims[1]; ++j)
      for (std::int64_t i = 0; i < g.dims[0]; ++i) {
        const auto index = (k * g.dims[1] + j) * g.dims[0] + i;
        if (k >= 2 && k <= 4 && i <= 2) labels.labels[index] = 1;
        if (k == 5 && j >= 3) labels.labels[index] = 3;  // labels need not be consecutive
      }
  return labels;
}

TEST_F(VolumeTest, LabelsSurviveNiftiRoundTripOnTheSameGrid) {
  auto volume = AssembleVolume(AxialSeries(8).Views());
  ASSERT_TRUE(volume);
  auto labels = SphereLabels(volume->geometry);
  auto bytes = dicom::NiftiGzBytes(labels);
  ASSERT_TRUE(bytes);
  auto image = dicom::ReadNifti(*bytes);
  ASSERT_TRUE(image) << image.error().public_message;
  auto back = dicom::LabelsFromNifti(*image);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->geometry.SameGrid(volume->geometry, 1e-3));
  EXPECT_EQ(back->labels, labels.labels);
}

TEST_F(VolumeTest, NiftiAffineIsRasOfTheDicomLpsGrid) {
  auto volume = AssembleVolume(AxialSeries(3).Views());
  ASSERT_TRUE(volume);
  std::string bytes;
  ASSERT_TRUE(dicom::WriteNiftiGz(*volume, [&](std::string_view chunk) -> Result<void> {
    bytes.append(chunk);
    return {};
  }));
  auto raw = dicom::Gunzip(bytes, 1 << 20);
  ASSERT_TRUE(raw);
  float srow_x[4], srow_y[4], srow_z[4];
  std::memcpy(srow_x, raw->data() + 280, 16);
  std::memcpy(srow_y, raw->data() + 296, 16);
  std::memcpy(srow_z, raw->data() + 312, 16);
  EXPECT_FLOAT_EQ(srow_x[0], -0.75f);  // L -> R flips x
  EXPECT_FLOAT_EQ(srow_x[3], 10.0f);   // origin x = -10 LPS
  EXPECT_FLOAT_EQ(srow_y[1], -0.5f);
  EXPECT_FLOAT_EQ(srow_y[3], -20.0f);
  EXPECT_FLOAT_EQ(srow_z[2], 2.5f);
  EXPECT_FLOAT_EQ(srow_z[3], 5.0f);
}

TEST_F(VolumeTest, LabelsSurviveSegRoundTrip) {
  auto series = AxialSeries(8);
  auto volume = AssembleVolume(series.Views());
  ASSERT_TRUE(volume);
  auto labels = SphereLabels(volume->geometry);
  dicom::SegmentInfo lung;
  lung.label = 1;
  lung.name = "Left lung";
  lung.rgb = {200, 100, 50};
  lung.type = {"44029006", "SCT", "Left lung"};
  dicom::SegmentInfo lesion;
  lesion.label = 3;
  lesion.name = "Lesion";
  lesion.automatic = true;
  lesion.algorithm_name = "ct-lungs";
  lesion.algorithm_version = "1.0.0";
  dicom::SegWriteOptions options;
  options.content_creator = "RAD^ONE";
  auto seg = dicom::WriteBinarySeg(series.files[0], *volume, labels, {lung, lesion}, options);
  ASSERT_TRUE(seg) << seg.error().public_message << " " << seg.error().detail;
  if (const char* dump = std::getenv("VG_DUMP_SEG")) {
    FILE* f = std::fopen(dump, "wb");
    std::fwrite(seg->data(), 1, seg->size(), f);
    std::fclose(f);
  }
  auto parsed = dicom::ParseInstance(*seg);
  ASSERT_TRUE(parsed) << parsed.error().public_message;
  EXPECT_EQ(parsed->frames, 3 + 1);  // one frame per segment and non-empty slice
  EXPECT_EQ(parsed->study_uid, SliceSpec{}.study_uid);
  EXPECT_NE(parsed->series_uid, SliceSpec{}.series_uid);

  auto masks = dicom::ReadSegOnGrid(*seg, volume->geometry);
  ASSERT_TRUE(masks) << masks.error().public_message;
  ASSERT_EQ(masks->header.segments.size(), 2u);
  EXPECT_EQ(masks->header.segments[0].name, "Left lung");
  EXPECT_EQ(masks->header.segments[0].type.code, "44029006");
  EXPECT_FALSE(masks->header.segments[0].automatic);
  EXPECT_TRUE(masks->header.segments[1].automatic);
  EXPECT_EQ(masks->header.segments[1].algorithm_version, "1.0.0");
  EXPECT_NEAR(masks->header.segments[0].rgb[0], 200, 2);
  EXPECT_EQ(masks->header.referenced_series_uids, std::vector<std::string>{SliceSpec{}.series_uid});
  auto back = dicom::FlattenMasks(*masks, volume->geometry, {{1, 1}, {2, 3}});
  EXPECT_EQ(back.labels, labels.labels);
}

TEST_F(VolumeTest, EmptySegmentationIsRefused) {
  auto series = AxialSeries(3);
  auto volume = AssembleVolume(series.Views());
  ASSERT_TRUE(volume);
  dicom::LabelVolume empty{volume->geometry, std::vector<std::uint8_t>(volume->geometry.VoxelCount(), 0)};
  dicom::SegmentInfo s;
  s.label = 1;
  s.name = "x";
  auto seg = dicom::WriteBinarySeg(series.files[0], *volume, empty, {s}, {});
  ASSERT_FALSE(seg);
  EXPECT_NE(seg.error().public_message.find("empty"), std::string::npos);
}

TEST_F(VolumeTest, SegOnAnotherGridIsRefused) {
  auto series = AxialSeries(6);
  auto volume = AssembleVolume(series.Views());
  ASSERT_TRUE(volume);
  auto labels = SphereLabels(volume->geometry);
  dicom::SegmentInfo s;
  s.label = 1;
  s.name = "x";
  dicom::SegmentInfo t = s;
  t.label = 3;
  auto seg = dicom::WriteBinarySeg(series.files[0], *volume, labels, {s, t}, {});
  ASSERT_TRUE(seg);
  auto shifted = volume->geometry;
  shifted.origin[2] += 1.25;  // half a slice
  auto masks = dicom::ReadSegOnGrid(*seg, shifted);
  ASSERT_FALSE(masks);
  EXPECT_NE(masks.error().public_message.find("on no slice"), std::string::npos);
}

}  // namespace
}  // namespace vg
