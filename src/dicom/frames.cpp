#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>

#include "core/checked_math.h"
#include "dicom/dcmtk_io.h"
#include "dicom/dicom.h"
#include "dicom/pixels.h"

namespace vg::dicom {
namespace {

constexpr const char* kExplicitLittle = "1.2.840.10008.1.2.1";

Result<void> CheckFrameNumbers(const std::vector<std::int64_t>& frames, std::int64_t count) {
  for (auto f : frames)
    if (f < 1 || f > count)
      return Fail(ErrorCode::kNotFound, "frame " + std::to_string(f) + " does not exist (the instance has " +
                                            std::to_string(count) + ")");
  return {};
}

// Frames of native (uncompressed) pixel data: cut the value at frame boundaries. 1-bit
// data (binary SEG) is not byte-aligned per frame, so its bits are re-packed.
Result<std::vector<FrameData>> NativeFrames(DcmDataset& ds, const ImageLayout& layout,
                                            const std::vector<std::int64_t>& frames) {
  const Uint8* data = nullptr;
  unsigned long length = 0;
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad() || !element)
    return Fail(ErrorCode::kNotFound, "the instance has no pixel data");
  if (element->getUint8Array(const_cast<Uint8*&>(data)).bad() || !data) {
    Uint16* words = nullptr;
    if (element->getUint16Array(words).bad() || !words)
      return Fail(ErrorCode::kInvalidArgument, "cannot read the pixel data");
    data = reinterpret_cast<const Uint8*>(words);
  }
  length = element->getLength();
  // Checked by ReadImageLayout: a frame is < 2^37 bits and there are < 2^21 of them.
  const std::int64_t frame_bits = static_cast<std::int64_t>(layout.frame_bits);
  std::vector<FrameData> out;
  for (auto f : frames) {
    std::int64_t bit_offset = (f - 1) * frame_bits;
    if ((bit_offset + frame_bits + 7) / 8 > static_cast<std::int64_t>(length))
      return Fail(ErrorCode::kInvalidArgument, "pixel data is shorter than its frames");
    FrameData frame;
    frame.transfer_syntax = kExplicitLittle;
    if (frame_bits % 8 == 0 && bit_offset % 8 == 0) {
      frame.bytes.assign(reinterpret_cast<const char*>(data) + bit_offset / 8, frame_bits / 8);
    } else {
      frame.bytes.assign((frame_bits + 7) / 8, '\0');
      for (std::int64_t i = 0; i < frame_bits; ++i) {
        std::int64_t src = bit_offset + i;
        if (data[src / 8] & (1u << (src % 8))) frame.bytes[i / 8] |= static_cast<char>(1u << (i % 8));
      }
    }
    out.push_back(std::move(frame));
  }
  return out;
}

// Compressed frames as stored: fragments grouped by the Basic Offset Table, or one
// fragment per frame, or all fragments for a single frame.
Result<std::vector<FrameData>> EncapsulatedFrames(DcmPixelSequence& sequence, const std::vector<std::int64_t>& frames,
                                                  std::int64_t count, const std::string& ts) {
  auto fragments = FrameFragments(sequence, count);
  if (!fragments) return std::unexpected(fragments.error());
  const auto& ranges = *fragments;
  std::vector<FrameData> out;
  for (auto f : frames) {
    FrameData frame;
    frame.transfer_syntax = ts;
    for (unsigned long i = ranges[f - 1].first; i < ranges[f - 1].second; ++i) {
      DcmPixelItem* item = nullptr;
      sequence.getItem(item, i);
      Uint8* raw = nullptr;
      item->getUint8Array(raw);
      if (raw) frame.bytes.append(reinterpret_cast<const char*>(raw), item->getLength());
    }
    out.push_back(std::move(frame));
  }
  return out;
}

}  // namespace

Result<std::vector<FrameData>> ExtractFrames(std::string_view file, const std::vector<std::int64_t>& frames,
                                             bool allow_compressed) {
  auto loaded = LoadFromMemory(file);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& ds = *loaded->dataset;
  if (!ds.tagExists(DCM_PixelData)) return Fail(ErrorCode::kNotFound, "the instance has no pixel data");
  auto layout = ReadImageLayout(ds);
  if (!layout) return std::unexpected(layout.error());
  const std::int64_t count = layout->frames;
  if (auto r = CheckFrameNumbers(frames, count); !r) return std::unexpected(r.error());
  // A list may name a frame more than once; what it asks for stays within what one
  // instance may decode to.
  const std::uint64_t frame_bytes = (layout->frame_bits + 7) / 8;
  if (!ProductWithin({static_cast<std::int64_t>(frames.size()), static_cast<std::int64_t>(frame_bytes)}, kMaxDecodedBytes))
    return Fail(ErrorCode::kTooLarge, "the frames asked for add up to more than " +
                                          std::to_string(kMaxDecodedBytes >> 20) + " MiB; ask for fewer at a time");
  DcmXfer xfer(loaded->xfer);
  if (!xfer.isEncapsulated()) return NativeFrames(ds, *layout, frames);
  if (allow_compressed) {
    DcmElement* element = nullptr;
    ds.findAndGetElement(DCM_PixelData, element);
    DcmPixelSequence* sequence = nullptr;
    if (static_cast<DcmPixelData*>(element)->getEncapsulatedRepresentation(loaded->xfer, nullptr, sequence).good() &&
        sequence) {
      auto as_stored = EncapsulatedFrames(*sequence, frames, count, loaded->transfer_syntax_uid);
      if (as_stored || as_stored.error().code != ErrorCode::kUnsupported) return as_stored;
    }
  }
  if (ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad() ||
      !ds.canWriteXfer(EXS_LittleEndianExplicit)) {
    return Fail(ErrorCode::kUnsupported,
                std::string("this server cannot decode ") + xfer.getXferName() + "; ask for the frames as stored");
  }
  return NativeFrames(ds, *layout, frames);
}

Result<std::string> ExtractBulkData(std::string_view file, std::uint16_t group, std::uint16_t element_number) {
  auto loaded = LoadFromMemory(file);
  if (!loaded) return std::unexpected(loaded.error());
  DcmElement* element = nullptr;
  if (loaded->dataset->findAndGetElement(DcmTagKey(group, element_number), element).bad() || !element)
    return Fail(ErrorCode::kNotFound, "no such bulk data element");
  if (DcmTagKey(group, element_number) == DCM_PixelData && DcmXfer(loaded->xfer).isEncapsulated()) {
    // Compressed pixel data as a whole: the concatenated fragments.
    auto frames = ExtractFrames(file, {1}, true);
    if (!frames) return std::unexpected(frames.error());
    return std::move((*frames)[0].bytes);
  }
  Uint8* data = nullptr;
  if (element->getUint8Array(data).bad() || !data) {
    Uint16* words = nullptr;
    if (element->getUint16Array(words).bad() || !words) return Fail(ErrorCode::kNotFound, "no such bulk data element");
    data = reinterpret_cast<Uint8*>(words);
  }
  return std::string(reinterpret_cast<const char*>(data), element->getLength());
}

}  // namespace vg::dicom
