#include "storage/s3_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>

#include <algorithm>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "core/strings.h"
#include "crypto/crypto.h"
#include "storage/s3_xml.h"

namespace vg::storage {
namespace s3_detail {

constexpr size_t kListResponseLimit = 8 * 1024 * 1024;  // a 1000-key page is ~350 KB
constexpr size_t kSmallResponseLimit = 256 * 1024;      // initiate/complete answers
constexpr size_t kErrorBodyLimit = 64 * 1024;           // kept of a non-2xx body; the rest dropped
constexpr size_t kMaxIdleHandles = 32;

// S3's answers are read in s3_xml.h; the checks on keys and tokens are shared with it.
using s3::IsPrintableToken;
using s3::IsValidKey;
using s3::kMaxKeyBytes;
using s3::kMaxTokenBytes;
using s3::S3ErrorCode;
using s3::S3Failure;
using s3::XmlEscape;

// ---------------------------------------------------------------------------------------
// Small parsers and encoders.

bool IsValidBucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'; };
  return std::all_of(b.begin(), b.end(), ok) && b.front() != '.' && b.front() != '-' && b.back() != '.' &&
         b.back() != '-';
}

// RFC 3986 percent-encoding as SigV4 canonicalises it: unreserved characters as they are,
// everything else %XX in upper case ('/' kept in paths).
std::string UriEncode(std::string_view s, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

// curl 7.88 signs the query string as it is sent (later versions sort and encode it), so
// every query here is built already canonical: names sorted, both sides encoded, and a
// '=' after every name ("uploads=" rather than "uploads"), which S3 reads the same way.
std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> params) {
  for (auto& [name, value] : params) {
    name = UriEncode(name, false);
    value = UriEncode(value, false);
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += name + "=" + value;
  }
  return out;
}

std::string ObjectPath(std::string_view bucket, std::string_view key) {
  return "/" + std::string(bucket) + "/" + UriEncode(key, true);
}

std::string Sha256Hex(std::span<const std::uint8_t> data) {
  crypto::Sha256 hash;
  hash.Update(data);
  auto digest = hash.Finish();
  return HexEncode(digest);
}

std::span<const std::uint8_t> AsBytes(std::string_view s) {
  return std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

bool IsLoopbackHost(std::string host) {
  if (IEquals(host, "localhost")) return true;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

// ---------------------------------------------------------------------------------------
// Errors.

// Failures where the request may simply be tried again.
bool IsTransient(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// Failures before any byte of the request left: safe to retry even a non-idempotent call.
bool IsUnsent(CURLcode rc) { return rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT; }

struct SlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// The response headers the calls read.
struct ResponseHeaders {
  std::string etag;
  std::string content_range;
  std::string last_modified;
  std::optional<std::uint64_t> content_length;
};

}  // namespace s3_detail
using namespace s3_detail;

// ---------------------------------------------------------------------------------------

enum class RetryPolicy { kIdempotent, kUnsentOnly };

struct S3Client::Request {
  const char* operation = "";  // "PutObject": names the call in errors
  const char* method = "GET";
  std::string resource;  // "/bucket/key", encoded
  std::string query;     // canonical (CanonicalQuery)
  std::span<const std::uint8_t> body;
  std::vector<std::string> headers;
  size_t response_limit = kSmallResponseLimit;
  RetryPolicy retry = RetryPolicy::kIdempotent;
  // S3 error codes that are an answer, not a failure (BucketAlreadyOwnedByYou).
  std::vector<std::string_view> accepted_codes;
};

struct S3Client::Response {
  long status = 0;
  std::string code;  // S3 error code, for an accepted non-2xx answer
  std::string body;
  ResponseHeaders headers;
};

class S3Client::HandleLease {
 public:
  explicit HandleLease(S3Client& client) : client_(client), handle_(static_cast<CURL*>(client.AcquireHandle())) {}
  ~HandleLease() {
    if (handle_) client_.ReleaseHandle(handle_);
  }
  HandleLease(const HandleLease&) = delete;
  HandleLease& operator=(const HandleLease&) = delete;
  CURL* get() const { return handle_; }

 private:
  S3Client& client_;
  CURL* handle_;
};

namespace {

struct BodySink {
  CURL* handle;
  std::string* body;
  size_t limit;
  bool overflow = false;
};

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(sink->handle, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {  // an error document: keep its start, drop the rest
    size_t keep = std::min(n, kErrorBodyLimit - std::min(kErrorBodyLimit, sink->body->size()));
    sink->body->append(data, keep);
    return n;
  }
  if (sink->body->size() + n > sink->limit) {
    sink->overflow = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  sink->body->append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<ResponseHeaders*>(user);
  size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {  // a new response (after a 100 Continue): start over
    *response = ResponseHeaders{};
    return n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string_view name = Trim(line.substr(0, colon));
  std::string_view value = Trim(line.substr(colon + 1));
  if (value.size() > 1024) return n;
  if (IEquals(name, "etag")) response->etag = std::string(value);
  else if (IEquals(name, "content-range")) response->content_range = std::string(value);
  else if (IEquals(name, "last-modified")) response->last_modified = std::string(value);
  else if (IEquals(name, "content-length")) response->content_length = ParseUint(value);
  return n;
}

}  // namespace

Result<std::unique_ptr<S3Client>> S3Client::Create(S3Options options) {
  static std::once_flag curl_once;
  static CURLcode curl_init = CURLE_OK;
  std::call_once(curl_once, [] { curl_init = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (curl_init != CURLE_OK) return Fail(ErrorCode::kInternal, "cannot start libcurl", curl_easy_strerror(curl_init));

  if (options.access_key.empty() || options.secret_key.empty())
    return Fail(ErrorCode::kInvalidArgument, "S3 credentials are missing (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)");
  if (options.region.empty() || options.region.size() > 32 ||
      !std::all_of(options.region.begin(), options.region.end(),
                   [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }))
    return Fail(ErrorCode::kInvalidArgument, "the S3 region is not valid");
  if (options.max_attempts < 1) options.max_attempts = 1;

  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> url(curl_url(), &curl_url_cleanup);
  if (!url || curl_url_set(url.get(), CURLUPART_URL, options.endpoint.c_str(), 0) != CURLUE_OK)
    return Fail(ErrorCode::kInvalidArgument, "the S3 endpoint is not a URL");
  auto part = [&](CURLUPart which) -> std::optional<std::string> {
    char* value = nullptr;
    if (curl_url_get(url.get(), which, &value, 0) != CURLUE_OK || !value) return std::nullopt;
    std::string out(value);
    curl_free(value);
    return out;
  };
  auto scheme = part(CURLUPART_SCHEME), host = part(CURLUPART_HOST), port = part(CURLUPART_PORT);
  auto path = part(CURLUPART_PATH);
  if (!scheme || !host || host->empty())
    return Fail(ErrorCode::kInvalidArgument, "the S3 endpoint must be http(s)://host[:port]");
  if (part(CURLUPART_USER) || part(CURLUPART_QUERY) || part(CURLUPART_FRAGMENT) || (path && *path != "/"))
    return Fail(ErrorCode::kInvalidArgument, "the S3 endpoint must be http(s)://host[:port], with no path, query or user");
  bool tls = *scheme == "https";
  if (!tls && *scheme != "http") return Fail(ErrorCode::kInvalidArgument, "the S3 endpoint must be http(s)://host[:port]");
  const bool loopback = IsLoopbackHost(*host);
  if (!tls && !loopback)
    return Fail(ErrorCode::kInvalidArgument,
                "the S3 endpoint must use https: plain http is allowed only on loopback (127.0.0.0/8, ::1, localhost)",
                "S3 endpoint host " + *host);
  std::string base = *scheme + "://" + *host + (port ? ":" + *port : "");
  return std::unique_ptr<S3Client>(new S3Client(std::move(options), std::move(base), tls, loopback));
}

S3Client::S3Client(S3Options options, std::string base_url, bool tls, bool loopback)
    : options_(std::move(options)), base_url_(std::move(base_url)), tls_(tls), loopback_(loopback),
      sigv4_("aws:amz:" + options_.region + ":s3") {}

S3Client::~S3Client() {
  for (void* handle : idle_handles_) curl_easy_cleanup(static_cast<CURL*>(handle));
}

void* S3Client::AcquireHandle() {
  {
    std::lock_guard lock(pool_mu_);
    if (!idle_handles_.empty()) {
      void* handle = idle_handles_.back();
      idle_handles_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void S3Client::ReleaseHandle(void* handle) {
  {
    std::lock_guard lock(pool_mu_);
    if (idle_handles_.size() < kMaxIdleHandles) {
      idle_handles_.push_back(handle);
      return;
    }
  }
  curl_easy_cleanup(static_cast<CURL*>(handle));
}

Result<S3Client::Response> S3Client::Perform(const Request& request, bool* retried) {
  const std::string url = base_url_ + request.resource + (request.query.empty() ? "" : "?" + request.query);
  const std::string method = request.method;
  const bool has_body = method == "PUT" || method == "POST";
  // The payload hash, computed here and sent in x-amz-content-sha256, which curl then signs
  // with. curl 7.88 sends no such header of its own, and S3 (and Swift) refuse a request
  // without it; later curls sign an upload as UNSIGNED-PAYLOAD, which would leave a body
  // damaged on the way undetected. With the hash, the server checks it (BadDigest).
  std::unique_ptr<curl_slist, SlistFree> headers;
  auto add = [&](const std::string& header) { headers.reset(curl_slist_append(headers.release(), header.c_str())); };
  add("x-amz-content-sha256: " + Sha256Hex(request.body));
  bool typed = false;
  for (const auto& h : request.headers) {
    add(h);
    typed |= h.starts_with("Content-Type:");
  }
  // Or curl would label every body a form (application/x-www-form-urlencoded).
  if (has_body && !typed) add("Content-Type: application/octet-stream");
  // No "Expect:" header to turn off curl's 100-continue for bodies over 1 MiB: curl 7.88
  // signs the empty header it then leaves out, and every such request fails its signature.
  if (!headers) return Fail(ErrorCode::kInternal, "out of memory");

  static thread_local std::minstd_rand jitter{std::random_device{}()};
  for (int attempt = 1;; ++attempt) {
    HandleLease lease(*this);
    CURL* h = lease.get();
    if (!h) return Fail(ErrorCode::kInternal, "cannot start libcurl", "curl_easy_init failed");
    Response response;
    BodySink sink{h, &response.body, request.response_limit};
    curl_easy_reset(h);  // keeps the handle's live connections
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, tls_ ? "https" : "http");
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (!tls_) curl_easy_setopt(h, CURLOPT_PROXY, "");  // a loopback endpoint is never proxied
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_timeout.count()));
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4_.c_str());
    // Separately, not as CURLOPT_USERPWD "key:secret": an access key may hold a ':'
    // (Swift's are "account:user").
    curl_easy_setopt(h, CURLOPT_USERNAME, options_.access_key.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, options_.secret_key.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &response.headers);
    if (method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (has_body) {
      // The body as POSTFIELDS (not a read callback): curl can resend it by itself when a
      // kept-alive connection turns out dead, and sets Content-Length from the size.
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.empty() ? "" : reinterpret_cast<const char*>(request.body.data()));
      if (method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method);
    } else if (method != "GET") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method);
    }

    CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);  // the list dies with this call
    Error failure;
    bool may_retry = false;
    if (rc != CURLE_OK) {
      if (sink.overflow)
        return Fail(ErrorCode::kTooLarge, "an object store answer exceeds its size limit",
                    std::string("S3 ") + request.operation + ": response over " + std::to_string(request.response_limit) + " bytes");
      bool transient = IsTransient(rc);
      failure = Error{transient ? ErrorCode::kUnavailable : ErrorCode::kInternal,
                      transient ? "the object store is unavailable" : "an object store request failed",
                      std::string("S3 ") + request.operation + ": curl error " + std::to_string(rc) + " (" +
                          curl_easy_strerror(rc) + ")"};
      may_retry = transient && (request.retry == RetryPolicy::kIdempotent || IsUnsent(rc));
      if (retried && !IsUnsent(rc)) *retried = true;
    } else {
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
      if (response.status >= 200 && response.status <= 299) return response;
      std::string code = S3ErrorCode(response.body);
      if (std::find(request.accepted_codes.begin(), request.accepted_codes.end(), code) != request.accepted_codes.end()) {
        response.code = std::move(code);
        return response;
      }
      failure = S3Failure(request.operation, response.status, code);
      bool transient = failure.code == ErrorCode::kUnavailable;
      may_retry = transient && request.retry == RetryPolicy::kIdempotent;
      if (retried && transient) *retried = true;
    }
    if (!may_retry || attempt >= options_.max_attempts) return std::unexpected(failure);
    auto backoff = options_.first_backoff * (1 << std::min(attempt - 1, 5));
    backoff = std::min<std::chrono::milliseconds>(backoff, std::chrono::seconds(5));
    std::uniform_real_distribution<double> spread(0.5, 1.5);
    std::this_thread::sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(backoff * spread(jitter)));
  }
}

// ---------------------------------------------------------------------------------------
// The calls.

namespace {
Result<void> CheckNames(std::string_view bucket, std::string_view key) {
  if (!IsValidBucket(bucket)) return Fail(ErrorCode::kInvalidArgument, "the S3 bucket name is not valid");
  if (!IsValidKey(key)) return Fail(ErrorCode::kInvalidArgument, "the S3 object key is not valid");
  return {};
}
}  // namespace

Result<void> S3Client::CreateBucket(std::string_view bucket) {
  if (!IsValidBucket(bucket)) return Fail(ErrorCode::kInvalidArgument, "the S3 bucket name is not valid");
  Request request;
  request.operation = "CreateBucket";
  request.method = "PUT";
  request.resource = "/" + std::string(bucket);
  request.accepted_codes = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"};
  auto response = Perform(request);
  if (!response) return std::unexpected(response.error());
  return {};
}

Result<void> S3Client::PutObject(std::string_view bucket, std::string_view key, std::span<const std::uint8_t> data) {
  if (auto ok = CheckNames(bucket, key); !ok) return ok;
  Request request;
  request.operation = "PutObject";
  request.method = "PUT";
  request.resource = ObjectPath(bucket, key);
  request.body = data;
  auto response = Perform(request);
  if (!response) return std::unexpected(response.error());
  return {};
}

Result<std::string> S3Client::GetObject(std::string_view bucket, std::string_view key, size_t max_bytes) {
  if (auto ok = CheckNames(bucket, key); !ok) return std::unexpected(ok.error());
  Request request;
  request.operation = "GetObject";
  request.resource = ObjectPath(bucket, key);
  request.response_limit = max_bytes;
  auto response = Perform(request);
  if (!response) return std::unexpected(response.error());
  return std::move(response->body);
}

Result<S3Client::Range> S3Client::GetObjectRange(std::string_view bucket, std::string_view key, std::uint64_t offset,
                                                 size_t length) {
  if (auto ok = CheckNames(bucket, key); !ok) return std::unexpected(ok.error());
  if (length == 0) return Fail(ErrorCode::kInvalidArgument, "empty range");
  Request request;
  request.operation = "GetObject";
  request.resource = ObjectPath(bucket, key);
  request.headers = {"Range: bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)};
  request.response_limit = length;
  request.accepted_codes = {"InvalidRange"};  // at or past the end (an empty object, in AWS)
  auto response = Perform(request);
  if (!response) {
    if (response.error().code == ErrorCode::kTooLarge)  // a 200 with more than was asked for
      return Fail(ErrorCode::kInternal, "an object store request failed", "S3 GetObject: Range ignored");
    return std::unexpected(response.error());
  }
  auto bad = [] { return Fail(ErrorCode::kInternal, "an object store request failed", "S3 GetObject: bad Content-Range"); };
  if (response->status == 416) {
    auto head = HeadObject(bucket, key);
    if (!head) return std::unexpected(head.error());
    if (offset < head->size) return bad();
    return Range{{}, head->size};
  }
  if (response->status == 200) {  // the whole object: the server ignored the Range
    std::uint64_t size = response->body.size();
    std::string data = offset < size ? response->body.substr(offset) : std::string();
    return Range{std::move(data), size};
  }
  if (response->status != 206) return bad();
  // "bytes FIRST-LAST/TOTAL"
  std::string_view range = response->headers.content_range;
  if (!range.starts_with("bytes ")) return bad();
  range.remove_prefix(6);
  auto dash = range.find('-'), slash = range.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return bad();
  auto first = ParseUint(range.substr(0, dash)), last = ParseUint(range.substr(dash + 1, slash - dash - 1));
  auto total = ParseUint(range.substr(slash + 1));
  if (!first || !last || !total || *first != offset || *last < *first || *last >= *total ||
      *last - *first + 1 != response->body.size())
    return bad();
  return Range{std::move(response->body), *total};
}

Result<S3Client::Head> S3Client::HeadObject(std::string_view bucket, std::string_view key) {
  if (auto ok = CheckNames(bucket, key); !ok) return std::unexpected(ok.error());
  Request request;
  request.operation = "HeadObject";
  request.method = "HEAD";
  request.resource = ObjectPath(bucket, key);
  auto response = Perform(request);
  if (!response) return std::unexpected(response.error());
  if (!response->headers.content_length)
    return Fail(ErrorCode::kInternal, "an object store request failed", "S3 HeadObject: no Content-Length");
  Head head;
  head.size = *response->headers.content_length;
  head.etag = response->headers.etag;
  std::time_t modified = curl_getdate(response->headers.last_modified.c_str(), nullptr);
  if (modified > 0) head.last_modified = std::chrono::system_clock::from_time_t(modified);
  return head;
}

Result<void> S3Client::DeleteObject(std::string_view bucket, std::string_view key) {
  if (auto ok = CheckNames(bucket, key); !ok) return ok;
  Request request;
  request.operation = "DeleteObject";
  request.method = "DELETE";
  request.resource = ObjectPath(bucket, key);
  request.accepted_codes = {"NoSuchKey"};
  auto response = Perform(request);
  if (!response) return std::unexpected(response.error());
  return {};
}

Result<S3Client::ObjectPage> S3Client::ListObjectsV2(std::string_view bucket, std::string_view prefix,
                                                     std::string_view continuation_token, int max_keys) {
  if (!IsValidBucket(bucket)) return Fail(ErrorCode::kInvalidArgument, "the S3 bucket name is not valid");
  if (prefix.size() > kMaxKeyBytes || continuation_token.size() > kMaxTokenBytes || max_keys < 1 || max_keys > 1000)
    return Fail(ErrorCode::kInvalidArgument, "bad S3 listing parameters");
  std::vector<std::pair<std::string, std::string>> params = {
      {"list-type", "2"}, {"max-keys", std::to_string(max_keys)}, {"prefix", std::string(prefix)}};
  if (!continuation_token.empty()) params.emplace_back("continuation-token", std::string(continuation_token));
  Request request;
  request.operation = "ListObjectsV2";
  request.resource = "/" + std::string(bucket);
  request.query = CanonicalQuery(std::move(params));
  request.response_limit = kListResponseLimit;
  auto response = Perform(request);
  if (!response) return std::unexpected(response.error());
  return s3::ParseListObjectsPage(response->body, prefix, continuation_token, max_keys);
}

Result<std::string> S3Client::CreateMultipartUpload(std::string_view bucket, std::string_view key) {
  if (auto ok = CheckNames(bucket, key); !ok) return std::unexpected(ok.error());
  Request request;
  request.operation = "CreateMultipartUpload";
  request.method = "POST";
  request.resource = ObjectPath(bucket, key);
  request.query = CanonicalQuery({{"uploads", ""}});
  request.retry = RetryPolicy::kUnsentOnly;
  auto response = Perform(request);
  if (!response) return std::unexpected(response.error());
  return s3::ParseInitiateUploadId(response->body);
}

Result<std::string> S3Client::UploadPart(std::string_view bucket, std::string_view key, std::string_view upload_id,
                                         int part_number, std::span<const std::uint8_t> data) {
  if (auto ok = CheckNames(bucket, key); !ok) return std::unexpected(ok.error());
  if (!IsPrintableToken(upload_id, kMaxTokenBytes) || part_number < 1 || part_number > 10000)
    return Fail(ErrorCode::kInvalidArgument, "bad S3 part");
  Request request;
  request.operation = "UploadPart";
  request.method = "PUT";
  request.resource = ObjectPath(bucket, key);
  request.query = CanonicalQuery({{"partNumber", std::to_string(part_number)}, {"uploadId", std::string(upload_id)}});
  request.body = data;
  auto response = Perform(request);
  if (!response) return std::unexpected(response.error());
  if (!IsPrintableToken(response->headers.etag, 1024))
    return Fail(ErrorCode::kInternal, "an object store request failed", "S3 UploadPart: no ETag");
  return std::move(response->headers.etag);
}

Result<void> S3Client::CompleteMultipartUpload(std::string_view bucket, std::string_view key,
                                               std::string_view upload_id, std::span<const Part> parts) {
  if (auto ok = CheckNames(bucket, key); !ok) return ok;
  if (!IsPrintableToken(upload_id, kMaxTokenBytes) || parts.empty() || parts.size() > 10000)
    return Fail(ErrorCode::kInvalidArgument, "bad S3 multipart completion");
  std::string body = "<CompleteMultipartUpload>";
  for (const auto& part : parts)
    body += "<Part><PartNumber>" + std::to_string(part.number) + "</PartNumber><ETag>" + XmlEscape(part.etag) +
            "</ETag></Part>";
  body += "</CompleteMultipartUpload>";
  Request request;
  request.operation = "CompleteMultipartUpload";
  request.method = "POST";
  request.resource = ObjectPath(bucket, key);
  request.query = CanonicalQuery({{"uploadId", std::string(upload_id)}});
  request.body = AsBytes(body);
  request.headers = {"Content-Type: application/xml"};

  bool retried = false;
  for (int attempt = 1;; ++attempt) {
    auto response = Perform(request, &retried);
    if (!response) {
      // An earlier attempt may have completed the upload and lost its answer: then the
      // upload is gone and the object is there.
      if (retried && response.error().code == ErrorCode::kNotFound) {
        if (auto head = HeadObject(bucket, key); head) return {};
      }
      return std::unexpected(response.error());
    }
    // S3 answers 200 at once and reports a failure of the completion in the body.
    auto answer = s3::ParseCompleteAnswer(response->body);
    if (answer) return {};
    const Error& failure = answer.error();
    if (failure.code != ErrorCode::kUnavailable || attempt >= options_.max_attempts) return std::unexpected(failure);
    retried = true;
    std::this_thread::sleep_for(options_.first_backoff * attempt);
  }
}

Result<void> S3Client::AbortMultipartUpload(std::string_view bucket, std::string_view key, std::string_view upload_id) {
  if (auto ok = CheckNames(bucket, key); !ok) return ok;
  if (!IsPrintableToken(upload_id, kMaxTokenBytes)) return Fail(ErrorCode::kInvalidArgument, "bad S3 upload id");
  Request request;
  request.operation = "AbortMultipartUpload";
  request.method = "DELETE";
  request.resource = ObjectPath(bucket, key);
  request.query = CanonicalQuery({{"uploadId", std::string(upload_id)}});
  auto response = Perform(request);
  if (!response) return std::unexpected(response.error());
  return {};
}

Result<S3Client::UploadPage> S3Client::ListMultipartUploads(std::string_view bucket, std::string_view prefix,
                                                            std::string_view key_marker,
                                                            std::string_view upload_id_marker) {
  if (!IsValidBucket(bucket)) return Fail(ErrorCode::kInvalidArgument, "the S3 bucket name is not valid");
  if (prefix.size() > kMaxKeyBytes || key_marker.size() > kMaxKeyBytes || upload_id_marker.size() > kMaxTokenBytes)
    return Fail(ErrorCode::kInvalidArgument, "bad S3 listing parameters");
  std::vector<std::pair<std::string, std::string>> params = {{"uploads", ""}, {"prefix", std::string(prefix)}};
  if (!key_marker.empty()) params.emplace_back("key-marker", std::string(key_marker));
  if (!upload_id_marker.empty()) params.emplace_back("upload-id-marker", std::string(upload_id_marker));
  Request request;
  request.operation = "ListMultipartUploads";
  request.resource = "/" + std::string(bucket);
  request.query = CanonicalQuery(std::move(params));
  request.response_limit = kListResponseLimit;
  auto response = Perform(request);
  if (!response) return std::unexpected(response.error());
  return s3::ParseMultipartUploadsPage(response->body, prefix, key_marker, upload_id_marker);
}

}  // namespace vg::storage
