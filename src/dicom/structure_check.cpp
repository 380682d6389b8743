#include "dicom/structure_check.h"

#include <dcmtk/dcmdata/dctag.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <fmt/format.h>
#include <zlib.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace vg::dicom {
namespace {

constexpr std::uint32_t kUndefinedLength = 0xFFFFFFFF;
constexpr std::uint64_t kOpen = UINT64_MAX;  // a container of undefined length

enum class Kind {
  kElements,   // a data set or an item: elements until its end or its delimiter
  kItems,      // a sequence: items until its end or its delimiter
  kFragments,  // encapsulated pixel data: fragments, skipped
};

struct Frame {
  Kind kind;
  std::uint64_t end;
  DatasetEncoding encoding;
};

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  std::uint16_t U16(std::uint64_t at, bool big) const {
    const std::uint8_t* p = bytes_.data() + at;
    return big ? static_cast<std::uint16_t>(p[0] << 8 | p[1]) : static_cast<std::uint16_t>(p[1] << 8 | p[0]);
  }
  std::uint32_t U32(std::uint64_t at, bool big) const {
    const std::uint8_t* p = bytes_.data() + at;
    return big ? (std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3])
               : (std::uint32_t{p[3]} << 24 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[1]} << 8 | p[0]);
  }
  std::uint8_t Byte(std::uint64_t at) const { return bytes_[at]; }
  std::uint64_t size() const { return bytes_.size(); }

 private:
  std::span<const std::uint8_t> bytes_;
};

bool Upper(std::uint8_t c) { return c >= 'A' && c <= 'Z'; }

enum class VrClass { kShort, kExtended, kFuture };

// How DCMTK reads an explicit VR's length: 2 bytes for the standard's short VRs and for
// anything that is not two upper-case letters; 4 bytes (after 2 reserved) for the
// extended ones and for unknown upper-case pairs, which it takes as future VRs.
VrClass ClassOf(std::uint8_t a, std::uint8_t b) {
  static constexpr const char* kExtended[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                              "SV", "UC", "UN", "UR", "UT", "UV"};
  static constexpr const char* kShort[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO",
                                           "LT", "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"};
  for (const char* vr : kExtended)
    if (vr[0] == a && vr[1] == b) return VrClass::kExtended;
  for (const char* vr : kShort)
    if (vr[0] == a && vr[1] == b) return VrClass::kShort;
  return Upper(a) && Upper(b) ? VrClass::kFuture : VrClass::kShort;
}

bool ExtendedLength(std::uint8_t a, std::uint8_t b) { return ClassOf(a, b) != VrClass::kShort; }

Error Malformed(const std::string& what) {
  return Error{ErrorCode::kInvalidArgument, "the data set's structure cannot be followed: " + what, {}};
}

Error TooDeep(const StructureLimits& limits) {
  return Error{ErrorCode::kUnprocessable,
               fmt::format("the data set nests sequences more than {} levels deep (limit of voxelgate's DICOM reader)",
                           limits.max_depth),
               {}};
}

bool DictionarySaysSequence(std::uint16_t group, std::uint16_t element) {
  return DcmTag(group, element).getEVR() == EVR_SQ;
}

// Walks elements from `pos`; the root frame ends at `root_end`, or, with `meta_only`,
// before the first element that is not of group 0002 (the file meta group without a
// group length). Returns where it stopped; `deepest` is raised to the deepest level.
Result<std::uint64_t> Walk(const Reader& in, std::uint64_t pos, std::uint64_t root_end, DatasetEncoding encoding,
                           const StructureLimits& limits, bool meta_only, bool complete, int& deepest) {
  std::vector<Frame> stack{{Kind::kElements, root_end, encoding}};
  int depth = 0;
  const std::uint64_t size = in.size();
  while (true) {
    // Containers of defined length end where their length says.
    // (A value may run past the end of its container: DCMTK reads it whole and goes on.)
    while (stack.size() > 1 && stack.back().end != kOpen && pos >= stack.back().end) {
      if (stack.back().kind == Kind::kItems) --depth;
      stack.pop_back();
    }
    const Frame top = stack.back();
    if (stack.size() == 1 && top.end != kOpen && pos >= top.end) return pos;
    // The end of the bytes, possibly inside open containers or a value: DCMTK reports
    // the truncation; nothing deeper can follow.
    if (pos >= size || size - pos < 8) return pos;
    const bool big = top.encoding.big_endian;
    const std::uint16_t group = in.U16(pos, big), element = in.U16(pos + 2, big);
    if (meta_only && stack.size() == 1 && group != 0x0002) return pos;
    if (group == 0xFFFE) {
      const std::uint32_t length = in.U32(pos + 4, big);
      if (element == 0xE000) {  // an item
        if (top.kind == Kind::kElements) return std::unexpected(Malformed("an item where an element belongs"));
        pos += 8;
        if (top.kind == Kind::kFragments) {
          if (length == kUndefinedLength) return std::unexpected(Malformed("a pixel data fragment of undefined length"));
          if (complete && pos + length > size)
            return std::unexpected(Malformed("a fragment's length runs past the end of the data"));
          pos += length;
          continue;
        }
        // (An item may claim more than there is: DCMTK allocates nothing for it, and
        // tolerates it in real files.)
        const std::uint64_t end = length == kUndefinedLength ? kOpen : pos + length;
        stack.push_back({Kind::kElements, end, top.encoding});
        continue;
      }
      if (element == 0xE00D) {  // item delimitation
        if (top.kind != Kind::kElements || stack.size() == 1 || top.end != kOpen)
          return std::unexpected(Malformed("an item delimiter outside an item of undefined length"));
        pos += 8;
        stack.pop_back();
        continue;
      }
      if (element == 0xE0DD) {  // sequence delimitation
        if (top.kind == Kind::kElements || top.end != kOpen)
          return std::unexpected(Malformed("a sequence delimiter outside a sequence of undefined length"));
        pos += 8;
        if (top.kind == Kind::kItems) --depth;
        stack.pop_back();
        continue;
      }
      return std::unexpected(Malformed("an unknown delimiter"));
    }
    if (top.kind != Kind::kElements) return std::unexpected(Malformed("an element where an item belongs"));

    std::uint64_t header = 8;
    std::uint32_t length = 0;
    bool explicit_sq = false, explicit_un = false, explicit_obow = false;
    if (top.encoding.explicit_vr) {
      const std::uint8_t a = in.Byte(pos + 4), b = in.Byte(pos + 5);
      if (ExtendedLength(a, b)) {
        if (size - pos < 12) return pos;
        header = 12;
        length = in.U32(pos + 8, big);
      } else {
        length = in.U16(pos + 6, big);
      }
      explicit_sq = a == 'S' && b == 'Q';
      explicit_un = (a == 'U' && b == 'N') || ClassOf(a, b) == VrClass::kFuture;
      explicit_obow = a == 'O' && (b == 'B' || b == 'W');
    } else {
      length = in.U32(pos + 4, big);
    }
    pos += header;
    const bool pixel_data = group == 0x7FE0 && element == 0x0010;
    bool sequence = false;
    DatasetEncoding contents = top.encoding;
    std::uint64_t end = kOpen;
    if (length == kUndefinedLength) {
      if (pixel_data && (!top.encoding.explicit_vr || explicit_obow)) {
        stack.push_back({Kind::kFragments, kOpen, top.encoding});
        continue;
      }
      // SQ, and anything else of undefined length (UN, OB/OW, future VRs), which DCMTK
      // reads as a sequence; UN's items are Implicit VR Little Endian.
      sequence = true;
      if (explicit_un) contents = DatasetEncoding{false, false};
    } else {
      end = pos + length;
      if (explicit_sq) {
        sequence = true;
      } else if (!top.encoding.explicit_vr) {
        // Implicit VR: the dictionary's SQ, or a value that is made of items (a private
        // sequence whose creator's dictionary DCMTK may know).
        sequence = DictionarySaysSequence(group, element) ||
                   (length >= 8 && size - pos >= 4 && in.U16(pos, big) == 0xFFFE && in.U16(pos + 2, big) == 0xE000);
      }
    }
    // In a whole data set, a value cannot end past the data: DCMTK would allocate what the
    // length says (gigabytes, for a few hundred bytes sent) before finding out.
    if (complete && end != kOpen && end > size)
      return std::unexpected(Malformed("an element's length runs past the end of the data"));
    if (!sequence) {
      pos = end;
      continue;
    }
    if (++depth > limits.max_depth) return std::unexpected(TooDeep(limits));
    deepest = std::max(deepest, depth);
    stack.push_back({Kind::kItems, end, contents});
  }
}

// Raw deflate (RFC 1951), refused past `limit` bytes.
Result<std::string> InflateBounded(std::span<const std::uint8_t> compressed, std::uint64_t limit) {
  z_stream stream{};
  if (inflateInit2(&stream, -15) != Z_OK) return Fail(ErrorCode::kInternal, "cannot start inflating");
  std::unique_ptr<z_stream, decltype(&inflateEnd)> guard(&stream, inflateEnd);
  std::string out;
  std::uint64_t consumed = 0;
  char buffer[64 * 1024];
  while (true) {
    const std::uint64_t left = compressed.size() - consumed;
    stream.next_in = const_cast<Bytef*>(compressed.data() + consumed);
    stream.avail_in = static_cast<uInt>(std::min<std::uint64_t>(left, 1u << 30));
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    const uInt offered = stream.avail_in;
    const int rc = inflate(&stream, Z_NO_FLUSH);
    consumed += offered - stream.avail_in;
    const std::size_t produced = sizeof buffer - stream.avail_out;
    if (out.size() + produced > limit)
      return Fail(ErrorCode::kTooLarge,
                  fmt::format("the deflated data set inflates to more than {} bytes (limits.max_decompressed_bytes)", limit));
    out.append(buffer, produced);
    if (rc == Z_STREAM_END) return out;
    if (rc != Z_OK && rc != Z_BUF_ERROR) return Fail(ErrorCode::kInvalidArgument, "the deflated data set is damaged");
    if (produced == 0 && stream.avail_in == 0) return out;  // truncated: DCMTK will say so
  }
}

}  // namespace

Result<int> WalkDataset(std::span<const std::uint8_t> bytes, DatasetEncoding encoding, const StructureLimits& limits,
                        bool complete) {
  int deepest = 0;
  auto end = Walk(Reader(bytes), 0, kOpen, encoding, limits, false, complete, deepest);
  if (!end) return std::unexpected(end.error());
  return deepest;
}

namespace {

struct MetaGroup {
  std::uint64_t dataset_offset = 0;
  std::string transfer_syntax_uid;
};

// The meta group as DCMTK reads it: in the encoding its first element shows (Explicit VR
// Little Endian in any conformant file), up to the end its group length names, or while
// elements are of group 0002 when it has none.
Result<MetaGroup> WalkMeta(const Reader& in, std::string_view text, const StructureLimits& limits) {
  if (in.size() < 132 + 8 || std::memcmp(text.data() + 128, "DICM", 4) != 0)
    return Fail(ErrorCode::kInvalidArgument, "not a DICOM Part 10 file: no DICM prefix at offset 128");
  DatasetEncoding meta;
  meta.explicit_vr = Upper(in.Byte(136)) && Upper(in.Byte(137));
  meta.big_endian = in.U16(132, false) != 0x0002 && in.U16(132, true) == 0x0002;
  std::uint64_t meta_end = kOpen;
  bool meta_only = true;
  if (in.U16(132, meta.big_endian) == 0x0002 && in.U16(134, meta.big_endian) == 0x0000 && in.size() >= 144) {
    // (0002,0000) UL: its value follows an 8-byte header in either encoding.
    meta_end = 132 + 12 + std::uint64_t{in.U32(140, meta.big_endian)};
    meta_only = false;
  }
  int deepest = 0;
  auto end = Walk(in, 132, meta_end, meta, limits, meta_only, /*complete=*/true, deepest);
  if (!end) return std::unexpected(end.error());
  MetaGroup out;
  out.dataset_offset = std::min<std::uint64_t>(*end, in.size());
  for (std::uint64_t pos = 132; pos + 8 <= out.dataset_offset;) {
    const std::uint16_t group = in.U16(pos, meta.big_endian), element = in.U16(pos + 2, meta.big_endian);
    std::uint64_t header = 8;
    std::uint32_t length = 0;
    if (meta.explicit_vr && ExtendedLength(in.Byte(pos + 4), in.Byte(pos + 5))) {
      header = 12;
      length = in.U32(pos + 8, meta.big_endian);
    } else {
      length = meta.explicit_vr ? in.U16(pos + 6, meta.big_endian) : in.U32(pos + 4, meta.big_endian);
    }
    if (length == kUndefinedLength || pos + header + length > out.dataset_offset) break;
    if (group == 0x0002 && element == 0x0010 && length <= 64) {
      out.transfer_syntax_uid.assign(text.data() + pos + header, length);
      auto& uid = out.transfer_syntax_uid;
      while (!uid.empty() && (uid.back() == '\0' || uid.back() == ' ')) uid.pop_back();
      break;
    }
    pos += header + length;
  }
  return out;
}

}  // namespace

std::optional<std::uint64_t> Part10DatasetOffset(std::string_view text, const StructureLimits& limits) {
  const Reader in(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  auto meta = WalkMeta(in, text, limits);
  if (!meta) return std::nullopt;
  return meta->dataset_offset;
}

Result<void> CheckPart10Structure(std::string_view text, const StructureLimits& limits) {
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  const Reader in(bytes);
  auto meta = WalkMeta(in, text, limits);
  if (!meta) return std::unexpected(meta.error());
  // (DcmXfer takes "" for its internal Big Endian Implicit, which has no UID.)
  const DcmXfer xfer(meta->transfer_syntax_uid.empty() ? "unknown" : meta->transfer_syntax_uid.c_str());
  DatasetEncoding dataset;
  const std::uint64_t start = meta->dataset_offset;
  if (xfer.getXfer() == EXS_Unknown) {
    // DCMTK then looks at the data set's first element, as here.
    if (start + 6 <= bytes.size()) dataset.explicit_vr = Upper(in.Byte(start + 4)) && Upper(in.Byte(start + 5));
  } else {
    dataset.explicit_vr = xfer.isExplicitVR();
    dataset.big_endian = xfer.isBigEndian();
  }
  const auto rest = bytes.subspan(start);
  if (xfer.getXfer() != EXS_Unknown && xfer.getStreamCompression() != ESC_none) {
    auto inflated = InflateBounded(rest, limits.max_inflated_bytes);
    if (!inflated) return std::unexpected(inflated.error());
    const std::span<const std::uint8_t> plain(reinterpret_cast<const std::uint8_t*>(inflated->data()), inflated->size());
    auto walked = WalkDataset(plain, dataset, limits);
    if (!walked) return std::unexpected(walked.error());
    return {};
  }
  auto walked = WalkDataset(rest, dataset, limits);
  if (!walked) return std::unexpected(walked.error());
  return {};
}

namespace {
std::atomic<int> g_max_depth{StructureLimits{}.max_depth};
std::atomic<std::uint64_t> g_max_inflated{StructureLimits{}.max_inflated_bytes};
}  // namespace

StructureLimits DefaultStructureLimits() { return StructureLimits{g_max_depth.load(), g_max_inflated.load()}; }

void SetDefaultStructureLimits(const StructureLimits& limits) {
  g_max_depth = limits.max_depth;
  g_max_inflated = limits.max_inflated_bytes;
}

}  // namespace vg::dicom
