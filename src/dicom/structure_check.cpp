#include "dicom/structure_check.h"

#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dctag.h>
#include <dcmtk/dcmdata/dcvr.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <fmt/format.h>
#include <zlib.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vg::dicom {
namespace {

constexpr std::uint32_t kUndefinedLength = 0xFFFFFFFF;
constexpr std::uint64_t kOpen = UINT64_MAX;  // a container of undefined length
constexpr std::uint16_t kPixelGroup = 0x7FE0, kPixelElement = 0x0010;

std::uint16_t U16(const std::uint8_t* p, bool big) {
  return big ? static_cast<std::uint16_t>(p[0] << 8 | p[1]) : static_cast<std::uint16_t>(p[1] << 8 | p[0]);
}
std::uint32_t U32(const std::uint8_t* p, bool big) {
  return big ? (std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3])
             : (std::uint32_t{p[3]} << 24 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[1]} << 8 | p[0]);
}

Error Malformed(const std::string& what) {
  return Error{ErrorCode::kInvalidArgument, "the data set's structure cannot be followed: " + what, {}};
}

Error TooDeep(const StructureLimits& limits) {
  return Error{ErrorCode::kUnprocessable,
               fmt::format("the data set nests sequences more than {} levels deep (limit of voxelgate's DICOM reader)",
                           limits.max_depth),
               {}};
}

bool IsUnknownVr(DcmEVR evr) { return evr == EVR_UN || evr == EVR_UNKNOWN || evr == EVR_UNKNOWN2B; }

}  // namespace

// ---- DatasetWalker ------------------------------------------------------------------------

// What DcmItem::newDicomElement (DCMTK 3.6.7) makes of an element, by its VR as DCMTK
// reads it (explicit, or the data dictionary's with the item's private creators):
// a sequence for SQ, and for UN and unknown VRs of undefined length (CP-246: their items
// in Implicit VR Little Endian); pixel data fragments for undefined-length pixel data
// (OB, OW, ox on PixelData; px anywhere); otherwise a value (an undefined length there
// is a parse error in DCMTK, and refused here).
struct DatasetWalker::Frame {
  Kind kind;
  std::uint64_t end;
  DatasetEncoding encoding;
  std::map<std::uint32_t, std::string> creators;  // (group << 16 | block) -> private creator
};

DatasetWalker::DatasetWalker(DatasetEncoding encoding, StructureLimits limits, bool complete)
    : limits_(limits), complete_(complete) {
  stack_.push_back(std::make_unique<Frame>(Frame{Kind::kElements, kOpen, encoding, {}}));
}

DatasetWalker::~DatasetWalker() = default;

Result<int> DatasetWalker::Continue(std::span<const std::uint8_t> bytes, std::uint64_t root_end) {
  if (failed_) return std::unexpected(*failed_);
  auto fail = [&](Error error) -> Result<int> {
    failed_ = error;
    return std::unexpected(error);
  };
  const std::uint64_t size = bytes.size();
  const std::uint8_t* data = bytes.data();
  stack_.front()->end = root_end;
  while (true) {
    // Containers of defined length end where their length says. (A value may run past
    // its container: DCMTK reads it whole and goes on.)
    while (stack_.size() > 1 && stack_.back()->end != kOpen && pos_ >= stack_.back()->end) {
      if (stack_.back()->kind == Kind::kItems) --depth_;
      stack_.pop_back();
    }
    Frame& top = *stack_.back();
    if (stack_.size() == 1 && top.end != kOpen && pos_ >= top.end) return deepest_;
    // The end of the bytes so far, possibly inside a header: wait for more (or, for a
    // whole data set, DCMTK reports the truncation; nothing deeper can follow).
    if (pos_ >= size || size - pos_ < 8) return deepest_;
    const bool big = top.encoding.big_endian;
    const std::uint8_t* at = data + pos_;
    const std::uint16_t group = U16(at, big), element = U16(at + 2, big);
    if (group == 0xFFFE) {
      const std::uint32_t length = U32(at + 4, big);
      if (element == 0xE000) {  // an item
        if (top.kind == Kind::kElements) return fail(Malformed("an item where an element belongs"));
        if (top.kind == Kind::kFragments) {
          if (length == kUndefinedLength) return fail(Malformed("a pixel data fragment of undefined length"));
          if (complete_ && pos_ + 8 + length > size)
            return fail(Malformed("a fragment's length runs past the end of the data"));
          pos_ += 8 + std::uint64_t{length};
          continue;
        }
        pos_ += 8;
        const std::uint64_t end = length == kUndefinedLength ? kOpen : pos_ + length;
        stack_.push_back(std::make_unique<Frame>(Frame{Kind::kElements, end, top.encoding, {}}));
        continue;
      }
      if (element == 0xE00D) {  // item delimitation
        if (top.kind != Kind::kElements || stack_.size() == 1 || top.end != kOpen)
          return fail(Malformed("an item delimiter outside an item of undefined length"));
        pos_ += 8;
        stack_.pop_back();
        continue;
      }
      if (element == 0xE0DD) {  // sequence delimitation
        if (top.kind == Kind::kElements || top.end != kOpen)
          return fail(Malformed("a sequence delimiter outside a sequence of undefined length"));
        pos_ += 8;
        if (top.kind == Kind::kItems) --depth_;
        stack_.pop_back();
        continue;
      }
      return fail(Malformed("an unknown delimiter"));
    }
    if (top.kind != Kind::kElements) return fail(Malformed("an element where an item belongs"));

    // The element's header and VR, as DCMTK reads them.
    std::uint64_t header = 8;
    std::uint32_t length = 0;
    DcmEVR evr = EVR_UNKNOWN;
    const bool private_tag = group & 1;
    std::string creator;
    if (private_tag && element >= 0x1000) {
      auto found = top.creators.find(std::uint32_t{group} << 16 | (element >> 8));
      if (found != top.creators.end()) creator = found->second;
    }
    if (top.encoding.explicit_vr) {
      const char name[3] = {static_cast<char>(at[4]), static_cast<char>(at[5]), '\0'};
      const DcmVR vr(name);
      evr = vr.getEVR();
      if (evr == EVR_na) return fail(Malformed("an element with the VR of a delimiter"));
      if (vr.usesExtendedLengthEncoding()) {
        if (size - pos_ < 12) return deepest_;
        header = 12;
        length = U32(at + 8, big);
      } else {
        length = U16(at + 6, big);
      }
    } else {
      length = U32(at + 4, big);
      evr = DcmTag(group, element, creator.empty() ? nullptr : creator.c_str()).getEVR();
    }
    const std::uint64_t value_at = pos_ + header;
    const bool pixel_data = group == kPixelGroup && element == kPixelElement;
    bool sequence = false;
    DatasetEncoding contents = top.encoding;
    std::uint64_t end = kOpen;
    if (length == kUndefinedLength) {
      const bool px = evr == EVR_px ||
                      (private_tag && (evr == EVR_OB || evr == EVR_OW) &&
                       DcmTag(group, element, creator.empty() ? nullptr : creator.c_str()).getEVR() == EVR_px);
      if ((pixel_data && (evr == EVR_OB || evr == EVR_OW || evr == EVR_ox || evr == EVR_px)) || px) {
        pos_ = value_at;
        stack_.push_back(std::make_unique<Frame>(Frame{Kind::kFragments, kOpen, top.encoding, {}}));
        continue;
      }
      if (evr == EVR_SQ) {
        sequence = true;
      } else if (IsUnknownVr(evr)) {
        sequence = true;
        contents = DatasetEncoding{false, false};  // CP-246: read as Implicit VR Little Endian
      } else {
        return fail(Malformed("an element of undefined length that is not a sequence or pixel data"));
      }
    } else {
      end = value_at + length;
      // In a whole data set, a value cannot end past the data: DCMTK would allocate what
      // the length says (gigabytes, for a few hundred bytes sent) before finding out.
      if (complete_ && end > size) return fail(Malformed("an element's length runs past the end of the data"));
      sequence = evr == EVR_SQ;
    }
    if (!sequence) {
      // A private creator (gggg,0010-00FF) names the block its private tags are read by.
      if (private_tag && element >= 0x0010 && element <= 0x00FF && end != kOpen && end <= size) {
        std::string name(reinterpret_cast<const char*>(data + value_at), length);
        while (!name.empty() && (name.back() == ' ' || name.back() == '\0')) name.pop_back();
        top.creators.try_emplace(std::uint32_t{group} << 16 | element, name);
      }
      pos_ = end;
      continue;
    }
    if (++depth_ > limits_.max_depth) return fail(TooDeep(limits_));
    deepest_ = std::max(deepest_, depth_);
    pos_ = value_at;
    stack_.push_back(std::make_unique<Frame>(Frame{Kind::kItems, end, contents, {}}));
  }
}

Result<int> WalkDataset(std::span<const std::uint8_t> bytes, DatasetEncoding encoding, const StructureLimits& limits,
                        bool complete) {
  DatasetWalker walker(encoding, limits, complete);
  return walker.Continue(bytes);
}

// ---- Part 10 -------------------------------------------------------------------------------

namespace {

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

Error BadMeta(const std::string& what) {
  return Error{ErrorCode::kInvalidArgument, "the file meta information is not well-formed: " + what, {}};
}

struct MetaGroup {
  std::uint64_t dataset_offset = 0;
  std::string transfer_syntax_uid;
};

// The file meta group, which must be as PS3.10 7.1 says (and as DCMTK then reads it
// exactly): Explicit VR Little Endian elements of group 0002 with standard VRs, no
// sequences and no undefined lengths, at most one Transfer Syntax UID, and a group length
// (0002,0000) that ends the group, or, without it, the group's elements followed by one
// that is not of group 0002 in either byte order. Anything else could be read one way
// here and another way by DCMTK, so it is refused. A missing or unknown transfer syntax
// is left to DatasetEncodingOf, which guesses as DCMTK does.
Result<MetaGroup> ReadMeta(std::span<const std::uint8_t> bytes) {
  const std::uint64_t size = bytes.size();
  const std::uint8_t* data = bytes.data();
  if (size < 132 + 8 || std::memcmp(data + 128, "DICM", 4) != 0)
    return Fail(ErrorCode::kInvalidArgument, "not a DICOM Part 10 file: no DICM prefix at offset 128");
  std::uint64_t pos = 132;
  std::optional<std::uint64_t> declared_end;
  if (U16(data + pos, false) == 0x0002 && U16(data + pos + 2, false) == 0x0000) {
    if (size < pos + 12 || std::memcmp(data + pos + 4, "UL", 2) != 0 || U16(data + pos + 6, false) != 4)
      return std::unexpected(BadMeta("the group length (0002,0000) is not a UL of 4 bytes"));
    declared_end = pos + 12 + std::uint64_t{U32(data + pos + 8, false)};
    pos += 12;
  }
  MetaGroup out;
  int transfer_syntaxes = 0;
  while (declared_end ? pos < *declared_end : (pos + 2 <= size && U16(data + pos, false) == 0x0002)) {
    if (size - pos < 8) return std::unexpected(BadMeta("it ends inside an element"));
    const std::uint16_t group = U16(data + pos, false), element = U16(data + pos + 2, false);
    if (group != 0x0002) return std::unexpected(BadMeta("an element of another group inside it"));
    const char name[3] = {static_cast<char>(data[pos + 4]), static_cast<char>(data[pos + 5]), '\0'};
    const DcmVR vr(name);
    if (!vr.isStandard() || vr.getEVR() == EVR_SQ || vr.getEVR() == EVR_UN)
      return std::unexpected(BadMeta("an element whose VR is not a standard one"));
    std::uint64_t header = 8;
    std::uint32_t length = U16(data + pos + 6, false);
    if (vr.usesExtendedLengthEncoding()) {
      if (size - pos < 12) return std::unexpected(BadMeta("it ends inside an element"));
      header = 12;
      length = U32(data + pos + 8, false);
    }
    if (length == kUndefinedLength) return std::unexpected(BadMeta("an element of undefined length"));
    const std::uint64_t end = pos + header + length;
    if (end > size || (declared_end && end > *declared_end))
      return std::unexpected(BadMeta("an element runs past its end"));
    if (element == 0x0010) {
      ++transfer_syntaxes;
      std::string uid(reinterpret_cast<const char*>(data + pos + header), length);
      while (!uid.empty() && (uid.back() == '\0' || uid.back() == ' ')) uid.pop_back();
      if (uid.empty() || uid.size() > 64 || uid.find_first_not_of("0123456789.") != std::string::npos)
        return std::unexpected(BadMeta("the transfer syntax UID is not a UID"));
      out.transfer_syntax_uid = std::move(uid);
    }
    pos = end;
  }
  if (declared_end && pos != *declared_end) return std::unexpected(BadMeta("the group length does not match its elements"));
  // DCMTK would go on reading group 0002 elements in the other byte order.
  if (!declared_end && pos + 2 <= size && U16(data + pos, true) == 0x0002)
    return std::unexpected(BadMeta("a group 0002 element in big-endian order follows it"));
  if (transfer_syntaxes > 1) return std::unexpected(BadMeta("it names more than one transfer syntax"));
  out.dataset_offset = pos;
  return out;
}

// DCMTK's own guess from a data set's first tag and VR, for a transfer syntax it does not
// know (HTJ2K, Deflated Image Frame Compression in 3.6.7) or a meta group that names none:
// DcmFileFormat::read passes EXS_Unknown to the data set, which asks this.
class TransferSyntaxProbe : public DcmItem {
 public:
  E_TransferSyntax Guess(std::span<const std::uint8_t> head) {
    DcmInputBufferStream stream;
    stream.setBuffer(head.data(), static_cast<offile_off_t>(std::min<std::size_t>(head.size(), 6)));
    stream.setEos();
    return checkTransferSyntax(stream);
  }
};

struct Part10Encoding {
  DatasetEncoding dataset;
  bool deflated = false;
};

Part10Encoding DatasetEncodingOf(const MetaGroup& meta, std::span<const std::uint8_t> dataset) {
  E_TransferSyntax known = meta.transfer_syntax_uid.empty() ? EXS_Unknown : DcmXfer(meta.transfer_syntax_uid.c_str()).getXfer();
  if (known == EXS_Unknown) known = TransferSyntaxProbe{}.Guess(dataset);
  const DcmXfer xfer(known);
  return {{xfer.isExplicitVR(), xfer.isBigEndian()}, xfer.getStreamCompression() != ESC_none};
}

std::span<const std::uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace

std::optional<std::uint64_t> Part10DatasetOffset(std::string_view text, const StructureLimits&) {
  auto meta = ReadMeta(Bytes(text));
  if (!meta) return std::nullopt;
  return meta->dataset_offset;
}

Result<void> CheckPart10Structure(std::string_view text, const StructureLimits& limits) {
  const auto bytes = Bytes(text);
  auto meta = ReadMeta(bytes);
  if (!meta) return std::unexpected(meta.error());
  const auto rest = bytes.subspan(meta->dataset_offset);
  const auto [dataset, deflated] = DatasetEncodingOf(*meta, rest);
  if (deflated) {
    auto inflated = InflateBounded(rest, limits.max_inflated_bytes);
    if (!inflated) return std::unexpected(inflated.error());
    auto walked = WalkDataset(Bytes(*inflated), dataset, limits);
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
