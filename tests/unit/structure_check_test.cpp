// The structure check that runs before DCMTK reads a data set: deep nesting and deflate
// bombs are refused with a reason; real files (every one DCMTK reads) pass.
#include <dcmtk/dcmdata/dctk.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "dicom/dcmtk_io.h"
#include "dicom/dicom.h"
#include "dicom/structure_check.h"
#include "synthetic_dicom.h"

namespace vg::dicom {
namespace {

void Le(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}
void Be(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

// `depth` nested ReferencedSeriesSequence (0008,1115) of undefined length, each with one
// item of undefined length, closed properly, in Explicit VR Little Endian.
std::string NestedExplicit(int depth, const char* vr = "SQ") {
  std::string out;
  for (int i = 0; i < depth; ++i) {
    Le(out, 0x0008, 2), Le(out, 0x1115, 2), out.append(vr, 2), Le(out, 0, 2), Le(out, 0xFFFFFFFF, 4);
    Le(out, 0xFFFE, 2), Le(out, 0xE000, 2), Le(out, 0xFFFFFFFF, 4);
  }
  for (int i = 0; i < depth; ++i) {
    Le(out, 0xFFFE, 2), Le(out, 0xE00D, 2), Le(out, 0, 4);
    Le(out, 0xFFFE, 2), Le(out, 0xE0DD, 2), Le(out, 0, 4);
  }
  return out;
}

// The same in Implicit VR with defined lengths (built inside out).
std::string NestedImplicitDefined(int depth) {
  std::string inner;
  Le(inner, 0x0008, 2), Le(inner, 0x0060, 2), Le(inner, 2, 4), inner += "CT";
  for (int i = 0; i < depth; ++i) {
    std::string item;
    Le(item, 0xFFFE, 2), Le(item, 0xE000, 2), Le(item, inner.size(), 4), item += inner;
    std::string sequence;
    Le(sequence, 0x0008, 2), Le(sequence, 0x1115, 2), Le(sequence, item.size(), 4), sequence += item;
    inner = sequence;
  }
  return inner;
}

std::string NestedBigEndian(int depth) {
  std::string out;
  for (int i = 0; i < depth; ++i) {
    Be(out, 0x0008, 2), Be(out, 0x1115, 2), out += "SQ", Be(out, 0, 2), Be(out, 0xFFFFFFFF, 4);
    Be(out, 0xFFFE, 2), Be(out, 0xE000, 2), Be(out, 0xFFFFFFFF, 4);
  }
  return out;
}

std::span<const std::uint8_t> Span(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string Part10(const std::string& dataset, const std::string& ts = "1.2.840.10008.1.2.1") {
  vg::testing::DicomWriter w;
  return w.File("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5", ts) + dataset;
}

TEST(StructureCheck, NestingUpToTheLimitPasses) {
  StructureLimits limits;
  auto depth = WalkDataset(Span(NestedExplicit(64)), {true, false}, limits);
  ASSERT_TRUE(depth) << depth.error().public_message;
  EXPECT_EQ(*depth, 64);
}

TEST(StructureCheck, NestingPastTheLimitIsRefusedWithItsReason) {
  auto depth = WalkDataset(Span(NestedExplicit(65)), {true, false}, StructureLimits{});
  ASSERT_FALSE(depth);
  EXPECT_EQ(depth.error().code, ErrorCode::kUnprocessable);
  EXPECT_NE(depth.error().public_message.find("64 levels"), std::string::npos);
}

TEST(StructureCheck, TensOfThousandsOfLevelsAreRefusedInEveryEncoding) {
  EXPECT_FALSE(WalkDataset(Span(NestedExplicit(50000)), {true, false}, StructureLimits{}));
  EXPECT_FALSE(WalkDataset(Span(NestedExplicit(50000, "UN")), {true, false}, StructureLimits{}));
  EXPECT_FALSE(WalkDataset(Span(NestedExplicit(50000, "OB")), {true, false}, StructureLimits{}));
  EXPECT_FALSE(WalkDataset(Span(NestedImplicitDefined(5000)), {false, false}, StructureLimits{}));
  EXPECT_FALSE(WalkDataset(Span(NestedBigEndian(50000)), {true, true}, StructureLimits{}));
}

TEST(StructureCheck, ATruncatedNestIsStillCounted) {
  const std::string deep = NestedExplicit(1000);
  EXPECT_FALSE(WalkDataset(Span(deep.substr(0, deep.size() / 3)), {true, false}, StructureLimits{}));
}

TEST(StructureCheck, AnItemWhereAnElementBelongsIsMalformed) {
  std::string out;
  Le(out, 0xFFFE, 2), Le(out, 0xE000, 2), Le(out, 0, 4);
  auto walked = WalkDataset(Span(out), {true, false}, StructureLimits{});
  ASSERT_FALSE(walked);
  EXPECT_EQ(walked.error().code, ErrorCode::kInvalidArgument);
}

TEST(StructureCheck, ADeepPart10FileIsRefusedByLoadFromMemoryWithoutCrashing) {
  const std::string file = Part10(NestedExplicit(100000));
  auto loaded = LoadFromMemory(file);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ErrorCode::kUnprocessable);
  // The meta group is still there for a failure report.
  EXPECT_EQ(PeekSopIdentity(file).second, "1.2.3.4.5");
}

TEST(StructureCheck, ADeepImplicitFileIsRefused) {
  const std::string file = Part10(NestedImplicitDefined(3000), "1.2.840.10008.1.2");
  auto loaded = LoadFromMemory(file);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ErrorCode::kUnprocessable);
}

std::string RawDeflate(const std::string& plain) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, plain.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  z.avail_in = static_cast<uInt>(plain.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

TEST(StructureCheck, ADeflateBombIsRefusedBeforeItIsInflated) {
  // 64 MiB of zeros in one OB element: a few tens of kilobytes deflated.
  std::string plain;
  Le(plain, 0x0009, 2), Le(plain, 0x1001, 2), plain += "OB", Le(plain, 0, 2), Le(plain, 64u << 20, 4);
  plain.append(64u << 20, '\0');
  const std::string file = Part10(RawDeflate(plain), "1.2.840.10008.1.2.1.99");
  ASSERT_LT(file.size(), 1u << 20);
  StructureLimits limits;
  limits.max_inflated_bytes = 16u << 20;
  auto checked = CheckPart10Structure(file, limits);
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, ErrorCode::kTooLarge);
  limits.max_inflated_bytes = 128u << 20;
  EXPECT_TRUE(CheckPart10Structure(file, limits));
}

TEST(StructureCheck, ADeepDeflatedFileIsRefused) {
  const std::string file = Part10(RawDeflate(NestedExplicit(10000)), "1.2.840.10008.1.2.1.99");
  auto checked = CheckPart10Structure(file, StructureLimits{});
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, ErrorCode::kUnprocessable);
}

TEST(StructureCheck, AnUnknownTransferSyntaxIsReadTheWayDcmtkGuessesIt) {
  // DCMTK 3.6.7 does not know HTJ2K; it guesses the data set's encoding from its first
  // element, so a deep Implicit VR nest under that UID must be walked as Implicit VR.
  std::string dataset;
  Le(dataset, 0x0008, 2), Le(dataset, 0x0060, 2), Le(dataset, 2, 4), dataset += "CT";
  dataset += NestedImplicitDefined(5000);
  auto checked = CheckPart10Structure(Part10(dataset, "1.2.840.10008.1.2.4.201"), StructureLimits{});
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, ErrorCode::kUnprocessable);
  auto shallow = CheckPart10Structure(Part10(NestedImplicitDefined(3), "1.2.840.10008.1.2.4.201"), StructureLimits{});
  EXPECT_TRUE(shallow) << shallow.error().public_message;
}

TEST(StructureCheck, AMetaGroupWhoseLengthDisagreesWithItsElementsIsRefused) {
  std::string file = Part10(NestedExplicit(2));
  // The group length is the first meta element's value: make it claim 4 bytes more.
  const std::size_t value = 132 + 8;
  std::uint32_t length = 0;
  std::memcpy(&length, file.data() + value, 4);
  length += 4;
  std::memcpy(file.data() + value, &length, 4);
  auto checked = CheckPart10Structure(file, StructureLimits{});
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, ErrorCode::kInvalidArgument);
}

TEST(StructureCheck, NestingInsideTheMetaGroupIsRefused) {
  std::string file = std::string(128, '\0') + "DICM";
  // No group length: DCMTK reads group 0002 elements, one of them a deep sequence.
  std::string nest;
  for (int i = 0; i < 5000; ++i) {
    Le(nest, 0x0002, 2), Le(nest, 0x0100, 2), nest += "SQ", Le(nest, 0, 2), Le(nest, 0xFFFFFFFF, 4);
    Le(nest, 0xFFFE, 2), Le(nest, 0xE000, 2), Le(nest, 0xFFFFFFFF, 4);
  }
  file += nest;
  auto checked = CheckPart10Structure(file, StructureLimits{});
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, ErrorCode::kInvalidArgument);  // a sequence has no place in the meta group
  DcmFileFormat dcm;
  EXPECT_TRUE(ReadPart10(file, dcm).bad());
}

// Every file DCMTK itself reads must pass: the check may refuse nothing real.
TEST(StructureCheck, EveryRealFileThatDcmtkReadsPasses) {
  std::vector<std::filesystem::path> roots = {VG_SOURCE_DIR "/../shared/data",
                                              "/usr/lib/python3/dist-packages/pydicom/data/test_files"};
  int checked = 0;
  for (const auto& root : roots) {
    if (!std::filesystem::exists(root)) continue;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file() || entry.file_size() > (64u << 20) || entry.file_size() < 132) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), {});
      if (bytes.substr(128, 4) != "DICM") continue;
      DcmFileFormat reference;
      if (reference.loadFile(entry.path().c_str()).bad()) continue;
      auto result = CheckPart10Structure(bytes, StructureLimits{});
      EXPECT_TRUE(result) << entry.path() << ": " << (result ? "" : result.error().public_message);
      ++checked;
    }
  }
  if (checked == 0) GTEST_SKIP() << "no real DICOM files here (../shared/data and pydicom's test files are absent)";
  RecordProperty("files", checked);
}

}  // namespace
}  // namespace vg::dicom
