// S3's answers read into values, in namespace vg::storage::s3: the only code that parses
// what an S3 server sends back. S3Client sends the requests and hands the bodies here;
// the fuzz target s3_xml (fuzz/targets.h) feeds every input to every function below.
//
// * Untrusted input: every byte comes from the server (or whoever sits between it and
//   us). Nothing here trusts a length, a count or a name it reads.
// * Pure functions, no I/O, no state: thread-safe.
// * The XML underneath is read by a small reader (s3_xml.cpp) that takes elements and
//   text only. Attributes are skipped (their quoting is checked); namespace prefixes are
//   dropped; text may hold the five predefined entities, numeric character references
//   (&#65; &#x41;, at most 7 digits, not NUL, not a surrogate, not past U+10FFFF) and
//   CDATA; comments, processing instructions, a UTF-8 BOM and whitespace around the root
//   are skipped. A DOCTYPE, so any entity definition, is refused, and so is any other
//   "<!" construct, an unknown entity, a mismatched or unclosed tag, or text after the
//   root. Limits: 12 levels of nesting below the root, 200,000 elements, 1 MiB of text
//   in one element. The size of the whole answer is the caller's to cap (S3Client: 8 MiB
//   for a listing, 256 KiB for other answers, the first 64 KiB of an error body).
// * Where an element is named twice, the first is read. Unknown elements are ignored.
// * Refusals are kInternal, public message "an object store request failed", detail
//   "S3 CALL: what was wrong" (never a key or any other content of the answer).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "storage/s3_client.h"

namespace vg::storage::s3 {

inline constexpr size_t kMaxKeyBytes = 1024;    // S3's own limit on a key
inline constexpr size_t kMaxTokenBytes = 4096;  // continuation tokens, upload ids, markers

// A key: 1 to kMaxKeyBytes bytes, none a control character (below 0x20, or 0x7F). Other
// bytes, UTF-8 or not, are accepted. S3Client checks the keys it sends with it too.
bool IsValidKey(std::string_view key);

// An opaque value S3 hands back (upload id, continuation token, ETag): 1 to `max` bytes,
// each printable ASCII other than space (0x21 to 0x7E).
bool IsPrintableToken(std::string_view s, size_t max);

// S3's timestamps (LastModified, Initiated), UTC only: "YYYY-MM-DDTHH:MM:SSZ" with an
// optional fraction of 1 to 9 digits before the Z, of which milliseconds are kept. Fields
// are range-checked (month 1-12, day 1-31, hour 0-23, minute 0-59, second 0-60; a day
// past the month's end rolls over into the next, as timegm does). nullopt for anything
// else, and for a time a TimePoint cannot hold (before 1677-09 or after 2262-04).
std::optional<S3Client::TimePoint> ParseIsoTime(std::string_view s);

// The <Code> of an S3 <Error> document, reduced to its letters and digits, at most 64 of
// them (it goes into logs and is compared with known codes). Empty when `body` is not a
// well-formed <Error> document, or it has no code.
std::string S3ErrorCode(std::string_view body);

// The Error for a call that failed with HTTP `status` and S3 error `code` (may be empty):
// NoSuchBucket is kInternal (a configuration fault); 404, NoSuchKey and NoSuchUpload are
// kNotFound; 403 is kForbidden; 5xx, 429, SlowDown, InternalError, RequestTimeout,
// BadDigest and XAmzContentSHA256Mismatch are kUnavailable (worth retrying); the rest
// kInternal. The detail names `operation`, the status and the code.
Error S3Failure(const char* operation, long status, const std::string& code);

// A ListObjectsV2 answer (ListBucketResult) to a request for `prefix`, `continuation_token`
// (empty on the first page) and `max_keys` (at least 1; S3Client asks 1 to 1000). Each
// <Contents> must hold a valid Key that starts with `prefix`, a LastModified ParseIsoTime
// reads and a decimal Size; at most `max_keys` of them. IsTruncated must be "true" or
// "false"; when "true", NextContinuationToken must be a printable token of at most
// kMaxTokenBytes that differs from `continuation_token` (so a listing cannot loop on one
// page); when "false" the page's next_token is empty.
Result<S3Client::ObjectPage> ParseListObjectsPage(std::string_view xml, std::string_view prefix,
                                                  std::string_view continuation_token, int max_keys);

// A ListMultipartUploads answer (ListMultipartUploadsResult) to a request for `prefix`
// after `key_marker` and `upload_id_marker` (both empty on the first page). Each <Upload>
// must hold a valid Key that starts with `prefix`, a printable UploadId of at most
// kMaxTokenBytes and an Initiated time. IsTruncated must be "true" or "false"; when
// "true", NextKeyMarker must be a valid key and NextUploadIdMarker empty or a printable
// token, and the pair must differ from the markers asked with; when "false" both next
// markers are empty.
Result<S3Client::UploadPage> ParseMultipartUploadsPage(std::string_view xml, std::string_view prefix,
                                                       std::string_view key_marker, std::string_view upload_id_marker);

// The UploadId of an InitiateMultipartUploadResult: a printable token of at most
// kMaxTokenBytes.
Result<std::string> ParseInitiateUploadId(std::string_view xml);

// The body of a 200 answer to CompleteMultipartUpload, which S3 sends before the
// completion has run (Swift's s3api sends whitespace meanwhile): success for a
// CompleteMultipartUploadResult (its fields are not read); for an <Error> document the
// S3Failure of its code at status 200 (kUnavailable for InternalError or SlowDown: the
// caller may retry); anything else kInternal "unreadable answer".
Result<void> ParseCompleteAnswer(std::string_view xml);

// `s` as XML character data or attribute value: < > & " ' as entities, every other byte
// as it is, unchecked (S3Client escapes only part ETags, which UploadPart checked are
// printable). What it writes of a printable value reads back unchanged (fuzzed).
std::string XmlEscape(std::string_view s);

}  // namespace vg::storage::s3
