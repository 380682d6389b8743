#include "storage/s3_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "core/strings.h"
#include "crypto/crypto.h"

namespace vg::storage {
namespace s3_detail {

constexpr size_t kListResponseLimit = 8 * 1024 * 1024;  // a 1000-key page is ~350 KB
constexpr size_t kSmallResponseLimit = 256 * 1024;      // initiate/complete answers
constexpr size_t kErrorBodyLimit = 64 * 1024;           // kept of a non-2xx body; the rest dropped
constexpr size_t kMaxIdleHandles = 32;
constexpr size_t kMaxKeyBytes = 1024;
constexpr size_t kMaxTokenBytes = 4096;

// ---------------------------------------------------------------------------------------
// A small XML reader for S3's answers: elements and text only (attributes skipped,
// namespaces prefixes dropped). No DTD, so no entity expansion; depth, element count and
// text size are bounded, and anything unexpected fails the parse instead of guessing.

struct XmlNode {
  std::string name;
  std::string text;
  std::vector<XmlNode> children;

  const XmlNode* Child(std::string_view n) const {
    for (const auto& c : children)
      if (c.name == n) return &c;
    return nullptr;
  }
  std::string_view ChildText(std::string_view n) const {
    const XmlNode* c = Child(n);
    return c ? std::string_view(c->text) : std::string_view();
  }
};

class XmlReader {
 public:
  explicit XmlReader(std::string_view doc) : doc_(doc) {}

  std::optional<XmlNode> Document() {
    if (doc_.starts_with("\xEF\xBB\xBF")) pos_ = 3;
    if (!SkipMisc() || !At("<")) return std::nullopt;
    XmlNode root;
    if (!Element(root, 0)) return std::nullopt;
    if (!SkipMisc() || pos_ != doc_.size()) return std::nullopt;
    return root;
  }

 private:
  static constexpr int kMaxDepth = 12;
  static constexpr size_t kMaxElements = 200000;
  static constexpr size_t kMaxText = 1024 * 1024;  // per element; the whole answer is capped too

  bool At(std::string_view s) const { return doc_.substr(pos_).starts_with(s); }
  static bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
  static bool IsNameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == ':';
  }
  void SkipSpace() {
    while (pos_ < doc_.size() && IsSpace(doc_[pos_])) ++pos_;
  }
  bool SkipPast(std::string_view end) {
    size_t at = doc_.find(end, pos_);
    if (at == std::string_view::npos) return false;
    pos_ = at + end.size();
    return true;
  }
  // Whitespace (Swift's s3api sends some while a completion runs), the declaration,
  // comments. A DOCTYPE is refused: nothing S3 sends has one.
  bool SkipMisc() {
    while (true) {
      SkipSpace();
      if (At("<?")) {
        if (!SkipPast("?>")) return false;
      } else if (At("<!--")) {
        if (!SkipPast("-->")) return false;
      } else if (At("<!")) {
        return false;
      } else {
        return true;
      }
    }
  }
  std::string_view Name() {
    size_t start = pos_;
    while (pos_ < doc_.size() && IsNameChar(doc_[pos_])) ++pos_;
    return doc_.substr(start, pos_ - start);
  }

  bool Element(XmlNode& node, int depth) {
    if (depth > kMaxDepth || ++elements_ > kMaxElements) return false;
    ++pos_;  // '<'
    std::string_view raw_name = Name();
    if (raw_name.empty()) return false;
    auto colon = raw_name.rfind(':');
    node.name = std::string(colon == std::string_view::npos ? raw_name : raw_name.substr(colon + 1));
    while (true) {  // attributes: skipped, but their quoting is respected
      SkipSpace();
      if (At("/>")) {
        pos_ += 2;
        return true;
      }
      if (At(">")) {
        ++pos_;
        break;
      }
      if (Name().empty()) return false;
      SkipSpace();
      if (!At("=")) return false;
      ++pos_;
      SkipSpace();
      if (pos_ >= doc_.size() || (doc_[pos_] != '"' && doc_[pos_] != '\'')) return false;
      char quote = doc_[pos_++];
      size_t end = doc_.find(quote, pos_);
      if (end == std::string_view::npos || doc_.substr(pos_, end - pos_).find('<') != std::string_view::npos)
        return false;
      pos_ = end + 1;
    }
    while (pos_ < doc_.size()) {
      if (At("</")) {
        pos_ += 2;
        if (Name() != raw_name) return false;
        SkipSpace();
        if (!At(">")) return false;
        ++pos_;
        return true;
      }
      if (At("<!--")) {
        if (!SkipPast("-->")) return false;
      } else if (At("<![CDATA[")) {
        size_t start = pos_ + 9;
        if (!SkipPast("]]>")) return false;
        if (!Append(node.text, doc_.substr(start, pos_ - 3 - start))) return false;
      } else if (At("<?")) {
        if (!SkipPast("?>")) return false;
      } else if (At("<!")) {
        return false;
      } else if (At("<")) {
        node.children.emplace_back();
        if (!Element(node.children.back(), depth + 1)) return false;
      } else {
        size_t end = doc_.find('<', pos_);
        if (end == std::string_view::npos) return false;
        if (!Text(node.text, doc_.substr(pos_, end - pos_))) return false;
        pos_ = end;
      }
    }
    return false;  // unclosed
  }

  static bool Append(std::string& out, std::string_view s) {
    if (out.size() + s.size() > kMaxText) return false;
    out.append(s);
    return true;
  }

  static bool AppendCodePoint(std::string& out, std::uint32_t cp) {
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    char buf[4];
    size_t n;
    if (cp < 0x80) {
      buf[0] = static_cast<char>(cp), n = 1;
    } else if (cp < 0x800) {
      buf[0] = static_cast<char>(0xC0 | (cp >> 6)), buf[1] = static_cast<char>(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
      buf[0] = static_cast<char>(0xE0 | (cp >> 12)), buf[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      buf[2] = static_cast<char>(0x80 | (cp & 0x3F)), n = 3;
    } else {
      buf[0] = static_cast<char>(0xF0 | (cp >> 18)), buf[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      buf[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), buf[3] = static_cast<char>(0x80 | (cp & 0x3F)), n = 4;
    }
    return Append(out, std::string_view(buf, n));
  }

  // Character data with the five predefined entities and numeric references.
  static bool Text(std::string& out, std::string_view raw) {
    while (!raw.empty()) {
      size_t amp = raw.find('&');
      if (!Append(out, raw.substr(0, amp))) return false;
      if (amp == std::string_view::npos) return true;
      raw.remove_prefix(amp + 1);
      size_t semi = raw.find(';');
      if (semi == std::string_view::npos || semi > 10) return false;
      std::string_view entity = raw.substr(0, semi);
      raw.remove_prefix(semi + 1);
      if (entity == "lt") {
        if (!Append(out, "<")) return false;
      } else if (entity == "gt") {
        if (!Append(out, ">")) return false;
      } else if (entity == "amp") {
        if (!Append(out, "&")) return false;
      } else if (entity == "quot") {
        if (!Append(out, "\"")) return false;
      } else if (entity == "apos") {
        if (!Append(out, "'")) return false;
      } else if (entity.size() >= 2 && entity[0] == '#') {
        bool hex = entity[1] == 'x';
        std::string_view digits = entity.substr(hex ? 2 : 1);
        if (digits.empty() || digits.size() > 7) return false;
        std::uint32_t cp = 0;
        for (char c : digits) {
          int v = (c >= '0' && c <= '9') ? c - '0'
                  : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                : -1;
          if (v < 0) return false;
          cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(v);
        }
        if (!AppendCodePoint(out, cp)) return false;
      } else {
        return false;
      }
    }
    return true;
  }

  std::string_view doc_;
  size_t pos_ = 0;
  size_t elements_ = 0;
};

std::optional<XmlNode> ParseXml(std::string_view doc) { return XmlReader(doc).Document(); }

std::string XmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Small parsers and encoders.

// "2024-05-01T12:34:56.789Z" (S3's LastModified and Initiated).
std::optional<S3Client::TimePoint> ParseIsoTime(std::string_view s) {
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s.back() != 'Z')
    return std::nullopt;
  auto num = [&](size_t at, size_t len) { return ParseUint(s.substr(at, len)); };
  auto year = num(0, 4), month = num(5, 2), day = num(8, 2), hour = num(11, 2), minute = num(14, 2), second = num(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || *month < 1 || *month > 12 || *day < 1 || *day > 31 ||
      *hour > 23 || *minute > 59 || *second > 60)
    return std::nullopt;
  std::chrono::milliseconds millis{0};
  std::string_view rest = s.substr(19, s.size() - 20);
  if (!rest.empty()) {
    if (rest[0] != '.' || rest.size() < 2 || rest.size() > 10) return std::nullopt;
    auto fraction = ParseUint(rest.substr(1));
    if (!fraction) return std::nullopt;
    std::string digits(rest.substr(1, 3));
    digits.resize(3, '0');
    millis = std::chrono::milliseconds(*ParseUint(digits));
  }
  std::tm tm{};
  tm.tm_year = static_cast<int>(*year) - 1900;
  tm.tm_mon = static_cast<int>(*month) - 1;
  tm.tm_mday = static_cast<int>(*day);
  tm.tm_hour = static_cast<int>(*hour);
  tm.tm_min = static_cast<int>(*minute);
  tm.tm_sec = static_cast<int>(*second);
  std::time_t t = ::timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t) + millis;
}

// Opaque values S3 hands back (upload ids, continuation tokens, ETags): printable ASCII.
bool IsPrintableToken(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7F; });
}

bool IsValidBucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'; };
  return std::all_of(b.begin(), b.end(), ok) && b.front() != '.' && b.front() != '-' && b.back() != '.' &&
         b.back() != '-';
}

bool IsValidKey(std::string_view k) {
  if (k.empty() || k.size() > kMaxKeyBytes) return false;
  return std::none_of(k.begin(), k.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
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

// The <Code> of an S3 <Error> body, reduced to letters and digits (it goes into logs).
std::string S3ErrorCode(std::string_view body) {
  if (body.empty()) return {};
  auto doc = ParseXml(body);
  if (!doc || doc->name != "Error") return {};
  std::string code;
  for (char c : doc->ChildText("Code"))
    if (std::isalnum(static_cast<unsigned char>(c)) && code.size() < 64) code += c;
  return code;
}

Error S3Failure(const char* operation, long status, const std::string& code) {
  std::string detail = std::string("S3 ") + operation + ": HTTP " + std::to_string(status) + (code.empty() ? "" : " ") + code;
  if (code == "NoSuchBucket")  // a configuration fault, not a missing blob
    return Error{ErrorCode::kInternal, "the object store bucket does not exist", detail};
  if (status == 404 || code == "NoSuchKey" || code == "NoSuchUpload")
    return Error{ErrorCode::kNotFound, "not found", detail};
  if (status == 403) return Error{ErrorCode::kForbidden, "the object store refused access", detail};
  // A digest mismatch is a body damaged on the way; RequestTimeout (a 400) a stalled one.
  if (status >= 500 || status == 429 || code == "SlowDown" || code == "InternalError" || code == "RequestTimeout" ||
      code == "BadDigest" || code == "XAmzContentSHA256Mismatch")
    return Error{ErrorCode::kUnavailable, "the object store is unavailable", detail};
  return Error{ErrorCode::kInternal, "an object store request failed", detail};
}

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
  if (!tls && !IsLoopbackHost(*host))
    return Fail(ErrorCode::kInvalidArgument,
                "the S3 endpoint must use https: plain http is allowed only on loopback (127.0.0.0/8, ::1, localhost)",
                "S3 endpoint host " + *host);
  std::string base = *scheme + "://" + *host + (port ? ":" + *port : "");
  return std::unique_ptr<S3Client>(new S3Client(std::move(options), std::move(base), tls));
}

S3Client::S3Client(S3Options options, std::string base_url, bool tls)
    : options_(std::move(options)), base_url_(std::move(base_url)), tls_(tls),
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

  auto bad = [](const char* why) {
    return Fail(ErrorCode::kInternal, "an object store request failed", std::string("S3 ListObjectsV2: ") + why);
  };
  auto doc = ParseXml(response->body);
  if (!doc || doc->name != "ListBucketResult") return bad("not a ListBucketResult");
  ObjectPage page;
  for (const auto& node : doc->children) {
    if (node.name != "Contents") continue;
    ObjectInfo info;
    info.key = std::string(node.ChildText("Key"));
    auto modified = ParseIsoTime(node.ChildText("LastModified"));
    auto size = ParseUint(node.ChildText("Size"));
    if (!IsValidKey(info.key) || !info.key.starts_with(prefix) || !modified || !size) return bad("bad Contents entry");
    info.last_modified = *modified;
    info.size = *size;
    page.objects.push_back(std::move(info));
  }
  if (page.objects.size() > static_cast<size_t>(max_keys)) return bad("more keys than asked for");
  std::string_view truncated = doc->ChildText("IsTruncated");
  if (truncated == "true") {
    std::string_view next = doc->ChildText("NextContinuationToken");
    if (!IsPrintableToken(next, kMaxTokenBytes) || next == continuation_token) return bad("truncated without a new token");
    page.next_token = std::string(next);
  } else if (truncated != "false") {
    return bad("no IsTruncated");
  }
  return page;
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
  auto doc = ParseXml(response->body);
  std::string_view id = doc && doc->name == "InitiateMultipartUploadResult" ? doc->ChildText("UploadId") : "";
  if (!IsPrintableToken(id, kMaxTokenBytes))
    return Fail(ErrorCode::kInternal, "an object store request failed", "S3 CreateMultipartUpload: no UploadId");
  return std::string(id);
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
    auto doc = ParseXml(response->body);
    if (doc && doc->name == "CompleteMultipartUploadResult") return {};
    std::string code = S3ErrorCode(response->body);
    Error failure = code.empty() ? Error{ErrorCode::kInternal, "an object store request failed",
                                         "S3 CompleteMultipartUpload: unreadable answer"}
                                 : S3Failure("CompleteMultipartUpload", 200, code);
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

  auto bad = [](const char* why) {
    return Fail(ErrorCode::kInternal, "an object store request failed", std::string("S3 ListMultipartUploads: ") + why);
  };
  auto doc = ParseXml(response->body);
  if (!doc || doc->name != "ListMultipartUploadsResult") return bad("not a ListMultipartUploadsResult");
  UploadPage page;
  for (const auto& node : doc->children) {
    if (node.name != "Upload") continue;
    Upload upload;
    upload.key = std::string(node.ChildText("Key"));
    upload.upload_id = std::string(node.ChildText("UploadId"));
    auto initiated = ParseIsoTime(node.ChildText("Initiated"));
    if (!IsValidKey(upload.key) || !upload.key.starts_with(prefix) || !IsPrintableToken(upload.upload_id, kMaxTokenBytes) ||
        !initiated)
      return bad("bad Upload entry");
    upload.initiated = *initiated;
    page.uploads.push_back(std::move(upload));
  }
  std::string_view truncated = doc->ChildText("IsTruncated");
  if (truncated == "true") {
    std::string_view key = doc->ChildText("NextKeyMarker"), id = doc->ChildText("NextUploadIdMarker");
    if (!IsValidKey(key) || (!id.empty() && !IsPrintableToken(id, kMaxTokenBytes)) ||
        (key == key_marker && id == upload_id_marker))
      return bad("truncated without new markers");
    page.next_key_marker = std::string(key);
    page.next_upload_id_marker = std::string(id);
  } else if (truncated != "false") {
    return bad("no IsTruncated");
  }
  return page;
}

}  // namespace vg::storage
