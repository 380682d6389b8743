#include "storage/s3_xml.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <utility>
#include <vector>

#include "core/strings.h"

namespace vg::storage::s3 {
namespace {

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

}  // namespace

// ---------------------------------------------------------------------------------------
// Small parsers and encoders.

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
  // A TimePoint counts nanoseconds in 64 bits (1678 to 2261): from_time_t of a year
  // outside would overflow (undefined behaviour; a wrapped time could make a new object
  // look old to the garbage collector). A second's margin leaves room for the millis.
  constexpr auto kLimit =
      std::chrono::duration_cast<std::chrono::seconds>(S3Client::TimePoint::duration::max()).count() - 1;
  if (t < -kLimit || t > kLimit) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t) + millis;
}

// Opaque values S3 hands back (upload ids, continuation tokens, ETags): printable ASCII.
bool IsPrintableToken(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7F; });
}

bool IsValidKey(std::string_view k) {
  if (k.empty() || k.size() > kMaxKeyBytes) return false;
  return std::none_of(k.begin(), k.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
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

// ---------------------------------------------------------------------------------------
// The answers.

Result<S3Client::ObjectPage> ParseListObjectsPage(std::string_view xml, std::string_view prefix,
                                                  std::string_view continuation_token, int max_keys) {
  auto bad = [](const char* why) {
    return Fail(ErrorCode::kInternal, "an object store request failed", std::string("S3 ListObjectsV2: ") + why);
  };
  auto doc = ParseXml(xml);
  if (!doc || doc->name != "ListBucketResult") return bad("not a ListBucketResult");
  S3Client::ObjectPage page;
  for (const auto& node : doc->children) {
    if (node.name != "Contents") continue;
    S3Client::ObjectInfo info;
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

Result<S3Client::UploadPage> ParseMultipartUploadsPage(std::string_view xml, std::string_view prefix,
                                                       std::string_view key_marker, std::string_view upload_id_marker) {
  auto bad = [](const char* why) {
    return Fail(ErrorCode::kInternal, "an object store request failed", std::string("S3 ListMultipartUploads: ") + why);
  };
  auto doc = ParseXml(xml);
  if (!doc || doc->name != "ListMultipartUploadsResult") return bad("not a ListMultipartUploadsResult");
  S3Client::UploadPage page;
  for (const auto& node : doc->children) {
    if (node.name != "Upload") continue;
    S3Client::Upload upload;
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

Result<std::string> ParseInitiateUploadId(std::string_view xml) {
  auto doc = ParseXml(xml);
  std::string_view id = doc && doc->name == "InitiateMultipartUploadResult" ? doc->ChildText("UploadId") : "";
  if (!IsPrintableToken(id, kMaxTokenBytes))
    return Fail(ErrorCode::kInternal, "an object store request failed", "S3 CreateMultipartUpload: no UploadId");
  return std::string(id);
}

Result<void> ParseCompleteAnswer(std::string_view xml) {
  auto doc = ParseXml(xml);
  if (doc && doc->name == "CompleteMultipartUploadResult") return {};
  std::string code = S3ErrorCode(xml);
  return std::unexpected(code.empty() ? Error{ErrorCode::kInternal, "an object store request failed",
                                              "S3 CompleteMultipartUpload: unreadable answer"}
                                      : S3Failure("CompleteMultipartUpload", 200, code));
}

}  // namespace vg::storage::s3
