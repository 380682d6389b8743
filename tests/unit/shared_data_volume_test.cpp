// Decoding against the real files in ../shared/data (skipped, with a message, when absent):
// every lossless transfer syntax decodes to the same voxels, the MR slice in 9 syntaxes
// too, and every encoding of the liver SEG reads to the same mask.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "dicom/dicom.h"
#include "dicom/seg.h"
#include "dicom/volume.h"

namespace vg {
namespace {

namespace fs = std::filesystem;

fs::path SharedData() { return fs::path(VG_SOURCE_DIR) / ".." / "shared" / "data"; }

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

#define REQUIRE_SHARED(sub)                                                                              \
  if (!fs::exists(SharedData() / (sub)))                                                                 \
  GTEST_SKIP() << "needs ../shared/data/" << (sub) << " (not present: the real-data checks are skipped)"

Result<dicom::Volume> VolumeOf(const fs::path& path) {
  const std::string bytes = ReadFile(path);
  return dicom::AssembleVolume({bytes});
}

class SharedDataTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dicom::Initialize(); }
};

TEST_F(SharedDataTest, EveryLosslessTransferSyntaxDecodesToTheSameVoxels) {
  REQUIRE_SHARED("transfer-syntaxes");
  auto reference = VolumeOf(SharedData() / "transfer-syntaxes" /
                            "CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm");
  ASSERT_TRUE(reference) << reference.error().public_message;
  int compared = 0;
  for (const auto& entry : fs::directory_iterator(SharedData() / "transfer-syntaxes")) {
    const std::string name = entry.path().filename().string();
    // Lossy encodings (baseline/extended JPEG, lossy JPEG-LS, JPEG 2000 irreversible) differ by design.
    if (!name.starts_with("CTImage.dcm_") || name.find("Lossy") != std::string::npos ||
        name.find("Process1Transfer") != std::string::npos || name.find("Process2_4") != std::string::npos ||
        name.find("Process6_8") != std::string::npos || name.find("Process10_12") != std::string::npos ||
        name.find("JPEG2000Transfer") != std::string::npos)
      continue;
    auto volume = VolumeOf(entry.path());
    ASSERT_TRUE(volume) << name << ": " << volume.error().public_message;
    ASSERT_EQ(volume->geometry.dims, reference->geometry.dims) << name;
    ASSERT_EQ(volume->int16_voxels, reference->int16_voxels) << name;
    ++compared;
  }
  EXPECT_GE(compared, 8);  // LE implicit/explicit, BE, deflate, JPEG lossless x2, JPEG-LS, RLE, J2K lossless
}

TEST_F(SharedDataTest, MrSliceDecodesIdenticallyInEveryTransferSyntax) {
  REQUIRE_SHARED("mr-slice-transfer-syntaxes");
  auto reference = VolumeOf(SharedData() / "mr-slice-transfer-syntaxes" / "In" / "1.dcm");
  ASSERT_TRUE(reference) << reference.error().public_message;
  for (int n = 2; n <= 9; ++n) {
    auto volume = VolumeOf(SharedData() / "mr-slice-transfer-syntaxes" / "In" / (std::to_string(n) + ".dcm"));
    ASSERT_TRUE(volume) << n << ".dcm: " << volume.error().public_message;
    EXPECT_TRUE(volume->geometry.SameGrid(reference->geometry, 1e-4)) << n;
    for (std::int64_t i = 0; i < reference->geometry.VoxelCount(); ++i)
      ASSERT_EQ(volume->ValueAt(i), reference->ValueAt(i)) << n << ".dcm voxel " << i;
  }
}

TEST_F(SharedDataTest, EnhancedMultiframeCtIsReadThroughItsFunctionalGroups) {
  REQUIRE_SHARED("seg-dcmqi/segmentations/23x38x3");
  const fs::path dir = SharedData() / "seg-dcmqi" / "segmentations" / "23x38x3";
  std::vector<std::string> classic;
  for (int i = 1; i <= 3; ++i) classic.push_back(ReadFile(dir / "image" / ("IMG000" + std::to_string(i) + ".dcm")));
  auto from_classic = dicom::AssembleVolume({classic.begin(), classic.end()});
  ASSERT_TRUE(from_classic) << from_classic.error().public_message;
  auto from_multiframe = VolumeOf(dir / "multiframe" / "mf.dcm");
  ASSERT_TRUE(from_multiframe) << from_multiframe.error().public_message;
  EXPECT_TRUE(from_multiframe->geometry.SameGrid(from_classic->geometry, 1e-3));
  for (std::int64_t i = 0; i < from_classic->geometry.VoxelCount(); ++i)
    ASSERT_EQ(from_multiframe->ValueAt(i), from_classic->ValueAt(i)) << "voxel " << i;
}

TEST_F(SharedDataTest, EveryEncodingOfTheLiverSegReadsToTheSameMask) {
  REQUIRE_SHARED("multiframe-and-codecs");
  const fs::path dir = SharedData() / "multiframe-and-codecs";
  auto masks_of = [&](const std::string& name) -> std::vector<std::uint8_t> {
    const std::string bytes = ReadFile(dir / name);
    auto grid = dicom::GridOfSeg(bytes);
    EXPECT_TRUE(grid) << name << ": " << (grid ? "" : grid.error().public_message);
    if (!grid) return {};
    auto masks = dicom::ReadSegOnGrid(bytes, *grid);
    EXPECT_TRUE(masks) << name << ": " << (masks ? "" : masks.error().public_message);
    if (!masks || masks->masks.size() != 1) return {};
    return masks->masks.begin()->second;
  };
  const auto liver = masks_of("liver.dcm");
  ASSERT_EQ(liver.size(), 512u * 512u * 3u);
  EXPECT_EQ(std::count(liver.begin(), liver.end(), 1), 107098);  // as pydicom counts it
  for (const char* name : {"liver_deflate.dcm", "liver_expb.dcm", "liver_j2k.dcm", "liver_rle.dcm"})
    EXPECT_EQ(masks_of(name), liver) << name;
  // The non-byte-aligned family is the same mask cropped to 510 x 510: its frames are
  // packed across byte boundaries.
  std::vector<std::uint8_t> cropped;
  for (int k = 0; k < 3; ++k)
    for (int j = 0; j < 510; ++j)
      for (int i = 0; i < 510; ++i) cropped.push_back(liver[(k * 512 + j) * 512 + i]);
  for (const char* name : {"liver_nonbyte_aligned.dcm", "liver_nonbyte_aligned_deflate.dcm",
                           "liver_nonbyte_aligned_j2k.dcm", "liver_nonbyte_aligned_rle.dcm"})
    EXPECT_EQ(masks_of(name), cropped) << name;
}

TEST_F(SharedDataTest, Jpeg2000RendersLikeTheUncompressedImage) {
  // DCMTK has no JPEG 2000 codec: rendering (thumbnails, /rendered) decodes with OpenJPEG.
  REQUIRE_SHARED("transfer-syntaxes");
  const auto dir = SharedData() / "transfer-syntaxes";
  dicom::RenderOptions options;
  options.format = dicom::ImageFormat::kPng;
  options.window_center = 40;
  options.window_width = 400;
  auto plain = dicom::RenderFrame(ReadFile(dir / "CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm"), options);
  auto j2k = dicom::RenderFrame(ReadFile(dir / "CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm"), options);
  ASSERT_TRUE(plain) << plain.error().public_message;
  ASSERT_TRUE(j2k) << j2k.error().public_message;
  EXPECT_EQ(*plain, *j2k);  // lossless: the same pixels, the same PNG
  options.format = dicom::ImageFormat::kJpeg;
  options.max_size = 64;
  auto thumbnail = dicom::RenderFrame(ReadFile(dir / "CTImage.dcm_JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm"), options);
  ASSERT_TRUE(thumbnail) << thumbnail.error().public_message;
  EXPECT_EQ(thumbnail->substr(0, 3), "\xFF\xD8\xFF");
}

TEST_F(SharedDataTest, TruncatedJpeg2000IsRefusedWithAReason) {
  REQUIRE_SHARED("multiframe-and-codecs");
  auto volume = VolumeOf(SharedData() / "multiframe-and-codecs" / "emri_small_jpeg_2k_lossless_too_short.dcm");
  ASSERT_FALSE(volume);
  EXPECT_FALSE(volume.error().public_message.empty());
}

}  // namespace
}  // namespace vg
