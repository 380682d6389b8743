// MultipartReader: streams the parts of a multipart body (RFC 2046) from a ByteSource.
// Next() holds at most one part (bounded by max_part_bytes) plus a read buffer in
// memory; a part over the limit is skipped and reported, not loaded. For parts too large
// to hold, NextHeaders() and Body() stream each part's body instead (to a file, the
// staging area), in pieces. A framing error (no boundary, body ending before the closing
// delimiter, oversized part headers) is an error of the whole body.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_source.h"
#include "core/result.h"

namespace vg::http {

struct Part {
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  bool too_large = false;  // body was over the limit and has been skipped
  std::uint64_t size = 0;  // bytes in the body (also when skipped)
  std::string Header(const std::string& lower_name) const;
};

class MultipartReader {
 public:
  MultipartReader(ByteSource& source, std::string boundary, std::uint64_t max_part_bytes,
                  size_t max_header_bytes = 16 * 1024);
  // The next part, or nullopt after the closing delimiter.
  Result<std::optional<Part>> Next();
  // The next part's headers (its body not read), or nullopt after the closing delimiter.
  // What is left of the previous part's body is skipped.
  Result<std::optional<Part>> NextHeaders();
  // The body of the part NextHeaders() returned: Read() gives its bytes, then 0.
  ByteSource& Body() { return body_; }

 private:
  Result<bool> Fill();  // false at end of source
  Result<void> SkipPreamble();
  Result<void> ReadHeaders(Part& part);
  // The body bytes at hand in the buffer (consumed by advancing start_); empty at the
  // part's end, after which the delimiter has been read.
  Result<std::string_view> PeekBody();
  Result<size_t> ReadBodyChunk(std::span<std::uint8_t> out);
  Result<bool> AfterDelimiter();  // true: another part follows

  class BodySource final : public ByteSource {
   public:
    explicit BodySource(MultipartReader& reader) : reader_(reader) {}
    Result<size_t> Read(std::span<std::uint8_t> out) override { return reader_.ReadBodyChunk(out); }

   private:
    MultipartReader& reader_;
  };

  ByteSource& source_;
  std::string delimiter_;  // "\r\n--" + boundary
  std::uint64_t max_part_bytes_;
  size_t max_header_bytes_;
  std::string buffer_;
  size_t start_ = 0;  // consumed prefix of buffer_
  bool eof_ = false;
  bool started_ = false;
  bool finished_ = false;
  bool in_body_ = false;       // a part's body is being read
  std::size_t size_hint_ = 0;  // the last part's size: parts of one request tend to match
  BodySource body_{*this};
};

}  // namespace vg::http
