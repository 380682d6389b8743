#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dicom/dicom.h"
#include "synthetic_dicom.h"

namespace vg::dicom {
namespace {

class DicomTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Initialize(); }
};

TEST_F(DicomTest, ParsesIndexFieldsAndDicomJson) {
  testing::CtSpec spec;
  auto parsed = ParseInstance(testing::MakeCt(spec));
  ASSERT_TRUE(parsed) << parsed.error().public_message;
  EXPECT_EQ(parsed->sop_uid, spec.sop_uid);
  EXPECT_EQ(parsed->study_uid, spec.study_uid);
  EXPECT_EQ(parsed->transfer_syntax, "1.2.840.10008.1.2.1");
  EXPECT_EQ(parsed->rows, 4);
  EXPECT_EQ(parsed->frames, 1);
  EXPECT_EQ(parsed->patient_name, "DOE^JOHN");
  auto json = nlohmann::json::parse(parsed->instance_json);
  EXPECT_EQ(json["00100010"]["vr"], "PN");
  EXPECT_EQ(json["00100010"]["Value"][0]["Alphabetic"], "DOE^JOHN");
  EXPECT_EQ(json["00200013"]["Value"][0], 1);  // IS as a JSON number
  std::string uri = json["7FE00010"]["BulkDataURI"];
  EXPECT_EQ(uri.rfind(std::string(kBulkDataMarker) + "studies/" + spec.study_uid, 0), 0u);
  auto study = nlohmann::json::parse(parsed->study_json);
  EXPECT_TRUE(study.contains("00100010"));
  EXPECT_FALSE(study.contains("00080060"));  // Modality belongs to the series
}

TEST_F(DicomTest, RefusesNonDicomAndTruncatedFiles) {
  auto text = ParseInstance("hello, this is not DICOM");
  ASSERT_FALSE(text);
  EXPECT_NE(text.error().public_message.find("not a DICOM"), std::string::npos);
  std::string file = testing::MakeCt({});
  auto truncated = ParseInstance(std::string_view(file).substr(0, file.size() - 10));
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(DicomTest, RefusesMissingOrInvalidUids) {
  testing::CtSpec spec;
  spec.sop_uid = "1.2.abc";
  auto bad = ParseInstance(testing::MakeCt(spec));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().public_message.find("SOPInstanceUID"), std::string::npos);
}

TEST_F(DicomTest, ExtractsNativeFramesByteExact) {
  testing::CtSpec spec;
  auto frames = ExtractFrames(testing::MakeCt(spec), {1}, false);
  ASSERT_TRUE(frames);
  ASSERT_EQ((*frames)[0].bytes.size(), 32u);
  EXPECT_EQ(static_cast<unsigned char>((*frames)[0].bytes[2]), 101u);  // pixel 1 = 1*100 + 1
  EXPECT_FALSE(ExtractFrames(testing::MakeCt(spec), {2}, false));
}

TEST_F(DicomTest, RendersJpegAndPng) {
  auto jpeg = RenderFrame(testing::MakeCt({}), RenderOptions{});
  ASSERT_TRUE(jpeg) << jpeg.error().public_message;
  EXPECT_EQ(static_cast<unsigned char>((*jpeg)[0]), 0xFF);
  EXPECT_EQ(static_cast<unsigned char>((*jpeg)[1]), 0xD8);
  RenderOptions png;
  png.format = ImageFormat::kPng;
  auto image = RenderFrame(testing::MakeCt({}), png);
  ASSERT_TRUE(image);
  EXPECT_EQ(image->substr(1, 3), "PNG");
}

TEST_F(DicomTest, LooksUpKeywordsAndHexTags) {
  auto by_name = LookupTag("StudyDate");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->Hex(), "00080020");
  EXPECT_EQ(by_name->vr, "DA");
  auto by_hex = LookupTag("0020000d");
  ASSERT_TRUE(by_hex);
  EXPECT_EQ(by_hex->keyword, "StudyInstanceUID");
  EXPECT_FALSE(LookupTag("NoSuchKeyword"));
}

}  // namespace
}  // namespace vg::dicom
