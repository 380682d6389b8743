#include "dicom/pixels.h"

#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include <zlib.h>

#include "core/checked_math.h"
#include "dicom/j2k.h"

namespace vg::dicom {
namespace {

// 1-bit frames are packed without padding between frames: unpack to a byte per pixel.
std::shared_ptr<std::vector<std::uint8_t>> UnpackBits(const std::uint8_t* data, std::int64_t pixels) {
  auto out = std::make_shared<std::vector<std::uint8_t>>(pixels);
  for (std::int64_t i = 0; i < pixels; ++i) (*out)[i] = (data[i >> 3] >> (i & 7)) & 1u;
  return out;
}

// Deflated Image Frame Compression (1.2.840.10008.1.2.8.1, 2024): each frame deflated
// on its own (RFC 1951). DCMTK 3.6.7 predates it.
constexpr std::string_view kDeflatedImageFrame = "1.2.840.10008.1.2.8.1";
constexpr std::string_view kRleLossless = "1.2.840.10008.1.2.5";

Result<std::string> InflateRaw(std::string_view compressed, std::size_t expected) {
  z_stream stream{};
  if (inflateInit2(&stream, -15) != Z_OK) return Fail(ErrorCode::kInternal, "cannot start inflating");
  std::string out(expected, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&stream, Z_FINISH);
  const std::size_t produced = out.size() - stream.avail_out;
  inflateEnd(&stream);
  if ((rc != Z_STREAM_END && rc != Z_BUF_ERROR && rc != Z_OK) || produced < expected)
    return Fail(ErrorCode::kInvalidArgument, "a deflated frame is damaged or shorter than Rows x Columns");
  return out;
}

// One RLE Lossless frame (PS3.5 G): a 64-byte header of segment offsets, then PackBits
// segments, most significant byte first. Used where DCMTK's decoder stops (1-bit data).
Result<std::string> DecodeRleFrame(std::string_view frame, std::size_t segment_bytes, int segments) {
  if (frame.size() < 64) return Fail(ErrorCode::kInvalidArgument, "an RLE frame is shorter than its header");
  auto u32 = [&](size_t at) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(frame[at])) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(frame[at + 1])) << 8 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(frame[at + 2])) << 16 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(frame[at + 3])) << 24;
  };
  if (static_cast<int>(u32(0)) != segments)
    return Fail(ErrorCode::kInvalidArgument, "an RLE frame has an unexpected number of segments");
  std::string out(segment_bytes * segments, '\0');
  for (int s = 0; s < segments; ++s) {
    const std::size_t begin = u32(4 + 4 * s);
    const std::size_t end = s + 1 < segments ? u32(8 + 4 * s) : frame.size();
    if (begin < 64 || begin > end || end > frame.size()) return Fail(ErrorCode::kInvalidArgument, "an RLE offset is bad");
    std::size_t in = begin, produced = 0;
    // Segments are interleaved by byte significance: segment s is byte s of each sample.
    auto put = [&](char c) {
      if (produced < segment_bytes) out[produced * segments + (segments - 1 - s)] = c;
      ++produced;
    };
    while (in < end && produced < segment_bytes) {
      const auto n = static_cast<signed char>(frame[in++]);
      if (n >= 0) {
        for (int i = 0; i <= n && in < end; ++i) put(frame[in++]);
      } else if (n != -128 && in < end) {
        const char c = frame[in++];
        for (int i = 0; i < 1 - n; ++i) put(c);
      }
    }
    if (produced < segment_bytes) return Fail(ErrorCode::kInvalidArgument, "an RLE segment is shorter than its frame");
  }
  return out;
}

// Frames compressed one by one (deflate, or RLE where DCMTK cannot), decoded here into
// native samples; 1-bit frames come back unpacked, a byte per pixel.
Result<DecodedPixels> DecodeFramewise(const std::shared_ptr<LoadedFile>& loaded, PixelLayout layout, bool rle) {
  auto frames = EncapsulatedFrameBytes(*loaded->dataset, loaded->xfer, layout.frames);
  if (!frames) return std::unexpected(frames.error());
  const std::int64_t pixels = layout.rows * layout.columns;
  const int sample_bytes = layout.bits_allocated == 16 ? 2 : 1;
  const std::size_t frame_bytes =
      layout.bits_allocated == 1 ? static_cast<std::size_t>((pixels + 7) / 8) : static_cast<std::size_t>(pixels * sample_bytes);
  const std::size_t out_frame = static_cast<std::size_t>(pixels * sample_bytes);
  auto buffer = std::make_shared<std::vector<std::uint8_t>>(out_frame * layout.frames);
  for (std::int64_t f = 0; f < layout.frames; ++f) {
    auto raw = rle ? DecodeRleFrame((*frames)[f], layout.bits_allocated == 16 ? pixels : frame_bytes, sample_bytes)
                   : InflateRaw((*frames)[f], frame_bytes);
    if (!raw) return std::unexpected(raw.error());
    std::uint8_t* out = buffer->data() + f * out_frame;
    if (layout.bits_allocated == 1) {
      for (std::int64_t i = 0; i < pixels; ++i) out[i] = (static_cast<std::uint8_t>((*raw)[i >> 3]) >> (i & 7)) & 1u;
    } else {
      std::memcpy(out, raw->data(), out_frame);
    }
  }
  DecodedPixels decoded;
  decoded.layout = layout;
  for (std::int64_t f = 0; f < layout.frames; ++f) decoded.frame_data.push_back(buffer->data() + f * out_frame);
  decoded.owner = buffer;
  return decoded;
}

Result<DecodedPixels> DecodeJ2kFrames(const std::shared_ptr<LoadedFile>& loaded, PixelLayout layout) {
  auto frames = EncapsulatedFrameBytes(*loaded->dataset, loaded->xfer, layout.frames);
  if (!frames) return std::unexpected(frames.error());
  const std::int64_t pixels = layout.rows * layout.columns;
  // Decoded into 16-bit (or 8-bit) native samples, like DCMTK's own codecs do.
  const int bytes = layout.bits_allocated <= 8 ? 1 : 2;
  auto buffer = std::make_shared<std::vector<std::uint8_t>>(static_cast<size_t>(pixels * bytes * layout.frames));
  for (std::int64_t f = 0; f < layout.frames; ++f) {
    auto image = DecodeJ2k((*frames)[f], kMaxFramePixels);
    if (!image) return std::unexpected(image.error());
    if (image->width != layout.columns || image->height != layout.rows)
      return Fail(ErrorCode::kInvalidArgument, "a JPEG 2000 frame's size differs from Rows and Columns");
    std::uint8_t* out = buffer->data() + f * pixels * bytes;
    for (std::int64_t i = 0; i < pixels; ++i) {
      const std::int32_t v = image->samples[i];
      if (bytes == 1) {
        out[i] = static_cast<std::uint8_t>(v);
      } else {
        const auto u = static_cast<std::uint16_t>(v);
        std::memcpy(out + 2 * i, &u, 2);
      }
    }
  }
  DecodedPixels decoded;
  decoded.layout = layout;
  for (std::int64_t f = 0; f < layout.frames; ++f) decoded.frame_data.push_back(buffer->data() + f * pixels * bytes);
  decoded.owner = buffer;
  return decoded;
}

Error Implausible(const std::string& what) { return Error{ErrorCode::kUnprocessable, what, {}}; }

}  // namespace

std::int32_t DecodedPixels::Sample(std::int64_t f, std::int64_t i) const {
  const std::uint8_t* data = frame_data[f];
  std::uint32_t raw = 0;
  switch (layout.bits_allocated) {
    case 1:
    case 8:
      raw = data[i];
      break;
    default: {
      std::uint16_t v;
      std::memcpy(&v, data + 2 * i, 2);
      raw = v;
    }
  }
  if (layout.bits_allocated == 1) return static_cast<std::int32_t>(raw);
  const int bits = layout.bits_stored;
  raw &= bits >= 32 ? 0xFFFFFFFFu : ((1u << bits) - 1);
  if (layout.is_signed && (raw & (1u << (bits - 1)))) return static_cast<std::int32_t>(raw) - (1 << bits);
  return static_cast<std::int32_t>(raw);
}

Result<ImageLayout> ReadImageLayout(DcmItem& ds) {
  ImageLayout layout;
  Uint16 rows = 0, columns = 0;
  if (ds.findAndGetUint16(DCM_Rows, rows).bad() || ds.findAndGetUint16(DCM_Columns, columns).bad() || rows == 0 ||
      columns == 0)
    return std::unexpected(Implausible("Rows and Columns must be present, non-zero and of VR US"));
  layout.rows = rows;
  layout.columns = columns;
  layout.samples = GetLong(ds, DCM_SamplesPerPixel, 1);
  if (layout.samples < 1 || layout.samples > 4)
    return std::unexpected(Implausible("SamplesPerPixel " + std::to_string(layout.samples) + " is not 1 to 4"));
  layout.frames = GetLong(ds, DCM_NumberOfFrames, 1);
  if (layout.frames < 1 || layout.frames > kMaxFrames)
    return std::unexpected(Implausible("NumberOfFrames " + std::to_string(layout.frames) + " is not 1 to " +
                                       std::to_string(kMaxFrames)));
  layout.bits_allocated = static_cast<int>(GetLong(ds, DCM_BitsAllocated, 16));
  const int bits = layout.bits_allocated;
  if (bits != 1 && bits != 8 && bits != 16 && bits != 32 && bits != 64)
    return std::unexpected(Implausible("BitsAllocated " + std::to_string(bits) + " is not 1, 8, 16, 32 or 64"));
  if (!ProductWithin({layout.rows, layout.columns}, kMaxFramePixels))
    return std::unexpected(Implausible("a frame of " + std::to_string(layout.columns) + "x" + std::to_string(layout.rows) +
                                       " pixels is larger than any image voxelgate reads"));
  layout.frame_bits = *ProductWithin({layout.rows, layout.columns, layout.samples, bits}, UINT64_MAX);
  const std::int64_t sample_bytes = std::max(1, bits / 8);
  auto decoded = ProductWithin({layout.rows, layout.columns, layout.samples, sample_bytes, layout.frames}, kMaxDecodedBytes);
  if (!decoded)
    return std::unexpected(Error{ErrorCode::kTooLarge,
                                 "the instance's frames decode to more than " + std::to_string(kMaxDecodedBytes >> 20) +
                                     " MiB, more than voxelgate decodes of one instance",
                                 {}});
  layout.decoded_bytes = *decoded;
  return layout;
}

Result<std::vector<std::pair<unsigned long, unsigned long>>> FrameFragments(DcmPixelSequence& sequence,
                                                                            std::int64_t count) {
  const unsigned long items = sequence.card();
  if (items < 2) return Fail(ErrorCode::kInvalidArgument, "encapsulated pixel data has no fragments");
  std::vector<std::pair<unsigned long, unsigned long>> ranges;
  if (count == 1) {
    ranges.emplace_back(1, items);
    return ranges;
  }
  if (static_cast<std::int64_t>(items - 1) == count) {
    for (unsigned long i = 1; i < items; ++i) ranges.emplace_back(i, i + 1);
    return ranges;
  }
  DcmPixelItem* table = nullptr;
  sequence.getItem(table, 0);
  if (!table || table->getLength() < 4 * static_cast<unsigned long>(count))
    return Fail(ErrorCode::kUnsupported, "frames of this compressed instance cannot be separated (no offset table)");
  Uint8* raw = nullptr;
  table->getUint8Array(raw);
  std::vector<Uint32> offsets(count);
  for (std::int64_t i = 0; i < count; ++i)
    offsets[i] = raw[4 * i] | (raw[4 * i + 1] << 8) | (raw[4 * i + 2] << 16) | (Uint32(raw[4 * i + 3]) << 24);
  // Each fragment's byte offset after the offset table.
  std::vector<Uint32> starts;
  Uint32 position = 0;
  for (unsigned long i = 1; i < items; ++i) {
    starts.push_back(position);
    DcmPixelItem* item = nullptr;
    sequence.getItem(item, i);
    position += 8 + item->getLength();
  }
  for (std::int64_t f = 0; f < count; ++f) {
    auto first = std::find(starts.begin(), starts.end(), offsets[f]);
    const Uint32 end = f + 1 < count ? offsets[f + 1] : position;
    auto last = end == position ? starts.end() : std::find(starts.begin(), starts.end(), end);
    if (first == starts.end() || last < first)
      return Fail(ErrorCode::kInvalidArgument, "the basic offset table is inconsistent");
    ranges.emplace_back(1 + (first - starts.begin()), 1 + (last - starts.begin()));
  }
  return ranges;
}

Result<std::vector<std::string>> EncapsulatedFrameBytes(DcmDataset& dataset, E_TransferSyntax xfer,
                                                        std::int64_t count) {
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, element).bad() || !element)
    return Fail(ErrorCode::kInvalidArgument, "the instance has no pixel data");
  DcmPixelSequence* sequence = nullptr;
  if (static_cast<DcmPixelData*>(element)->getEncapsulatedRepresentation(xfer, nullptr, sequence).bad() || !sequence)
    return Fail(ErrorCode::kInvalidArgument, "the compressed pixel data cannot be read");
  auto ranges = FrameFragments(*sequence, count);
  if (!ranges) return std::unexpected(ranges.error());
  std::vector<std::string> out;
  for (const auto& [first, last] : *ranges) {
    std::string bytes;
    for (unsigned long i = first; i < last; ++i) {
      DcmPixelItem* item = nullptr;
      sequence->getItem(item, i);
      Uint8* raw = nullptr;
      if (item) item->getUint8Array(raw);
      if (raw) bytes.append(reinterpret_cast<const char*>(raw), item->getLength());
    }
    out.push_back(std::move(bytes));
  }
  return out;
}

Result<DecodedPixels> DecodeFrames(std::shared_ptr<LoadedFile> loaded) {
  DcmDataset& ds = *loaded->dataset;
  if (!ds.tagExists(DCM_PixelData)) return Fail(ErrorCode::kInvalidArgument, "the instance has no pixel data");
  auto image = ReadImageLayout(ds);
  if (!image) return std::unexpected(image.error());
  PixelLayout layout;
  layout.rows = image->rows;
  layout.columns = image->columns;
  layout.frames = image->frames;
  layout.bits_allocated = image->bits_allocated;
  layout.bits_stored = static_cast<int>(GetLong(ds, DCM_BitsStored, layout.bits_allocated));
  layout.is_signed = GetLong(ds, DCM_PixelRepresentation, 0) == 1;
  if (image->samples != 1)
    return Fail(ErrorCode::kUnsupported, "colour images (more than one sample per pixel) cannot be a volume");
  if (layout.bits_allocated != 1 && layout.bits_allocated != 8 && layout.bits_allocated != 16)
    return Fail(ErrorCode::kUnsupported,
                "pixels of " + std::to_string(layout.bits_allocated) + " bits allocated are not read into volumes");
  if (layout.bits_stored < 1 || layout.bits_stored > layout.bits_allocated) layout.bits_stored = layout.bits_allocated;

  const std::string& ts = loaded->transfer_syntax_uid;
  if (ts == kDeflatedImageFrame) return DecodeFramewise(loaded, layout, /*rle=*/false);
  if (ts == kRleLossless && layout.bits_allocated == 1) return DecodeFramewise(loaded, layout, /*rle=*/true);
  if (DcmXfer(loaded->xfer).isEncapsulated()) {
    if (IsJ2kTransferSyntax(ts)) return DecodeJ2kFrames(loaded, layout);
    if (ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad() || !ds.canWriteXfer(EXS_LittleEndianExplicit))
      return Fail(ErrorCode::kUnsupported,
                  std::string("pixel data in ") + DcmXfer(loaded->xfer).getXferName() + " cannot be decoded");
  }
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad() || !element)
    return Fail(ErrorCode::kInvalidArgument, "the instance has no pixel data");
  const std::uint8_t* data = nullptr;
  if (layout.bits_allocated == 16) {
    Uint16* words = nullptr;
    if (element->getUint16Array(words).bad() || !words) return Fail(ErrorCode::kInvalidArgument, "cannot read the pixel data");
    data = reinterpret_cast<const std::uint8_t*>(words);
  } else {
    Uint8* bytes = nullptr;
    if (element->getUint8Array(bytes).bad() || !bytes) {
      Uint16* words = nullptr;  // OW-encoded 8-bit data
      if (element->getUint16Array(words).bad() || !words) return Fail(ErrorCode::kInvalidArgument, "cannot read the pixel data");
      bytes = reinterpret_cast<Uint8*>(words);
    }
    data = bytes;
  }
  const std::int64_t pixels = layout.rows * layout.columns;
  const std::uint64_t needed_bits = image->frame_bits * static_cast<std::uint64_t>(layout.frames);  // < 2^37: checked
  if (std::uint64_t{element->getLength()} * 8 < needed_bits)
    return Fail(ErrorCode::kInvalidArgument, "pixel data is shorter than Rows x Columns x NumberOfFrames");

  DecodedPixels decoded;
  decoded.layout = layout;
  if (layout.bits_allocated == 1) {
    auto unpacked = UnpackBits(data, pixels * layout.frames);
    for (std::int64_t f = 0; f < layout.frames; ++f) decoded.frame_data.push_back(unpacked->data() + f * pixels);
    decoded.owner = unpacked;
    return decoded;
  }
  const std::int64_t frame_bytes = pixels * layout.bits_allocated / 8;
  for (std::int64_t f = 0; f < layout.frames; ++f) decoded.frame_data.push_back(data + f * frame_bytes);
  decoded.owner = loaded;
  return decoded;
}

}  // namespace vg::dicom
