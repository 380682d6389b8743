#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcjson.h>
#include <dcmtk/dcmdata/dctk.h>

#include <sstream>

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

// Many-valued strings are written to the metadata in one pass (DCMTK 3.6.7's writer is
// quadratic in the number of values): the JSON is what DCMTK's own writer gives.
TEST(ParseInstance, ManyValuedNumbersAndStringsGiveTheSameJsonAsDcmtksOwnWriter) {
  std::string numbers, integers, codes;
  for (int i = 0; i < 1000; ++i) {
    numbers += (i ? "\\" : "") + std::string(i % 7 == 0 ? " " : "") + std::to_string(i * 0.25 - 100) + (i % 5 == 0 ? " " : "");
    integers += (i ? "\\" : "") + std::string(i % 3 == 0 && i >= 500 ? "00" : "") + std::to_string(i - 500);
    codes += (i ? "\\" : "") + std::string(i % 2 ? "ORIGINAL" : "DERIVED ");
  }
  // An empty value, an exponent, and values that are not numbers (DCMTK writes those as
  // strings: the metadata must never carry them raw), padded with spaces.
  numbers += "\\\\1e3\\0]},\"00100010\":{\"vr\":\"PN\"\\12345678901234567\\ 7 ";
  integers += "\\1.5\\99999999999\\ 12 ";
  codes += "\\ SPACED \\";
  testing::DicomWriter w;
  w.Str(0x0008, 0x0008, "CS", codes)
      .Str(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.481.3")
      .Str(0x0008, 0x0018, "UI", "1.2.826.0.1.3680043.8.498.9901")
      .Str(0x0008, 0x0060, "CS", "RTSTRUCT")
      .Str(0x0020, 0x000D, "UI", "1.2.826.0.1.3680043.8.498.9902")
      .Str(0x0020, 0x000E, "UI", "1.2.826.0.1.3680043.8.498.9903")
      .Str(0x0028, 0x0034, "IS", integers)
      .Str(0x3006, 0x0050, "DS", numbers);
  const std::string file = w.File("1.2.840.10008.5.1.4.1.1.481.3", "1.2.826.0.1.3680043.8.498.9901");
  auto parsed = ParseInstance(file);
  ASSERT_TRUE(parsed) << parsed.error().detail;
  auto ours = nlohmann::json::parse(parsed->instance_json);

  DcmFileFormat reference;
  DcmInputBufferStream in;
  in.setBuffer(file.data(), static_cast<offile_off_t>(file.size()));
  in.setEos();
  reference.transferInit();
  ASSERT_TRUE(reference.read(in).good());
  reference.transferEnd();
  std::ostringstream out;
  DcmJsonFormatCompact format(OFFalse);
  ASSERT_TRUE(reference.getDataset()->writeJson(out, format).good());
  auto theirs = nlohmann::json::parse("{" + out.str() + "}");
  for (const char* tag : {"00080008", "00280034", "30060050"}) {
    ASSERT_TRUE(ours.contains(tag) && theirs.contains(tag)) << tag;
    EXPECT_EQ(ours[tag], theirs[tag]) << tag;
  }
  EXPECT_EQ(ours["30060050"]["Value"].size(), 1005u);
  EXPECT_TRUE(ours["30060050"]["Value"][1002].is_string()) << "a DS that is not a number stays a string";
}

}  // namespace
}  // namespace vg::dicom
