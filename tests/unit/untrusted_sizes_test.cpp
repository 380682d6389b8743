// Sizes and geometry read from outside are checked before anything is computed from
// them: implausible ones are refused with 422 (or 413 for a limit), never wrapped.
#include <dcmtk/dcmdata/dctk.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/checked_math.h"
#include "dicom/pixels.h"
#include "dicom/volume.h"

namespace vg::dicom {
namespace {

DcmDataset Image(Uint16 rows, Uint16 columns, const char* frames = nullptr, Uint16 bits = 16) {
  DcmDataset ds;
  ds.putAndInsertUint16(DCM_Rows, rows);
  ds.putAndInsertUint16(DCM_Columns, columns);
  ds.putAndInsertUint16(DCM_BitsAllocated, bits);
  ds.putAndInsertUint16(DCM_SamplesPerPixel, 1);
  if (frames) ds.putAndInsertString(DCM_NumberOfFrames, frames);
  return ds;
}

TEST(CheckedMath, ProductsThatOverflowOrPassTheLimitAreRefused) {
  EXPECT_EQ(ProductWithin({512, 512, 300}, 1ull << 30), 512ull * 512 * 300);
  EXPECT_FALSE(ProductWithin({1ll << 34, 1ll << 34, 16}, UINT64_MAX));  // 2^72
  EXPECT_FALSE(ProductWithin({1ll << 30, 1ll << 30}, 1ull << 40));
  EXPECT_FALSE(ProductWithin({-1, 5}, 100));
  EXPECT_EQ(ProductWithin({0, 1ll << 62}, 10), 0u);
  EXPECT_FALSE(CheckedAdd(UINT64_MAX, 1));
}

TEST(ImageLayout, APlainImagePasses) {
  auto ds = Image(512, 512, "10");
  auto layout = ReadImageLayout(ds);
  ASSERT_TRUE(layout) << layout.error().public_message;
  EXPECT_EQ(layout->frame_bits, 512u * 512 * 16);
  EXPECT_EQ(layout->decoded_bytes, 512u * 512 * 2 * 10);
}

TEST(ImageLayout, RowsSentAsUlAreRefused) {
  DcmDataset ds = Image(16, 16);
  ds.findAndDeleteElement(DCM_Rows);
  auto* rows = new DcmUnsignedLong(DcmTag(DCM_Rows, EVR_UL));
  rows->putUint32(2147516416u);
  ds.insert(rows, true);
  auto layout = ReadImageLayout(ds);
  ASSERT_FALSE(layout);
  EXPECT_EQ(layout.error().code, ErrorCode::kUnprocessable);
}

TEST(ImageLayout, ImplausibleFrameCountsAreRefused) {
  for (const char* frames : {"0", "-3", "2147483647", "99999999999"}) {
    auto ds = Image(64, 64, frames);
    auto layout = ReadImageLayout(ds);
    EXPECT_FALSE(layout) << frames;
  }
}

TEST(ImageLayout, FramesThatDecodeTooLargeAreRefusedBeforeDecoding) {
  auto ds = Image(16384, 16384, "5000");  // a few KiB of JPEG-LS could declare this
  auto layout = ReadImageLayout(ds);
  ASSERT_FALSE(layout);
  EXPECT_EQ(layout.error().code, ErrorCode::kTooLarge);
}

TEST(ImageLayout, OddBitDepthsAndSampleCountsAreRefused) {
  auto bits = Image(64, 64, nullptr, 12);
  EXPECT_FALSE(ReadImageLayout(bits));
  auto samples = Image(64, 64);
  samples.putAndInsertUint16(DCM_SamplesPerPixel, 9);
  EXPECT_FALSE(ReadImageLayout(samples));
}

VolumeGeometry Grid() {
  VolumeGeometry g;
  g.dims = {4, 4, 4};
  g.spacing = {1, 1, 1};
  g.direction = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  return g;
}

TEST(Geometry, AFiniteGridPasses) { EXPECT_TRUE(CheckGeometry(Grid(), 1000)); }

TEST(Geometry, NotANumberAnywhereIsRefused) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto spacing = Grid();
  spacing.spacing[2] = nan;
  auto origin = Grid();
  origin.origin[0] = std::numeric_limits<double>::infinity();
  auto direction = Grid();
  direction.direction[4] = nan;
  for (const auto& g : {spacing, origin, direction}) {
    auto checked = CheckGeometry(g, 1000);
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error().code, ErrorCode::kUnprocessable);
  }
}

TEST(Geometry, ZeroOrNegativeSpacingIsRefused) {
  auto g = Grid();
  g.spacing[0] = 0;
  EXPECT_FALSE(CheckGeometry(g, 1000));
  g.spacing[0] = -1;
  EXPECT_FALSE(CheckGeometry(g, 1000));
}

TEST(Geometry, TooManyVoxelsIsALimitNotAWrap) {
  auto g = Grid();
  g.dims = {1ll << 31, 1ll << 31, 1ll << 31};
  auto checked = CheckGeometry(g, 1ll << 30);
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, ErrorCode::kTooLarge);
}

TEST(Geometry, AGridWithNaNIsNeverTheSameGridAsAnother) {
  auto a = Grid();
  auto b = Grid();
  b.origin[1] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(a.SameGrid(b));
  EXPECT_FALSE(b.SameGrid(b));
  EXPECT_TRUE(a.SameGrid(Grid()));
}

}  // namespace
}  // namespace vg::dicom
