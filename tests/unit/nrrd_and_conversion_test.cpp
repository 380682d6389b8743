// NRRD in and out (what Slicer and MONAI Label exchange), and a NIfTI/NRRD image made into
// a DICOM series that assembles back onto the same grid with the same values.
#include <gtest/gtest.h>

#include <cmath>

#include "dicom/image_to_series.h"
#include "dicom/nrrd.h"
#include "dicom/volume.h"

namespace vg::dicom {
namespace {

LabelVolume Labels() {
  LabelVolume l;
  l.geometry.dims = {5, 4, 3};
  l.geometry.spacing = {0.8, 0.9, 2.5};
  l.geometry.origin = {-10, 20, 30};
  l.geometry.direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  l.labels.resize(60);
  for (size_t i = 0; i < l.labels.size(); ++i) l.labels[i] = static_cast<std::uint8_t>(i % 3);
  return l;
}

TEST(Nrrd, LabelsRoundTripRawGzipAndSixteenBits) {
  const LabelVolume labels = Labels();
  for (bool uint16 : {false, true})
    for (bool gzip : {false, true}) {
      auto bytes = WriteNrrd(labels, {uint16, gzip});
      ASSERT_TRUE(bytes);
      auto image = ReadNrrd(*bytes);
      ASSERT_TRUE(image) << image.error().public_message;
      EXPECT_TRUE(image->geometry.SameGrid(labels.geometry, 1e-9));
      auto back = LabelsFromNifti(*image);
      ASSERT_TRUE(back);
      EXPECT_EQ(back->labels, labels.labels) << "uint16 " << uint16 << " gzip " << gzip;
    }
}

TEST(Nrrd, RasSpaceAndLeftHandedGridsLandInLps) {
  // Slicer writes RAS: x and y flip sign. A third axis against row x column is re-ordered.
  const std::string header =
      "NRRD0004\ntype: short\ndimension: 3\nspace: right-anterior-superior\nsizes: 2 2 2\n"
      "space directions: (-1,0,0) (0,-1,0) (0,0,-3)\nkinds: domain domain domain\nendian: little\n"
      "encoding: raw\nspace origin: (5,6,7)\n\n";
  std::string data;
  for (std::int16_t v = 0; v < 8; ++v) data.append(reinterpret_cast<const char*>(&v), 2);
  auto image = ReadNrrd(header + data);
  ASSERT_TRUE(image) << image.error().public_message;
  const auto& g = image->geometry;
  EXPECT_DOUBLE_EQ(g.direction[0], 1);   // RAS -x is LPS +x
  EXPECT_DOUBLE_EQ(g.direction[4], 1);
  EXPECT_DOUBLE_EQ(g.direction[8], 1);   // walked the other way: right-handed now
  EXPECT_DOUBLE_EQ(g.origin[2], 7 - 3);  // the old last slice is first
  EXPECT_DOUBLE_EQ(g.origin[0], -5);
  EXPECT_DOUBLE_EQ(image->values[0], 4);  // slice 1's first voxel
}

TEST(Nrrd, DetachedDataAndOtherSpacesAreRefusedWithTheReason) {
  auto detached = ReadNrrd("NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 2\ndata file: x.raw\n\n");
  ASSERT_FALSE(detached);
  EXPECT_NE(detached.error().public_message.find("detached"), std::string::npos);
  auto scanner = ReadNrrd("NRRD0004\ntype: short\ndimension: 3\nspace: scanner-xyz\nsizes: 1 1 1\n"
                          "space directions: (1,0,0) (0,1,0) (0,0,1)\nencoding: raw\n\n\x01\x00");
  ASSERT_FALSE(scanner);
  EXPECT_FALSE(ReadNrrd("not nrrd"));
}

TEST(Conversion, AnImageBecomesASeriesThatAssemblesToTheSameGridAndValues) {
  NiftiImage image;
  image.geometry.dims = {6, 5, 4};
  image.geometry.spacing = {0.7, 0.8, 3.0};
  image.geometry.origin = {-100, 50, -20};
  // An oblique orientation: rotated 30 degrees about z.
  const double c = std::cos(M_PI / 6), s = std::sin(M_PI / 6);
  image.geometry.direction = {c, s, 0, -s, c, 0, 0, 0, 1};
  for (int i = 0; i < 120; ++i) image.values.push_back(-1000 + i * 17.5);  // not integers: a rescale slope
  ConvertedSeriesInfo info;
  info.patient_name = "UPLOAD";
  info.patient_id = "UPLOAD";
  info.derivation = "converted from NIfTI by voxelgate (test)";
  auto files = SeriesFromImage(image, info);
  ASSERT_TRUE(files) << files.error().public_message;
  ASSERT_EQ(files->size(), 4u);
  std::vector<std::string_view> views(files->begin(), files->end());
  auto volume = AssembleVolume(views);
  ASSERT_TRUE(volume) << volume.error().public_message;
  EXPECT_EQ(volume->modality, "CT");
  EXPECT_TRUE(volume->geometry.SameGrid(image.geometry, 0.001));
  double worst = 0;
  for (std::int64_t i = 0; i < 120; ++i) worst = std::max(worst, std::abs(volume->ValueAt(i) - image.values[i]));
  EXPECT_LT(worst, 0.05) << "values survive the int16 rescale";
}

}  // namespace
}  // namespace vg::dicom
