#include "http/multipart.h"

#include <cstring>

#include "core/strings.h"

namespace vg::http {
namespace {
constexpr size_t kReadChunk = 256 * 1024;

Error Malformed(const std::string& why) {
  return Error{ErrorCode::kInvalidArgument, "malformed multipart body: " + why, {}};
}
}  // namespace

std::string Part::Header(const std::string& lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return value;
  return {};
}

MultipartReader::MultipartReader(ByteSource& source, std::string boundary, std::uint64_t max_part_bytes,
                                 size_t max_header_bytes)
    : source_(source), delimiter_("\r\n--" + boundary), max_part_bytes_(max_part_bytes),
      max_header_bytes_(max_header_bytes) {}

Result<bool> MultipartReader::Fill() {
  if (eof_) return false;
  // Compact the consumed prefix before growing.
  if (start_ > 0 && start_ >= buffer_.size() / 2) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  size_t old = buffer_.size();
  buffer_.resize(old + kReadChunk);
  auto n = source_.Read(std::span(reinterpret_cast<std::uint8_t*>(buffer_.data()) + old, kReadChunk));
  if (!n) {
    buffer_.resize(old);
    return std::unexpected(n.error());
  }
  buffer_.resize(old + *n);
  if (*n == 0) eof_ = true;
  return *n > 0;
}

Result<void> MultipartReader::SkipPreamble() {
  // The first delimiter may sit at the very start, without the leading CRLF.
  const std::string first = delimiter_.substr(2);
  while (true) {
    std::string_view view(buffer_.data() + start_, buffer_.size() - start_);
    if (view.starts_with(first)) {
      start_ += first.size();
      return {};
    }
    auto pos = view.find(delimiter_);
    if (pos != std::string_view::npos) {
      start_ += pos + delimiter_.size();
      return {};
    }
    if (view.size() > max_header_bytes_ + delimiter_.size())
      return std::unexpected(Malformed("the boundary from Content-Type never appears"));
    auto more = Fill();
    if (!more) return std::unexpected(more.error());
    if (!*more) return std::unexpected(Malformed("the boundary from Content-Type never appears"));
  }
}

Result<bool> MultipartReader::AfterDelimiter() {
  while (buffer_.size() - start_ < 2) {
    auto more = Fill();
    if (!more) return std::unexpected(more.error());
    if (!*more) return std::unexpected(Malformed("the body ends right after a boundary"));
  }
  if (buffer_.compare(start_, 2, "--") == 0) {
    start_ += 2;
    finished_ = true;
    return false;
  }
  // Transport padding (spaces, tabs) then CRLF.
  while (true) {
    while (start_ < buffer_.size() && (buffer_[start_] == ' ' || buffer_[start_] == '\t')) ++start_;
    if (buffer_.size() - start_ >= 2) break;
    auto more = Fill();
    if (!more) return std::unexpected(more.error());
    if (!*more) return std::unexpected(Malformed("the body ends right after a boundary"));
  }
  if (buffer_.compare(start_, 2, "\r\n") != 0) return std::unexpected(Malformed("a boundary is not followed by CRLF"));
  start_ += 2;
  return true;
}

Result<void> MultipartReader::ReadHeaders(Part& part) {
  while (true) {
    std::string_view view(buffer_.data() + start_, buffer_.size() - start_);
    size_t end = view.starts_with("\r\n") ? 0 : view.find("\r\n\r\n");
    if (end != std::string_view::npos) {
      std::string_view block = view.substr(0, end);
      for (auto line : Split(block, '\n')) {
        line = Trim(line);
        if (line.empty()) continue;
        auto colon = line.find(':');
        if (colon == std::string_view::npos) return std::unexpected(Malformed("a part header line has no colon"));
        part.headers.emplace_back(ToLower(Trim(line.substr(0, colon))), std::string(Trim(line.substr(colon + 1))));
      }
      start_ += end + (end == 0 ? 2 : 4);
      return {};
    }
    if (view.size() > max_header_bytes_) return std::unexpected(Malformed("part headers are too long"));
    auto more = Fill();
    if (!more) return std::unexpected(more.error());
    if (!*more) return std::unexpected(Malformed("the body ends inside part headers"));
  }
}

Result<std::string_view> MultipartReader::PeekBody() {
  while (in_body_) {
    // Everything before start_ is consumed; the unconsumed tail may hold a delimiter prefix.
    const char* base = buffer_.data();
    const void* hit = memmem(base + start_, buffer_.size() - start_, delimiter_.data(), delimiter_.size());
    const size_t body_end = hit ? static_cast<size_t>(static_cast<const char*>(hit) - base) : 0;
    // Without a hit, everything but a possible delimiter prefix at the end is body.
    const size_t keep = delimiter_.size() - 1;
    const size_t take_end = hit ? body_end : (buffer_.size() - start_ > keep ? buffer_.size() - keep : start_);
    if (take_end > start_) return std::string_view(base + start_, take_end - start_);
    if (hit) {
      start_ = body_end + delimiter_.size();
      in_body_ = false;
      auto more = AfterDelimiter();
      if (!more) return std::unexpected(more.error());
      break;
    }
    auto more = Fill();
    if (!more) return std::unexpected(more.error());
    if (!*more) return std::unexpected(Malformed("the body ends before the closing boundary"));
  }
  return std::string_view();
}

Result<size_t> MultipartReader::ReadBodyChunk(std::span<std::uint8_t> out) {
  if (out.empty()) return 0;
  auto piece = PeekBody();
  if (!piece) return std::unexpected(piece.error());
  const size_t n = std::min(out.size(), piece->size());
  if (n == 0) return 0;  // the part's end (and memcpy must not see the empty view's null)
  std::memcpy(out.data(), piece->data(), n);
  start_ += n;
  return n;
}

Result<std::optional<Part>> MultipartReader::NextHeaders() {
  if (in_body_) {  // the rest of the previous part
    std::uint8_t sink[64 * 1024];
    while (true) {
      auto n = ReadBodyChunk(sink);
      if (!n) return std::unexpected(n.error());
      if (*n == 0) break;
    }
  }
  if (finished_) return std::optional<Part>();
  if (!started_) {
    started_ = true;
    if (auto r = SkipPreamble(); !r) return std::unexpected(r.error());
    auto more = AfterDelimiter();
    if (!more) return std::unexpected(more.error());
    if (!*more) return std::optional<Part>();
  }
  Part part;
  if (auto r = ReadHeaders(part); !r) return std::unexpected(r.error());
  in_body_ = true;
  return std::optional<Part>(std::move(part));
}

Result<std::optional<Part>> MultipartReader::Next() {
  auto next = NextHeaders();
  if (!next || !*next) return next;
  Part& part = **next;
  // Growing the body by doubling would copy it about once more; the previous part's size
  // is a good guess for the next (slices of one series).
  if (size_hint_ > 0 && size_hint_ <= max_part_bytes_) part.body.reserve(size_hint_ + 64);
  while (true) {
    auto piece = PeekBody();
    if (!piece) return std::unexpected(piece.error());
    if (piece->empty()) break;
    part.size += piece->size();
    if (!part.too_large && part.size > max_part_bytes_) {
      part.too_large = true;
      std::string().swap(part.body);
    }
    if (!part.too_large) part.body.append(*piece);
    start_ += piece->size();
  }
  size_hint_ = part.size;
  return next;
}

}  // namespace vg::http
