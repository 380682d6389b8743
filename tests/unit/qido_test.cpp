#include <gtest/gtest.h>

#include "services/qido.h"

namespace vg::services {
namespace {

TEST(ParseQidoQuery, PercentDecodesValues) {
  auto q = ParseQidoQuery(QueryLevel::kStudy, "PatientName=DOE%5EJOHN&StudyDate=20200101-");
  ASSERT_TRUE(q);
  ASSERT_EQ(q->matches.size(), 2u);
  EXPECT_EQ(q->matches[0].tag.Hex(), "00100010");
  EXPECT_EQ(q->matches[0].value, "DOE^JOHN");
  EXPECT_EQ(q->matches[1].value, "20200101-");
}

TEST(ParseQidoQuery, AcceptsHexTagsIncludefieldAndPaging) {
  auto q = ParseQidoQuery(QueryLevel::kSeries, "0020000D=1.2.3&includefield=00081030,SeriesDescription&limit=5&offset=10");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->matches[0].tag.keyword, "StudyInstanceUID");
  EXPECT_EQ(q->include_fields.size(), 2u);
  EXPECT_EQ(q->limit, 5);
  EXPECT_EQ(q->offset, 10);
  auto all = ParseQidoQuery(QueryLevel::kSeries, "includefield=all");
  EXPECT_TRUE(all->include_all);
}

TEST(ParseQidoQuery, RefusesUnknownAttributesAndBadNumbers) {
  auto unknown = ParseQidoQuery(QueryLevel::kStudy, "PatientNme=X");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().public_message.find("PatientNme"), std::string::npos);
  EXPECT_FALSE(ParseQidoQuery(QueryLevel::kStudy, "limit=-1"));
  EXPECT_FALSE(ParseQidoQuery(QueryLevel::kStudy, "PatientID=%ZZ"));
  EXPECT_FALSE(ParseQidoQuery(QueryLevel::kStudy, "PatientID=1&PatientID=2"));
}

TEST(ParseQidoQuery, CapsTheLimit) {
  auto q = ParseQidoQuery(QueryLevel::kStudy, "limit=99999999");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->limit, kMaxQidoLimit);
}

TEST(MatchesValue, WildcardsMatchAnyRunOrOneCharacter) {
  EXPECT_TRUE(MatchesValue("LO", "CHE*", "CHEST CT"));
  EXPECT_TRUE(MatchesValue("LO", "*ST*", "CHEST CT"));
  EXPECT_TRUE(MatchesValue("LO", "C?EST CT", "CHEST CT"));
  EXPECT_FALSE(MatchesValue("LO", "C?ST", "CHEST"));
  EXPECT_FALSE(MatchesValue("LO", "HEAD*", "CHEST"));
}

TEST(MatchesValue, PersonNamesIgnoreCaseAndTrailingEmptyComponents) {
  EXPECT_TRUE(MatchesValue("PN", "doe^john", "DOE^JOHN^^^"));
  EXPECT_TRUE(MatchesValue("PN", "DOE*", "Doe^Jane"));
  EXPECT_FALSE(MatchesValue("PN", "DOE^JOHN", "DOE^JANE"));
}

TEST(MatchesValue, DateRangesAreInclusiveAndOpenEnded) {
  EXPECT_TRUE(MatchesValue("DA", "20200101-20201231", "20200101"));
  EXPECT_TRUE(MatchesValue("DA", "20200101-20201231", "20201231"));
  EXPECT_FALSE(MatchesValue("DA", "20200101-20201231", "20210101"));
  EXPECT_TRUE(MatchesValue("DA", "20200101-", "20991231"));
  EXPECT_TRUE(MatchesValue("DA", "-20200101", "19991231"));
  EXPECT_FALSE(MatchesValue("DA", "20200101-", ""));
  EXPECT_TRUE(MatchesValue("TM", "10-11", "105959.123"));
}

TEST(MatchesValue, UidListsMatchAnyMember) {
  EXPECT_TRUE(MatchesValue("UI", "1.2.3\\1.2.4", "1.2.4"));
  EXPECT_FALSE(MatchesValue("UI", "1.2.3\\1.2.4", "1.2.5"));
}

TEST(MatchesValue, MultiValuedAttributesMatchAnyValue) {
  EXPECT_TRUE(MatchesValue("CS", "SEG", "CT\\SEG"));
  EXPECT_FALSE(MatchesValue("CS", "MR", "CT\\SEG"));
}

TEST(MatchesValue, EmptyKeyIsUniversal) { EXPECT_TRUE(MatchesValue("LO", "", "anything")); }

}  // namespace
}  // namespace vg::services
