// Overlay series (segment outlines burned into windowed copies of the source slices), read
// back with DCMTK and checked pixel by pixel.
#include "dicom/overlay_series.h"

#include <dcmtk/dcmdata/dctk.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "dicom/dcmtk_io.h"
#include "dicom/dicom.h"
#include "dicom/volume.h"
#include "synthetic_dicom.h"

namespace vg::dicom::overlay_series_test {

constexpr int kColumns = 12, kRows = 10, kSlices = 5;
constexpr std::array<std::uint8_t, 3> kRed{255, 0, 0}, kBlue{0, 0, 255};

struct Source {
  std::vector<std::string> files;
  Volume volume;
};

// Five axial slices 2.5 mm apart; stored value = 10*row + column + 50*slice.
Source MakeSource() {
  Source source;
  vg::testing::SliceSpec base;
  base.rows = kRows;
  base.columns = kColumns;
  base.series_uid = "1.2.826.0.1.3680043.8.498.7.1";
  for (int k = 0; k < kSlices; ++k) {
    vg::testing::SliceSpec s = base;
    s.sop_uid = base.series_uid + "." + std::to_string(k + 1);
    s.instance_number = k + 1;
    s.position[2] = 2.5 * k;
    source.files.push_back(vg::testing::MakeSlice(s, [k](int c, int r) { return 10 * r + c + 50 * k; }));
  }
  std::vector<std::string_view> views(source.files.begin(), source.files.end());
  auto volume = AssembleVolume(views);
  EXPECT_TRUE(volume) << volume.error().public_message;
  if (volume) source.volume = std::move(*volume);
  return source;
}

// Label 1: a 5x5 box (columns 2..6, rows 2..6) on slices 1 and 2. Label 2: columns 8..11
// (up to the image's right edge), rows 4..8, on slices 2 and 3. Label 7, listed as no
// segment, on slice 4. Slice 0 is empty.
LabelVolume TwoBoxes(const VolumeGeometry& g) {
  LabelVolume labels{g, std::vector<std::uint8_t>(static_cast<size_t>(g.VoxelCount()), 0)};
  auto at = [&](int c, int r, int k) -> std::uint8_t& { return labels.labels[(k * kRows + r) * kColumns + c]; };
  for (int k = 1; k <= 2; ++k)
    for (int r = 2; r <= 6; ++r)
      for (int c = 2; c <= 6; ++c) at(c, r, k) = 1;
  for (int k = 2; k <= 3; ++k)
    for (int r = 4; r <= 8; ++r)
      for (int c = 8; c <= 11; ++c) at(c, r, k) = 2;
  at(5, 5, 4) = 7;
  return labels;
}

std::vector<SegmentInfo> Segments() {
  SegmentInfo lung;
  lung.label = 1;
  lung.name = "Left lung";
  lung.rgb = kRed;
  SegmentInfo lesion;
  lesion.label = 2;
  lesion.name = "Lesion";
  lesion.rgb = kBlue;
  return {lung, lesion};
}

OverlayOptions Options() {
  OverlayOptions options;
  options.series_description =
      "ct-lungs 1.2 overlay - not for primary diagnosis - and a tail past sixty-four characters";
  options.algorithm_name = "ct-lungs";
  options.algorithm_version = "1.2";
  options.not_for_primary_diagnosis = true;
  options.window = std::pair{200.0, 400.0};  // 0..400 -> 0..255
  return options;
}

std::unique_ptr<LoadedFile> Read(const std::string& part10) {
  auto loaded = LoadFromMemory(part10);
  EXPECT_TRUE(loaded) << loaded.error().public_message;
  return loaded ? std::make_unique<LoadedFile>(std::move(*loaded)) : nullptr;
}

std::vector<std::uint8_t> Rgb(DcmDataset& ds) {
  const Uint8* data = nullptr;
  unsigned long count = 0;
  EXPECT_TRUE(ds.findAndGetUint8Array(DCM_PixelData, data, &count).good());
  const unsigned long size = kColumns * kRows * 3;
  EXPECT_GE(count, size);
  if (!data || count < size) return {};
  return std::vector<std::uint8_t>(data, data + size);
}

class OverlaySeries : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Initialize(); }
};

TEST_F(OverlaySeries, OneImagePerSliceThatHoldsASegmentInSliceOrder) {
  Source source = MakeSource();
  auto images =
      WriteOverlaySeries(source.files[0], source.volume, TwoBoxes(source.volume.geometry), Segments(), Options());
  ASSERT_TRUE(images) << images.error().public_message << " " << images.error().detail;
  ASSERT_EQ(images->size(), 3u);  // slices 1, 2, 3; not 0 (empty) nor 4 (an unlisted label)
  std::string series_uid;
  for (int i = 0; i < 3; ++i) {
    const int k = i + 1;
    auto file = Read((*images)[i]);
    ASSERT_TRUE(file);
    DcmDataset& ds = *file->dataset;
    EXPECT_EQ(GetLong(ds, DCM_InstanceNumber, 0), k + 1);
    DcmItem* reference = nullptr;
    ASSERT_TRUE(ds.findAndGetSequenceItem(DCM_SourceImageSequence, reference, 0).good());
    EXPECT_EQ(GetString(*reference, DCM_ReferencedSOPInstanceUID), source.volume.slices[k].sop_uid);
    EXPECT_EQ(GetString(*reference, DCM_ReferencedSOPClassUID), source.volume.slices[k].sop_class_uid);
    Float64 z = 0;
    ASSERT_TRUE(ds.findAndGetFloat64(DCM_ImagePositionPatient, z, 2).good());
    EXPECT_NEAR(z, 2.5 * k, 1e-6);
    EXPECT_EQ(GetString(ds, DCM_PixelSpacing), "0.5\\0.75");
    EXPECT_EQ(GetString(ds, DCM_ImageOrientationPatient), "1\\0\\0\\0\\1\\0");
    if (i == 0) series_uid = GetString(ds, DCM_SeriesInstanceUID);
    EXPECT_EQ(GetString(ds, DCM_SeriesInstanceUID), series_uid);
  }
  EXPECT_NE(series_uid, vg::testing::SliceSpec{}.series_uid);
}

TEST_F(OverlaySeries, SegmentBoundariesAreInTheirColourAndEverythingElseIsGrey) {
  Source source = MakeSource();
  const LabelVolume labels = TwoBoxes(source.volume.geometry);
  auto images = WriteOverlaySeries(source.files[0], source.volume, labels, Segments(), Options());
  ASSERT_TRUE(images) << images.error().public_message;
  ASSERT_EQ(images->size(), 3u);
  int outlined = 0, grey_inside = 0;
  for (int i = 0; i < 3; ++i) {
    const int k = i + 1;
    auto file = Read((*images)[i]);
    ASSERT_TRUE(file);
    EXPECT_EQ(GetString(*file->dataset, DCM_PhotometricInterpretation), "RGB");
    const auto rgb = Rgb(*file->dataset);
    ASSERT_EQ(rgb.size(), static_cast<size_t>(kColumns * kRows * 3));
    auto label = [&](int c, int r) -> int {
      if (c < 0 || r < 0 || c >= kColumns || r >= kRows) return -1;
      return labels.labels[(k * kRows + r) * kColumns + c];
    };
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < kColumns; ++c) {
        const std::uint8_t* px = &rgb[(r * kColumns + c) * 3];
        const int l = label(c, r);
        const bool boundary = (l == 1 || l == 2) && (label(c - 1, r) != l || label(c + 1, r) != l ||
                                                     label(c, r - 1) != l || label(c, r + 1) != l);
        SCOPED_TRACE(::testing::Message() << "slice " << k << " column " << c << " row " << r);
        if (boundary) {
          const auto& want = l == 1 ? kRed : kBlue;
          EXPECT_EQ(px[0], want[0]);
          EXPECT_EQ(px[1], want[1]);
          EXPECT_EQ(px[2], want[2]);
          ++outlined;
        } else {
          EXPECT_EQ(px[0], px[1]);
          EXPECT_EQ(px[1], px[2]);
          EXPECT_NEAR(px[0], (10 * r + c + 50 * k) * 255.0 / 400.0, 1.0);  // the window 0..400
          grey_inside += l != 0;
        }
      }
  }
  EXPECT_EQ(outlined, 16 * 2 + 14 * 2);  // the 5x5 box's rim twice; the 4x5 box's rim (no inner side at the edge) twice
  EXPECT_EQ(grey_inside, 9 * 2 + 6 * 2);
}

TEST_F(OverlaySeries, WiderOutlinesReachFurtherIntoTheSegment) {
  Source source = MakeSource();
  OverlayOptions options = Options();
  options.outline_width = 2;
  auto images =
      WriteOverlaySeries(source.files[0], source.volume, TwoBoxes(source.volume.geometry), Segments(), options);
  ASSERT_TRUE(images) << images.error().public_message;
  auto file = Read((*images)[0]);  // slice 1: the 5x5 box only
  ASSERT_TRUE(file);
  const auto rgb = Rgb(*file->dataset);
  ASSERT_FALSE(rgb.empty());
  auto red = [&](int c, int r) { return rgb[(r * kColumns + c) * 3] == 255 && rgb[(r * kColumns + c) * 3 + 2] == 0; };
  EXPECT_TRUE(red(3, 3));   // second ring
  EXPECT_FALSE(red(4, 4));  // the centre
  EXPECT_FALSE(red(1, 1));  // outside
}

TEST_F(OverlaySeries, ImagesAreDerivedSecondaryCapturesInTheSourceStudy) {
  Source source = MakeSource();
  auto images =
      WriteOverlaySeries(source.files[0], source.volume, TwoBoxes(source.volume.geometry), Segments(), Options());
  ASSERT_TRUE(images) << images.error().public_message;
  auto file = Read(images->front());
  ASSERT_TRUE(file);
  DcmDataset& ds = *file->dataset;
  EXPECT_EQ(GetString(ds, DCM_SOPClassUID), UID_SecondaryCaptureImageStorage);
  EXPECT_EQ(file->transfer_syntax_uid, UID_LittleEndianExplicitTransferSyntax);
  EXPECT_EQ(GetString(ds, DCM_ImageType), "DERIVED\\SECONDARY");
  EXPECT_EQ(GetString(ds, DCM_ConversionType), "WSD");
  EXPECT_EQ(GetString(ds, DCM_BurnedInAnnotation), "NO");
  EXPECT_EQ(GetString(ds, DCM_Modality), "CT");
  EXPECT_EQ(GetString(ds, DCM_SeriesDescription), Options().series_description.substr(0, 64));
  EXPECT_EQ(GetLong(ds, DCM_SeriesNumber, 0), 302);
  const std::string derivation = GetString(ds, DCM_DerivationDescription);
  EXPECT_NE(derivation.find("ct-lungs 1.2"), std::string::npos) << derivation;
  EXPECT_NE(derivation.find(source.volume.slices[1].sop_uid), std::string::npos) << derivation;
  EXPECT_NE(derivation.find("NOT FOR PRIMARY DIAGNOSIS"), std::string::npos) << derivation;
  const std::string comments = GetString(ds, DCM_ImageComments);
  EXPECT_NE(comments.find("NOT FOR PRIMARY DIAGNOSIS"), std::string::npos) << comments;
  EXPECT_NE(comments.find("Left lung = RGB(255,0,0)"), std::string::npos) << comments;
  // Patient, study and frame of reference of the source.
  EXPECT_EQ(GetString(ds, DCM_PatientID), "PH1");
  EXPECT_EQ(GetString(ds, DCM_PatientName), "PHANTOM^ONE");
  EXPECT_EQ(GetString(ds, DCM_StudyInstanceUID), vg::testing::SliceSpec{}.study_uid);
  EXPECT_EQ(GetString(ds, DCM_FrameOfReferenceUID), vg::testing::SliceSpec{}.frame_of_reference_uid);
}

TEST_F(OverlaySeries, LabelsOnAnotherGridAreRefused) {
  Source source = MakeSource();
  LabelVolume shifted = TwoBoxes(source.volume.geometry);
  shifted.geometry.origin[2] += 1.25;  // half a slice
  auto images = WriteOverlaySeries(source.files[0], source.volume, shifted, Segments(), Options());
  ASSERT_FALSE(images);
  EXPECT_EQ(images.error().code, ErrorCode::kInvalidArgument);

  LabelVolume smaller = TwoBoxes(source.volume.geometry);
  smaller.geometry.dims[2] -= 1;
  smaller.labels.resize(static_cast<size_t>(smaller.geometry.VoxelCount()));
  images = WriteOverlaySeries(source.files[0], source.volume, smaller, Segments(), Options());
  ASSERT_FALSE(images);
  EXPECT_EQ(images.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(OverlaySeries, NoSliceWithASegmentGivesNoImages) {
  Source source = MakeSource();
  LabelVolume empty{source.volume.geometry, std::vector<std::uint8_t>(source.volume.geometry.VoxelCount(), 0)};
  auto images = WriteOverlaySeries(source.files[0], source.volume, empty, Segments(), Options());
  ASSERT_TRUE(images) << images.error().public_message;
  EXPECT_TRUE(images->empty());
}

}  // namespace vg::dicom::overlay_series_test
