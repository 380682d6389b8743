// storage/s3_xml.h: S3's answers as AWS and Swift's s3api send them, and the refusals of
// what a hostile or broken server could send instead. No server needed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/s3_xml.h"

namespace vg::storage::s3_xml_tests {
namespace {

using TimePoint = S3Client::TimePoint;

TimePoint At(std::int64_t unix_seconds, int millis = 0) {
  return TimePoint(std::chrono::seconds(unix_seconds)) + std::chrono::milliseconds(millis);
}

std::string Repeat(std::string_view piece, size_t times) {
  std::string out;
  out.reserve(piece.size() * times);
  for (size_t i = 0; i < times; ++i) out += piece;
  return out;
}

// A ListObjectsV2 page of AWS: the first of several (a continuation token), compact.
constexpr std::string_view kAwsListPage =
    R"(<?xml version="1.0" encoding="UTF-8"?>)"
    "\n"
    R"(<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>vg-archive</Name>)"
    R"(<Prefix>clinic/t1/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>)"
    R"(<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>)"
    R"(<Contents><Key>clinic/t1/0f3a9c</Key><LastModified>2024-05-01T12:34:56.789Z</LastModified>)"
    R"(<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1048576</Size>)"
    R"(<StorageClass>STANDARD</StorageClass></Contents>)"
    R"(<Contents><Key>clinic/t1/7be2d1</Key><LastModified>2024-04-30T09:15:02.000Z</LastModified>)"
    R"(<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size>)"
    R"(<StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>)";

// The last page as Swift's s3api sends it: single-quoted declaration, a newline, no token.
constexpr std::string_view kSwiftListLastPage =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    R"(<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>vg-archive</Name>)"
    R"(<Prefix>clinic/t1/</Prefix><MaxKeys>1000</MaxKeys><KeyCount>1</KeyCount>)"
    R"(<ContinuationToken>Y2xpbmljL3QxLzdiZTJkMQ==</ContinuationToken><IsTruncated>false</IsTruncated>)"
    R"(<Contents><Key>clinic/t1/c4d5e6</Key><LastModified>2024-05-01T12:34:56.000Z</LastModified>)"
    R"(<ETag>"5d41402abc4b2a76b9719d911017c592"</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass>)"
    R"(</Contents></ListBucketResult>)";

constexpr std::string_view kEmptyListPage =
    R"(<?xml version="1.0" encoding="UTF-8"?>)"
    "\n"
    R"(<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>vg-archive</Name>)"
    R"(<Prefix>clinic/t9/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>)"
    R"(<IsTruncated>false</IsTruncated></ListBucketResult>)";

// A listing of one entry under clinic/t1/ whose parts the test chooses.
std::string ListPage(std::string_view key, std::string_view truncated = "<IsTruncated>false</IsTruncated>",
                     std::string_view modified = "2024-05-01T12:34:56.000Z", std::string_view size = "5") {
  return std::string(R"(<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)") + std::string(truncated) +
         "<Contents><Key>" + std::string(key) + "</Key><LastModified>" + std::string(modified) +
         "</LastModified><Size>" + std::string(size) + "</Size></Contents></ListBucketResult>";
}

constexpr std::string_view kAwsUploadsPage =
    R"(<?xml version="1.0" encoding="UTF-8"?>)"
    "\n"
    R"(<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)"
    R"(<Bucket>vg-archive</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>)"
    R"(<NextKeyMarker>clinic/t1/7be2d1</NextKeyMarker>)"
    R"(<NextUploadIdMarker>xY7.Zq-2v_bnMtOWf9KZ3Q</NextUploadIdMarker><Prefix>clinic/</Prefix>)"
    R"(<MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>)"
    R"(<Upload><Key>clinic/t1/0f3a9c</Key>)"
    R"(<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>)"
    R"(<Initiator><ID>arn:aws:iam::111122223333:user/vg</ID><DisplayName>vg</DisplayName></Initiator>)"
    R"(<Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>)"
    R"(<DisplayName>vg</DisplayName></Owner><StorageClass>STANDARD</StorageClass>)"
    R"(<Initiated>2024-05-01T12:34:56.000Z</Initiated></Upload>)"
    R"(<Upload><Key>clinic/t1/7be2d1</Key><UploadId>xY7.Zq-2v_bnMtOWf9KZ3Q</UploadId>)"
    R"(<StorageClass>STANDARD</StorageClass><Initiated>2024-04-30T09:15:02.000Z</Initiated></Upload>)"
    R"(</ListMultipartUploadsResult>)";

// Swift's s3api: the last page, no markers, one upload.
constexpr std::string_view kSwiftUploadsLastPage =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    R"(<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)"
    R"(<Bucket>vg-archive</Bucket><KeyMarker/><UploadIdMarker/><NextKeyMarker/><NextUploadIdMarker/>)"
    R"(<Prefix>clinic/</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>)"
    R"(<Upload><Key>clinic/t2/aa11</Key><UploadId>NjJmNDc0ZjAtNjBhMi00ZTQ4LWE0NmQtMmI4ODQ3ZmE1OWYz</UploadId>)"
    R"(<Initiator><ID>test:tester</ID><DisplayName>test:tester</DisplayName></Initiator>)"
    R"(<Owner><ID>test:tester</ID><DisplayName>test:tester</DisplayName></Owner>)"
    R"(<StorageClass>STANDARD</StorageClass><Initiated>2024-05-01T12:34:56.000Z</Initiated></Upload>)"
    R"(</ListMultipartUploadsResult>)";

std::string UploadsPage(std::string_view key, std::string_view id, std::string_view truncated) {
  return "<ListMultipartUploadsResult>" + std::string(truncated) + "<Upload><Key>" + std::string(key) +
         "</Key><UploadId>" + std::string(id) +
         "</UploadId><Initiated>2024-05-01T12:34:56.000Z</Initiated></Upload></ListMultipartUploadsResult>";
}

constexpr std::string_view kAwsInitiate =
    R"(<?xml version="1.0" encoding="UTF-8"?>)"
    "\n"
    R"(<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)"
    R"(<Bucket>vg-archive</Bucket><Key>clinic/t1/0f3a9c</Key>)"
    R"(<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>)"
    R"(</InitiateMultipartUploadResult>)";

std::string InitiateWithId(std::string_view id_xml) {
  return "<InitiateMultipartUploadResult><UploadId>" + std::string(id_xml) +
         "</UploadId></InitiateMultipartUploadResult>";
}

constexpr std::string_view kAwsComplete =
    R"(<?xml version="1.0" encoding="UTF-8"?>)"
    "\n"
    R"(<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)"
    R"(<Location>https://vg-archive.s3.eu-central-1.amazonaws.com/clinic/t1/0f3a9c</Location>)"
    R"(<Bucket>vg-archive</Bucket><Key>clinic/t1/0f3a9c</Key>)"
    R"(<ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag></CompleteMultipartUploadResult>)";

constexpr std::string_view kAwsNoSuchKey =
    R"(<?xml version="1.0" encoding="UTF-8"?>)"
    "\n"
    R"(<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>)"
    R"(<Key>clinic/t1/0f3a9c</Key><RequestId>4442587FB7D0A2F9</RequestId>)"
    R"(<HostId>eftixk72aD6Ap51TnqcoF8eFidJG9Z/2mkiDFu8yU9AS1ed4OpIszj7UDNEHGran</HostId></Error>)";

// --------------------------------------------------------------------------------------
// ListObjectsV2

TEST(S3XmlListObjects, ReadsAwsPageWithContinuationToken) {
  auto page = s3::ParseListObjectsPage(kAwsListPage, "clinic/t1/", "", 2);
  ASSERT_TRUE(page) << page.error().detail;
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "clinic/t1/0f3a9c");
  EXPECT_EQ(page->objects[0].size, 1048576u);
  EXPECT_EQ(page->objects[0].last_modified, At(1714566896, 789));
  EXPECT_EQ(page->objects[1].key, "clinic/t1/7be2d1");
  EXPECT_EQ(page->objects[1].size, 0u);
  EXPECT_EQ(page->objects[1].last_modified, At(1714468502));
  EXPECT_EQ(page->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(S3XmlListObjects, ReadsSwiftLastPageWithoutToken) {
  auto page = s3::ParseListObjectsPage(kSwiftListLastPage, "clinic/t1/", "Y2xpbmljL3QxLzdiZTJkMQ==", 1000);
  ASSERT_TRUE(page) << page.error().detail;
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "clinic/t1/c4d5e6");
  EXPECT_EQ(page->objects[0].size, 5u);
  EXPECT_EQ(page->next_token, "");
}

TEST(S3XmlListObjects, ReadsEmptyPage) {
  auto page = s3::ParseListObjectsPage(kEmptyListPage, "clinic/t9/", "", 1000);
  ASSERT_TRUE(page) << page.error().detail;
  EXPECT_TRUE(page->objects.empty());
  EXPECT_EQ(page->next_token, "");
}

TEST(S3XmlListObjects, RefusalNamesTheCallButNotTheKey) {
  auto page = s3::ParseListObjectsPage(ListPage("clinic/t2/secret-name"), "clinic/t1/", "", 1000);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().code, ErrorCode::kInternal);
  EXPECT_EQ(page.error().public_message, "an object store request failed");
  EXPECT_EQ(page.error().detail, "S3 ListObjectsV2: bad Contents entry");
}

TEST(S3XmlListObjects, RefusesKeyOutsideTheAskedPrefix) {
  EXPECT_TRUE(s3::ParseListObjectsPage(ListPage("clinic/t1/a"), "clinic/t1/", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage("clinic/t10/a"), "clinic/t1/", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage("clinic/t2/a"), "clinic/t1/", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage("other/a"), "clinic/", "", 1000));
}

TEST(S3XmlListObjects, RefusesKeyLongerThan1024Bytes) {
  EXPECT_TRUE(s3::ParseListObjectsPage(ListPage(std::string(1024, 'k')), "", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage(std::string(1025, 'k')), "", "", 1000));
}

TEST(S3XmlListObjects, RefusesEmptyKeyAndControlCharacters) {
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage(""), "", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage("a\tb"), "", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage(std::string("a\0b", 3)), "", "", 1000));  // a raw NUL byte
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage("a&#10;b"), "", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage("a&#x7F;b"), "", "", 1000));
}

TEST(S3XmlListObjects, RefusesTruncatedPageWithoutToken) {
  auto page = s3::ParseListObjectsPage(ListPage("a", "<IsTruncated>true</IsTruncated>"), "", "", 1000);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().detail, "S3 ListObjectsV2: truncated without a new token");
  EXPECT_FALSE(s3::ParseListObjectsPage(
      ListPage("a", "<IsTruncated>true</IsTruncated><NextContinuationToken></NextContinuationToken>"), "", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(
      ListPage("a", "<IsTruncated>true</IsTruncated><NextContinuationToken>a b</NextContinuationToken>"), "", "", 1000));
}

TEST(S3XmlListObjects, RefusesTokenThatRepeatsTheOneAskedWith) {
  const std::string page = ListPage("a", "<IsTruncated>true</IsTruncated><NextContinuationToken>T1</NextContinuationToken>");
  EXPECT_TRUE(s3::ParseListObjectsPage(page, "", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(page, "", "T1", 1000));
}

TEST(S3XmlListObjects, RefusesTokenLongerThan4096Bytes) {
  auto page = [](size_t n) {
    return ListPage("a", "<IsTruncated>true</IsTruncated><NextContinuationToken>" + std::string(n, 't') +
                             "</NextContinuationToken>");
  };
  EXPECT_TRUE(s3::ParseListObjectsPage(page(4096), "", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(page(4097), "", "", 1000));
}

TEST(S3XmlListObjects, RefusesMissingOrUnknownIsTruncated) {
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage("a", ""), "", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage("a", "<IsTruncated>TRUE</IsTruncated>"), "", "", 1000));
}

TEST(S3XmlListObjects, RefusesMoreKeysThanAskedFor) {
  EXPECT_TRUE(s3::ParseListObjectsPage(kAwsListPage, "clinic/t1/", "", 2));
  auto page = s3::ParseListObjectsPage(kAwsListPage, "clinic/t1/", "", 1);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().detail, "S3 ListObjectsV2: more keys than asked for");
}

TEST(S3XmlListObjects, RefusesEntryWithBadSizeOrTime) {
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage("a", "<IsTruncated>false</IsTruncated>",
                                                 "2024-05-01T12:34:56.000Z", "-1"), "", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage("a", "<IsTruncated>false</IsTruncated>",
                                                 "2024-05-01T12:34:56.000Z", "18446744073709551616"), "", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage("a", "<IsTruncated>false</IsTruncated>",
                                                 "Wed, 01 May 2024 12:34:56 GMT", "5"), "", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage(ListPage("a", "<IsTruncated>false</IsTruncated>",
                                                 "9999-12-31T23:59:59.000Z", "5"), "", "", 1000));
}

TEST(S3XmlListObjects, RefusesOtherDocuments) {
  auto page = s3::ParseListObjectsPage(kAwsNoSuchKey, "", "", 1000);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().detail, "S3 ListObjectsV2: not a ListBucketResult");
  EXPECT_FALSE(s3::ParseListObjectsPage("", "", "", 1000));
  EXPECT_FALSE(s3::ParseListObjectsPage("<html><body>Bad Gateway</body></html>", "", "", 1000));
}

// --------------------------------------------------------------------------------------
// ListMultipartUploads

TEST(S3XmlUploads, ReadsAwsPageWithNextMarkers) {
  auto page = s3::ParseMultipartUploadsPage(kAwsUploadsPage, "clinic/", "", "");
  ASSERT_TRUE(page) << page.error().detail;
  ASSERT_EQ(page->uploads.size(), 2u);
  EXPECT_EQ(page->uploads[0].key, "clinic/t1/0f3a9c");
  EXPECT_EQ(page->uploads[0].upload_id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
  EXPECT_EQ(page->uploads[0].initiated, At(1714566896));
  EXPECT_EQ(page->uploads[1].initiated, At(1714468502));
  EXPECT_EQ(page->next_key_marker, "clinic/t1/7be2d1");
  EXPECT_EQ(page->next_upload_id_marker, "xY7.Zq-2v_bnMtOWf9KZ3Q");
}

TEST(S3XmlUploads, ReadsSwiftLastPageWithoutMarkers) {
  auto page = s3::ParseMultipartUploadsPage(kSwiftUploadsLastPage, "clinic/", "", "");
  ASSERT_TRUE(page) << page.error().detail;
  ASSERT_EQ(page->uploads.size(), 1u);
  EXPECT_EQ(page->uploads[0].key, "clinic/t2/aa11");
  EXPECT_EQ(page->next_key_marker, "");
  EXPECT_EQ(page->next_upload_id_marker, "");
}

TEST(S3XmlUploads, TruncatedPageMayOmitTheUploadIdMarker) {
  auto page = s3::ParseMultipartUploadsPage(
      UploadsPage("p/a", "U1", "<IsTruncated>true</IsTruncated><NextKeyMarker>p/a</NextKeyMarker>"), "p/", "", "");
  ASSERT_TRUE(page) << page.error().detail;
  EXPECT_EQ(page->next_key_marker, "p/a");
  EXPECT_EQ(page->next_upload_id_marker, "");
}

TEST(S3XmlUploads, RefusesTruncatedPageWithoutNewMarkers) {
  const std::string truncated =
      "<IsTruncated>true</IsTruncated><NextKeyMarker>p/a</NextKeyMarker><NextUploadIdMarker>U1</NextUploadIdMarker>";
  EXPECT_TRUE(s3::ParseMultipartUploadsPage(UploadsPage("p/a", "U1", truncated), "p/", "", ""));
  auto same = s3::ParseMultipartUploadsPage(UploadsPage("p/a", "U1", truncated), "p/", "p/a", "U1");
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().detail, "S3 ListMultipartUploads: truncated without new markers");
  EXPECT_FALSE(s3::ParseMultipartUploadsPage(UploadsPage("p/a", "U1", "<IsTruncated>true</IsTruncated>"), "p/", "", ""));
  EXPECT_FALSE(s3::ParseMultipartUploadsPage(
      UploadsPage("p/a", "U1", "<IsTruncated>true</IsTruncated><NextKeyMarker>p/a</NextKeyMarker>"
                               "<NextUploadIdMarker>U 2</NextUploadIdMarker>"),
      "p/", "", ""));
}

TEST(S3XmlUploads, RefusesUploadOutsideThePrefixOrWithoutId) {
  const std::string_view last = "<IsTruncated>false</IsTruncated>";
  EXPECT_TRUE(s3::ParseMultipartUploadsPage(UploadsPage("p/a", "U1", last), "p/", "", ""));
  EXPECT_FALSE(s3::ParseMultipartUploadsPage(UploadsPage("q/a", "U1", last), "p/", "", ""));
  EXPECT_FALSE(s3::ParseMultipartUploadsPage(UploadsPage("p/a", "", last), "p/", "", ""));
  EXPECT_FALSE(s3::ParseMultipartUploadsPage(UploadsPage("p/a", "U\xC3\xA9", last), "p/", "", ""));
  EXPECT_FALSE(s3::ParseMultipartUploadsPage(UploadsPage("p/a", std::string(4097, 'u'), last), "p/", "", ""));
  EXPECT_FALSE(s3::ParseMultipartUploadsPage(UploadsPage(std::string(1025, 'p'), "U1", last), "p", "", ""));
  EXPECT_FALSE(s3::ParseMultipartUploadsPage(UploadsPage("p/a", "U1", ""), "p/", "", ""));
}

// --------------------------------------------------------------------------------------
// CreateMultipartUpload and CompleteMultipartUpload

TEST(S3XmlMultipart, ReadsUploadIdOfAwsInitiateResult) {
  auto id = s3::ParseInitiateUploadId(kAwsInitiate);
  ASSERT_TRUE(id) << id.error().detail;
  EXPECT_EQ(*id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
}

TEST(S3XmlMultipart, RefusesInitiateResultWithoutPrintableUploadId) {
  const std::string_view bads[] = {
      "<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>",
      "<InitiateMultipartUploadResult><UploadId>a b</UploadId></InitiateMultipartUploadResult>",
      "<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>",
      "<Other><UploadId>U1</UploadId></Other>",
      kAwsNoSuchKey,
      "",
  };
  for (std::string_view bad : bads) {
    auto id = s3::ParseInitiateUploadId(bad);
    ASSERT_FALSE(id) << bad;
    EXPECT_EQ(id.error().detail, "S3 CreateMultipartUpload: no UploadId");
  }
  EXPECT_TRUE(s3::ParseInitiateUploadId(InitiateWithId(std::string(4096, 'u'))));
  EXPECT_FALSE(s3::ParseInitiateUploadId(InitiateWithId(std::string(4097, 'u'))));
}

TEST(S3XmlMultipart, CompletionSucceedsOnAwsResult) {
  auto done = s3::ParseCompleteAnswer(kAwsComplete);
  EXPECT_TRUE(done) << done.error().detail;
}

TEST(S3XmlMultipart, CompletionSucceedsAfterSwiftWhitespaceHeartbeats) {
  // Swift's s3api sends the declaration first, then a space every few seconds while the
  // manifest is written, then the result without a declaration.
  const std::string answer = std::string("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n") + std::string(40, ' ') +
                             "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                             "<Location>http://127.0.0.1:8080/vg-archive/clinic/t1/0f3a9c</Location>"
                             "<Bucket>vg-archive</Bucket><Key>clinic/t1/0f3a9c</Key>"
                             "<ETag>\"3858f62230ac3c915f300c664312c11f-2\"</ETag></CompleteMultipartUploadResult>";
  auto done = s3::ParseCompleteAnswer(answer);
  EXPECT_TRUE(done) << done.error().detail;
}

TEST(S3XmlMultipart, ErrorInsideA200IsRetryableWhenS3SaysSo) {
  const std::string answer = std::string("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n") + std::string(12, ' ') +
                             "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try "
                             "again.</Message><RequestId>656c76696e6727732072657175657374</RequestId></Error>";
  auto done = s3::ParseCompleteAnswer(answer);
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(done.error().detail, "S3 CompleteMultipartUpload: HTTP 200 InternalError");
}

TEST(S3XmlMultipart, ErrorInsideA200KeepsItsMeaning) {
  auto gone = s3::ParseCompleteAnswer("<Error><Code>NoSuchUpload</Code></Error>");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  auto bad_part = s3::ParseCompleteAnswer("<Error><Code>InvalidPart</Code></Error>");
  ASSERT_FALSE(bad_part);
  EXPECT_EQ(bad_part.error().code, ErrorCode::kInternal);
  EXPECT_EQ(bad_part.error().detail, "S3 CompleteMultipartUpload: HTTP 200 InvalidPart");
}

TEST(S3XmlMultipart, UnreadableCompletionAnswerIsNotRetryable) {
  for (std::string_view bad : {std::string_view(""), std::string_view("   "),
                               std::string_view("<CompleteMultipartUploadResult><Bucket>b</Bucket>"),
                               std::string_view("<Error><Message>no code</Message></Error>"),
                               std::string_view("<Other/>")}) {
    auto done = s3::ParseCompleteAnswer(bad);
    ASSERT_FALSE(done) << bad;
    EXPECT_EQ(done.error().code, ErrorCode::kInternal);
    EXPECT_EQ(done.error().detail, "S3 CompleteMultipartUpload: unreadable answer");
  }
}

// --------------------------------------------------------------------------------------
// Error documents and what they mean

TEST(S3XmlErrors, ReadsCodeOfAwsErrorDocument) { EXPECT_EQ(s3::S3ErrorCode(kAwsNoSuchKey), "NoSuchKey"); }

TEST(S3XmlErrors, CodeKeepsOnlyLettersAndDigitsAndAtMost64) {
  EXPECT_EQ(s3::S3ErrorCode("<Error><Code> No Such&lt;Key&gt;\n\x1B[31m </Code></Error>"), "NoSuchKey31m");
  EXPECT_EQ(s3::S3ErrorCode("<Error><Code>" + std::string(100, 'A') + "</Code></Error>"), std::string(64, 'A'));
}

TEST(S3XmlErrors, NoCodeFromAnythingButAnErrorDocument) {
  EXPECT_EQ(s3::S3ErrorCode(""), "");
  EXPECT_EQ(s3::S3ErrorCode("<html><head><title>502 Bad Gateway</title></head></html>"), "");
  EXPECT_EQ(s3::S3ErrorCode("<Other><Code>NoSuchKey</Code></Other>"), "");
  EXPECT_EQ(s3::S3ErrorCode("<Error><Message>no code</Message></Error>"), "");
  EXPECT_EQ(s3::S3ErrorCode("<Error><Code>NoSuchKey</Code>"), "");  // cut off: not well-formed
  EXPECT_EQ(s3::S3ErrorCode("<Error><Inner><Code>NoSuchKey</Code></Inner></Error>"), "");
}

TEST(S3XmlErrors, FailureMapsStatusAndCode) {
  EXPECT_EQ(s3::S3Failure("GetObject", 404, "").code, ErrorCode::kNotFound);
  EXPECT_EQ(s3::S3Failure("GetObject", 400, "NoSuchKey").code, ErrorCode::kNotFound);
  EXPECT_EQ(s3::S3Failure("GetObject", 404, "NoSuchBucket").code, ErrorCode::kInternal);
  EXPECT_EQ(s3::S3Failure("GetObject", 403, "AccessDenied").code, ErrorCode::kForbidden);
  EXPECT_EQ(s3::S3Failure("GetObject", 503, "SlowDown").code, ErrorCode::kUnavailable);
  EXPECT_EQ(s3::S3Failure("PutObject", 400, "BadDigest").code, ErrorCode::kUnavailable);
  EXPECT_EQ(s3::S3Failure("PutObject", 400, "RequestTimeout").code, ErrorCode::kUnavailable);
  EXPECT_EQ(s3::S3Failure("PutObject", 429, "").code, ErrorCode::kUnavailable);
  EXPECT_EQ(s3::S3Failure("PutObject", 400, "InvalidArgument").code, ErrorCode::kInternal);
  EXPECT_EQ(s3::S3Failure("PutObject", 400, "InvalidArgument").detail, "S3 PutObject: HTTP 400 InvalidArgument");
  EXPECT_EQ(s3::S3Failure("PutObject", 500, "").detail, "S3 PutObject: HTTP 500");
}

// --------------------------------------------------------------------------------------
// The XML reader, seen through the answers

TEST(S3XmlReader, SkipsDeclarationCommentsInstructionsAttributesAndPrefixes) {
  EXPECT_EQ(s3::S3ErrorCode("\xEF\xBB\xBF<?xml version='1.0'?>\n<!-- a comment -->\n"
                            "<s3:Error xmlns:s3='http://s3.amazonaws.com/doc/2006-03-01/' lang = \"en\">"
                            "<!-- <Code>Wrong</Code> --><?pi <Code>Wrong</Code> ?>"
                            "<s3:Code a='&gt;'>NoSuchKey</s3:Code></s3:Error>\n<!-- after -->\n"),
            "NoSuchKey");
}

TEST(S3XmlReader, DecodesEntitiesCharacterReferencesAndCdata) {
  auto id = s3::ParseInitiateUploadId(InitiateWithId("a&amp;b&lt;c&gt;d&quot;e&apos;f&#65;&#x42;&#x6a;<![CDATA[<&x>]]>g"));
  ASSERT_TRUE(id) << id.error().detail;
  EXPECT_EQ(*id, "a&b<c>d\"e'fABj<&x>g");
  auto page = s3::ParseListObjectsPage(ListPage("k/&#xE9;&#x20AC;&#x1F600;&#233;"), "k/", "", 1000);
  ASSERT_TRUE(page) << page.error().detail;
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "k/\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xC3\xA9");
}

TEST(S3XmlReader, RefusesNulAndInvalidCharacterReferences) {
  EXPECT_TRUE(s3::ParseInitiateUploadId(InitiateWithId("u&#65;")));
  for (std::string_view bad : {"&#0;", "&#x0;", "&#x00000;", "&#xD800;", "&#xDFFF;", "&#x110000;", "&#1114112;",
                               "&#00000065;", "&#X41;", "&#x;", "&#;", "&#6a;", "&#xG1;", "&nbsp;", "&copy;", "&amp",
                               "& amp;", "&lt ;"}) {
    EXPECT_FALSE(s3::ParseInitiateUploadId(InitiateWithId("u" + std::string(bad)))) << bad;
  }
}

TEST(S3XmlReader, RefusesDoctypeAndEntityDefinitions) {
  EXPECT_EQ(s3::S3ErrorCode("<?xml version=\"1.0\"?><!DOCTYPE Error [<!ENTITY c \"NoSuchKey\">]>"
                            "<Error><Code>&c;</Code></Error>"),
            "");
  EXPECT_EQ(s3::S3ErrorCode("<!DOCTYPE Error SYSTEM \"http://example.org/e.dtd\"><Error><Code>X</Code></Error>"), "");
  // The billion laughs: refused at the DOCTYPE, before any expansion.
  std::string laughs = "<!DOCTYPE Error [<!ENTITY l0 \"ha\">";
  for (int i = 1; i < 10; ++i)
    laughs += "<!ENTITY l" + std::to_string(i) + " \"" + Repeat("&l" + std::to_string(i - 1) + ";", 10) + "\">";
  laughs += "]><Error><Code>&l9;</Code></Error>";
  EXPECT_EQ(s3::S3ErrorCode(laughs), "");
  EXPECT_FALSE(s3::ParseInitiateUploadId(
      "<InitiateMultipartUploadResult><!DOCTYPE x><UploadId>U1</UploadId></InitiateMultipartUploadResult>"));
  EXPECT_FALSE(s3::ParseInitiateUploadId(
      "<InitiateMultipartUploadResult><!ENTITY x \"y\"><UploadId>U1</UploadId></InitiateMultipartUploadResult>"));
}

TEST(S3XmlReader, RefusesMalformedXml) {
  EXPECT_TRUE(s3::ParseInitiateUploadId(InitiateWithId("U1")));
  for (std::string_view bad : {
           "<InitiateMultipartUploadResult><UploadId>U1</UploadId>",                                   // unclosed
           "<InitiateMultipartUploadResult><UploadId>U1</UploadID></InitiateMultipartUploadResult>",   // mismatched
           "<InitiateMultipartUploadResult><UploadId>U1</InitiateMultipartUploadResult></UploadId>",   // crossed
           "<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>x",  // text after
           "<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult><a/>",  // two roots
           "U1<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>",    // text before
           "<InitiateMultipartUploadResult a=1><UploadId>U1</UploadId></InitiateMultipartUploadResult>",  // unquoted
           "<InitiateMultipartUploadResult a=\"<\"><UploadId>U1</UploadId></InitiateMultipartUploadResult>",
           "<InitiateMultipartUploadResult a=\"x><UploadId>U1</UploadId></InitiateMultipartUploadResult>",
           "<InitiateMultipartUploadResult a><UploadId>U1</UploadId></InitiateMultipartUploadResult>",
           "<InitiateMultipartUploadResult><UploadId>U1<!-- open</UploadId></InitiateMultipartUploadResult>",
           "<InitiateMultipartUploadResult><UploadId><![CDATA[U1</UploadId></InitiateMultipartUploadResult>",
           "<InitiateMultipartUploadResult><UploadId>U1</UploadId><?pi </InitiateMultipartUploadResult>",
           "<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult",
           "<InitiateMultipartUploadResult><UploadId>U1</UploadId>< /InitiateMultipartUploadResult>",
           "<?xml version=\"1.0\"<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>",
           "<!-- <InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>",
           "",
       }) {
    EXPECT_FALSE(s3::ParseInitiateUploadId(bad)) << bad;
  }
}

TEST(S3XmlReader, RefusesNestingDeeperThan12BelowTheRoot) {
  auto nested = [](int levels) {
    return InitiateWithId("U1").insert(std::string_view("<InitiateMultipartUploadResult>").size(),
                                       Repeat("<a>", levels) + Repeat("</a>", levels));
  };
  EXPECT_TRUE(s3::ParseInitiateUploadId(nested(12)));
  EXPECT_FALSE(s3::ParseInitiateUploadId(nested(13)));
  EXPECT_FALSE(s3::ParseInitiateUploadId(nested(100000)));  // no stack overflow either
}

TEST(S3XmlReader, RefusesMoreThan200000Elements) {
  auto with_children = [](size_t n) {  // the root counts as one
    return "<InitiateMultipartUploadResult><UploadId>U1</UploadId>" + Repeat("<a/>", n - 2) +
           "</InitiateMultipartUploadResult>";
  };
  EXPECT_TRUE(s3::ParseInitiateUploadId(with_children(200000)));
  EXPECT_FALSE(s3::ParseInitiateUploadId(with_children(200001)));
}

TEST(S3XmlReader, RefusesMoreThan1MiBOfTextInOneElement) {
  auto with_message = [](size_t n) {
    return "<Error><Code>SlowDown</Code><Message>" + std::string(n, 'm') + "</Message></Error>";
  };
  EXPECT_EQ(s3::S3ErrorCode(with_message(1024 * 1024)), "SlowDown");
  EXPECT_EQ(s3::S3ErrorCode(with_message(1024 * 1024 + 1)), "");
  // Text in pieces (around a comment, through entities and CDATA) counts as one.
  const std::string half(512 * 1024, 'm');
  EXPECT_EQ(s3::S3ErrorCode("<Error><Code>SlowDown</Code><Message>" + half + "<!-- -->" + half +
                            "</Message></Error>"),
            "SlowDown");
  EXPECT_EQ(s3::S3ErrorCode("<Error><Code>SlowDown</Code><Message>" + half + "<![CDATA[" + half + "]]>&amp;"
                            "</Message></Error>"),
            "");
}

// --------------------------------------------------------------------------------------
// Times and escaping

TEST(S3XmlTime, ReadsUtcTimesWithAnyFraction) {
  EXPECT_EQ(s3::ParseIsoTime("2024-05-01T12:34:56Z"), At(1714566896));
  EXPECT_EQ(s3::ParseIsoTime("2024-05-01T12:34:56.5Z"), At(1714566896, 500));
  EXPECT_EQ(s3::ParseIsoTime("2024-05-01T12:34:56.789Z"), At(1714566896, 789));
  EXPECT_EQ(s3::ParseIsoTime("2024-05-01T12:34:56.123456789Z"), At(1714566896, 123));
  EXPECT_EQ(s3::ParseIsoTime("1970-01-01T00:00:00.000Z"), At(0));
  EXPECT_EQ(s3::ParseIsoTime("2261-12-31T23:59:59Z"), At(9214646399));
}

TEST(S3XmlTime, RefusesOtherFormsAndOutOfRangeFields) {
  for (std::string_view bad : {"", "2024-05-01", "2024-05-01T12:34:56", "2024-05-01 12:34:56Z", "2024-05-01T12:34:56+01:00",
                               "2024-05-01T12:34:56.Z", "2024-05-01T12:34:56.1234567890Z", "2024-05-01T12:34:56.7a9Z",
                               "2024-05-01T12:34:56,789Z", "2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z",
                               "2024-05-00T00:00:00Z", "2024-05-32T00:00:00Z", "2024-05-01T24:00:00Z",
                               "2024-05-01T12:60:00Z", "2024-05-01T12:34:61Z", "+024-05-01T12:34:56Z",
                               "2024-+5-01T12:34:56Z", "Wed, 01 May 2024 12:34:56 GMT"}) {
    EXPECT_FALSE(s3::ParseIsoTime(bad)) << bad;
  }
}

TEST(S3XmlTime, RefusesYearsATimePointCannotHold) {
  EXPECT_FALSE(s3::ParseIsoTime("9999-12-31T23:59:59.999Z"));
  EXPECT_FALSE(s3::ParseIsoTime("2263-01-01T00:00:00Z"));
  EXPECT_FALSE(s3::ParseIsoTime("1600-01-01T00:00:00Z"));
  EXPECT_FALSE(s3::ParseIsoTime("0000-01-01T00:00:00Z"));
}

TEST(S3XmlEscape, EscapesTheFiveSpecialCharactersAndRoundTrips) {
  EXPECT_EQ(s3::XmlEscape("\"3858f62230ac3c915f300c664312c11f-9\""), "&quot;3858f62230ac3c915f300c664312c11f-9&quot;");
  EXPECT_EQ(s3::XmlEscape("a<b>&'c"), "a&lt;b&gt;&amp;&apos;c");
  EXPECT_EQ(s3::XmlEscape(""), "");
  const std::string_view value = "<&>\"'x&amp;";
  auto id = s3::ParseInitiateUploadId(InitiateWithId(s3::XmlEscape(value)));
  ASSERT_TRUE(id) << id.error().detail;
  EXPECT_EQ(*id, value);
}

}  // namespace
}  // namespace vg::storage::s3_xml_tests
