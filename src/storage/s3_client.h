// S3Client: the few S3 calls the S3 blob store needs, over libcurl with its built-in
// SigV4 signing and path-style addressing (ENDPOINT/BUCKET/KEY), so any S3-compatible
// store answers (AWS, MinIO, Ceph, Swift's s3api) without virtual-host DNS.
//
// * Thread-safe: each call borrows a curl handle from a pool and gives it back, so calls
//   from several threads run at once and reuse their keep-alive connections.
// * TLS is always verified. Plain http is accepted only for a loopback endpoint
//   (127.0.0.0/8, ::1, localhost); Create refuses anything else.
// * Responses are untrusted: bodies are capped (8 MiB for listings, the caller's limit for
//   objects), the XML is parsed with depth and size limits, and every field is checked.
// * Idempotent calls (GET, HEAD, PUT of an object or part, DELETE, listings, bucket
//   creation, completing an upload) are retried with exponential backoff on connection
//   failures, timeouts, 5xx, 429 and a body damaged on the way (every request carries the
//   SHA-256 of its body, which the server checks). CreateMultipartUpload is retried only when the request
//   never reached the server: a retry after that could leave a second upload, which only
//   the garbage collector's AbortStaleUploads would find.
// * Errors: 404 (NoSuchKey, NoSuchUpload) is kNotFound; 403 is kForbidden; 5xx, 429,
//   connection failures and timeouts are kUnavailable (retries spent); the rest (and a missing bucket) is
//   kInternal. Error details name the call, the HTTP status and S3's error code; never
//   object contents, never credentials.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace vg::storage {

struct S3Options {
  std::string endpoint;  // "https://host[:port]"; "http://" only when host is loopback
  std::string region = "us-east-1";
  std::string access_key;
  std::string secret_key;
  std::string ca_file;  // PEM bundle for a private CA; empty: the system's trust store
  std::chrono::milliseconds connect_timeout{5000};
  // A transfer slower than 1 KiB/s for this long is abandoned (and retried when it may
  // be). No overall timeout: a large part on a slow link is not a failure.
  std::chrono::seconds stall_timeout{30};
  int max_attempts = 4;  // per idempotent call; 1 turns retries off
  std::chrono::milliseconds first_backoff{200};  // doubled per attempt, with jitter
};

class S3Client {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  struct ObjectInfo {
    std::string key;
    TimePoint last_modified;
    std::uint64_t size = 0;
  };
  struct ObjectPage {
    std::vector<ObjectInfo> objects;
    std::string next_token;  // empty on the last page
  };
  struct Head {
    std::uint64_t size = 0;
    std::string etag;
    TimePoint last_modified;
  };
  struct Range {
    std::string data;
    std::uint64_t object_size = 0;  // the whole object's size
  };
  struct Upload {
    std::string key;
    std::string upload_id;
    TimePoint initiated;
  };
  struct UploadPage {
    std::vector<Upload> uploads;
    std::string next_key_marker;  // both empty on the last page
    std::string next_upload_id_marker;
  };
  struct Part {
    int number = 0;
    std::string etag;
  };

  // Checks the options (endpoint scheme and host, region, credentials); no request is made.
  static Result<std::unique_ptr<S3Client>> Create(S3Options options);
  // Whether the endpoint's host is loopback (127.0.0.0/8, ::1, localhost): a test or a
  // single box.
  bool OnLoopback() const { return loopback_; }
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Succeeds when the bucket exists already and is ours (BucketAlreadyOwnedByYou, or
  // BucketAlreadyExists, which Swift answers for a bucket of the same account).
  Result<void> CreateBucket(std::string_view bucket);
  Result<void> PutObject(std::string_view bucket, std::string_view key, std::span<const std::uint8_t> data);
  // The whole object; kTooLarge when it exceeds `max_bytes`.
  Result<std::string> GetObject(std::string_view bucket, std::string_view key, size_t max_bytes);
  // Up to `length` bytes from `offset` (fewer at the end; none at or past the end).
  Result<Range> GetObjectRange(std::string_view bucket, std::string_view key, std::uint64_t offset, size_t length);
  Result<Head> HeadObject(std::string_view bucket, std::string_view key);
  // Deleting a missing key succeeds, as in S3.
  Result<void> DeleteObject(std::string_view bucket, std::string_view key);
  // Every returned key starts with `prefix` (checked). `max_keys` in 1..1000.
  Result<ObjectPage> ListObjectsV2(std::string_view bucket, std::string_view prefix,
                                   std::string_view continuation_token, int max_keys = 1000);

  // Returns the upload id.
  Result<std::string> CreateMultipartUpload(std::string_view bucket, std::string_view key);
  // `part_number` in 1..10000; parts but the last must be at least 5 MiB. Returns the ETag.
  Result<std::string> UploadPart(std::string_view bucket, std::string_view key, std::string_view upload_id,
                                 int part_number, std::span<const std::uint8_t> data);
  // `parts` in ascending part number order.
  Result<void> CompleteMultipartUpload(std::string_view bucket, std::string_view key, std::string_view upload_id,
                                       std::span<const Part> parts);
  // kNotFound when the upload is gone (completed or aborted already).
  Result<void> AbortMultipartUpload(std::string_view bucket, std::string_view key, std::string_view upload_id);
  // Incomplete uploads under `prefix`; pass the previous page's markers to continue.
  Result<UploadPage> ListMultipartUploads(std::string_view bucket, std::string_view prefix,
                                          std::string_view key_marker = {}, std::string_view upload_id_marker = {});

 private:
  struct Request;
  struct Response;
  class HandleLease;
  explicit S3Client(S3Options options, std::string base_url, bool tls, bool loopback);
  // Sends `request`, retrying as its policy allows. A 2xx answer is returned as it is;
  // any other is an Error. `retried` (optional) is set when an earlier attempt's outcome
  // was unknown (it may have taken effect).
  Result<Response> Perform(const Request& request, bool* retried = nullptr);
  void* AcquireHandle();
  void ReleaseHandle(void* handle);

  S3Options options_;
  std::string base_url_;  // scheme://host[:port], no trailing slash
  bool tls_;
  bool loopback_;
  std::string sigv4_;     // "aws:amz:REGION:s3"
  std::mutex pool_mu_;
  std::vector<void*> idle_handles_;  // CURL*, kept out of this header
};

}  // namespace vg::storage
