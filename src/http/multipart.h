// MultipartReader: streams the parts of a multipart body (RFC 2046) from a ByteSource,
// holding at most one part (bounded by max_part_bytes) plus a read buffer in memory.
// A part over the limit is skipped and reported, not loaded. A framing error (no
// boundary, body ending before the closing delimiter, oversized part headers) is an
// error of the whole body.
#pragma once

#include <optional>
#include <string>
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

 private:
  Result<bool> Fill();  // false at end of source
  Result<void> SkipPreamble();
  Result<void> ReadHeaders(Part& part);
  Result<void> ReadBody(Part& part);
  Result<bool> AfterDelimiter();  // true: another part follows

  ByteSource& source_;
  std::string delimiter_;  // "\r\n--" + boundary
  std::uint64_t max_part_bytes_;
  size_t max_header_bytes_;
  std::string buffer_;
  size_t start_ = 0;  // consumed prefix of buffer_
  bool eof_ = false;
  bool started_ = false;
  bool finished_ = false;
  std::size_t size_hint_ = 0;  // the last part's size: parts of one request tend to match
};

}  // namespace vg::http
