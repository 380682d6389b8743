#include <gtest/gtest.h>

#include "http/media_type.h"
#include "http/multipart.h"

namespace vg::http {
namespace {

// Hands out at most `step` bytes per Read, to split boundaries across reads.
class TrickleSource final : public ByteSource {
 public:
  TrickleSource(std::string data, size_t step) : data_(std::move(data)), step_(step) {}
  Result<size_t> Read(std::span<std::uint8_t> out) override {
    size_t n = std::min({out.size(), step_, data_.size() - offset_});
    std::memcpy(out.data(), data_.data() + offset_, n);
    offset_ += n;
    return n;
  }
 private:
  std::string data_;
  size_t step_, offset_ = 0;
};

std::string Body(const std::vector<std::string>& parts, const std::string& boundary = "B0UND") {
  std::string body = "preamble to ignore\r\n";
  for (const auto& p : parts) body += "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n" + p + "\r\n";
  return body + "--" + boundary + "--\r\nepilogue";
}

std::vector<Part> ReadParts(ByteSource& source, std::uint64_t max = 1 << 20) {
  MultipartReader reader(source, "B0UND", max);
  std::vector<Part> parts;
  while (true) {
    auto next = reader.Next();
    EXPECT_TRUE(next) << (next ? "" : next.error().public_message);
    if (!next || !*next) return parts;
    parts.push_back(std::move(**next));
  }
}

TEST(MultipartReader, ReadsEveryPartWithHeaders) {
  const std::string body = Body({"first", "", std::string("with\r\n--B0UN in it")});
  MemorySource source(body);
  auto parts = ReadParts(source);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].body, "first");
  EXPECT_EQ(parts[0].Header("content-type"), "application/dicom");
  EXPECT_EQ(parts[1].body, "");
  EXPECT_EQ(parts[2].body, "with\r\n--B0UN in it");
}

TEST(MultipartReader, BoundariesSplitAcrossReadsStillParse) {
  for (size_t step : {1u, 2u, 3u, 7u, 64u}) {
    TrickleSource source(Body({"alpha", std::string(1000, 'x'), "omega"}), step);
    auto parts = ReadParts(source);
    ASSERT_EQ(parts.size(), 3u) << "step " << step;
    EXPECT_EQ(parts[1].body, std::string(1000, 'x'));
    EXPECT_EQ(parts[2].body, "omega");
  }
}

TEST(MultipartReader, LargePartIsSkippedNotLoaded) {
  const std::string body = Body({std::string(5000, 'a'), "small"});
  MemorySource source(body);
  auto parts = ReadParts(source, 1000);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_TRUE(parts[0].too_large);
  EXPECT_TRUE(parts[0].body.empty());
  EXPECT_EQ(parts[0].size, 5000u);
  EXPECT_FALSE(parts[1].too_large);
  EXPECT_EQ(parts[1].body, "small");
}

TEST(MultipartReader, MissingClosingDelimiterIsAnError) {
  MemorySource source("--B0UND\r\nContent-Type: application/dicom\r\n\r\ntruncated body");
  MultipartReader reader(source, "B0UND", 1 << 20);
  auto next = reader.Next();
  ASSERT_FALSE(next);
  EXPECT_NE(next.error().public_message.find("before the closing boundary"), std::string::npos);
}

TEST(MultipartReader, BodyWithoutTheBoundaryIsAnError) {
  MemorySource source("this is not multipart at all");
  MultipartReader reader(source, "B0UND", 1 << 20);
  auto next = reader.Next();
  ASSERT_FALSE(next);
  EXPECT_NE(next.error().public_message.find("boundary"), std::string::npos);
}

TEST(MediaType, ParsesParametersWithQuotes) {
  auto m = ParseMediaType(R"(Multipart/Related; type="application/dicom"; boundary="a;b")");
  EXPECT_EQ(m.type, "multipart/related");
  EXPECT_EQ(m.Param("type"), "application/dicom");
  EXPECT_EQ(m.Param("boundary"), "a;b");
}

TEST(MediaType, AcceptIsOrderedByQuality) {
  auto accept = ParseAccept("image/png;q=0.5, image/jpeg, */*;q=0.1");
  ASSERT_EQ(accept.size(), 3u);
  EXPECT_EQ(accept[0].type, "image/jpeg");
  EXPECT_EQ(accept[1].type, "image/png");
  EXPECT_TRUE(MediaRangeMatches(accept[2], "application/dicom+json"));
  EXPECT_FALSE(MediaRangeMatches(ParseMediaType("image/*;q=0"), "image/png"));
  EXPECT_TRUE(MediaRangeMatches(ParseMediaType("image/*"), "image/png"));
}

// Streaming: a part's body comes out in pieces of any size, across delimiter prefixes.
TEST(Multipart, StreamedBodiesMatchWholePartsForEveryReadSize) {
  const std::vector<std::string> parts = {std::string(100000, 'a') + "\r\n--B0UN", "", "x\r\n--", std::string(3, 'z')};
  for (size_t step : {1, 7, 4096, 1 << 20}) {
    for (size_t piece : {1, 5, 65536}) {
      TrickleSource source(Body(parts), step);
      MultipartReader reader(source, "B0UND", 16);  // the limit binds Next(), not a streamed body
      std::vector<std::string> got;
      while (true) {
        auto next = reader.NextHeaders();
        ASSERT_TRUE(next) << next.error().public_message;
        if (!*next) break;
        EXPECT_EQ((*next)->Header("content-type"), "application/dicom");
        std::string body;
        std::vector<std::uint8_t> buffer(piece);
        while (true) {
          auto n = reader.Body().Read(buffer);
          ASSERT_TRUE(n);
          if (*n == 0) break;
          body.append(reinterpret_cast<const char*>(buffer.data()), *n);
        }
        got.push_back(body);
      }
      EXPECT_EQ(got, parts) << "step " << step << " piece " << piece;
    }
  }
}

TEST(Multipart, AnUnreadBodyIsSkippedByTheNextPart) {
  TrickleSource source(Body({"first body", "second"}), 3);
  MultipartReader reader(source, "B0UND", 1 << 20);
  ASSERT_TRUE(*reader.NextHeaders());
  std::uint8_t two[2];
  ASSERT_EQ(*reader.Body().Read(two), 2u);  // read a little, leave the rest
  auto second = reader.Next();
  ASSERT_TRUE(second && *second);
  EXPECT_EQ((*second)->body, "second");
  auto end = reader.NextHeaders();
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);
}

TEST(Multipart, AStreamedBodyCutShortIsAnError) {
  std::string body = Body({"abcdef"});
  body.resize(body.find("abc") + 2);
  TrickleSource source(body, 1);
  MultipartReader reader(source, "B0UND", 1 << 20);
  ASSERT_TRUE(*reader.NextHeaders());
  std::uint8_t buffer[16];
  Result<size_t> n = 0;
  do n = reader.Body().Read(buffer);
  while (n && *n > 0);
  EXPECT_FALSE(n);
}

}  // namespace
}  // namespace vg::http
