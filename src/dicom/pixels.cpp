#include "dicom/pixels.h"

#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>

#include <algorithm>
#include <cstring>

#include "dicom/j2k.h"

namespace vg::dicom {
namespace {

// Beyond any real scanner: refuse before allocating.
constexpr std::int64_t kMaxFramePixels = 16384ll * 16384;

// 1-bit frames are packed without padding between frames: unpack to a byte per pixel.
std::shared_ptr<std::vector<std::uint8_t>> UnpackBits(const std::uint8_t* data, std::int64_t pixels) {
  auto out = std::make_shared<std::vector<std::uint8_t>>(pixels);
  for (std::int64_t i = 0; i < pixels; ++i) (*out)[i] = (data[i >> 3] >> (i & 7)) & 1u;
  return out;
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

Result<std::vector<std::string>> EncapsulatedFrameBytes(DcmDataset& dataset, E_TransferSyntax xfer,
                                                        std::int64_t count) {
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, element).bad() || !element)
    return Fail(ErrorCode::kInvalidArgument, "the instance has no pixel data");
  DcmPixelSequence* sequence = nullptr;
  if (static_cast<DcmPixelData*>(element)->getEncapsulatedRepresentation(xfer, nullptr, sequence).bad() || !sequence)
    return Fail(ErrorCode::kInvalidArgument, "the compressed pixel data cannot be read");
  const unsigned long items = sequence->card();
  if (items < 2) return Fail(ErrorCode::kInvalidArgument, "encapsulated pixel data has no fragments");
  auto fragment = [&](unsigned long i) {
    DcmPixelItem* item = nullptr;
    sequence->getItem(item, i);
    Uint8* raw = nullptr;
    if (item) item->getUint8Array(raw);
    return raw ? std::string(reinterpret_cast<const char*>(raw), item->getLength()) : std::string();
  };
  std::vector<std::string> out;
  const unsigned long fragments = items - 1;
  if (count == 1) {
    std::string all;
    for (unsigned long i = 1; i < items; ++i) all += fragment(i);
    out.push_back(std::move(all));
    return out;
  }
  if (static_cast<std::int64_t>(fragments) == count) {
    for (unsigned long i = 1; i < items; ++i) out.push_back(fragment(i));
    return out;
  }
  DcmPixelItem* table = nullptr;
  sequence->getItem(table, 0);
  if (!table || table->getLength() < 4 * static_cast<unsigned long>(count))
    return Fail(ErrorCode::kUnsupported, "frames of this compressed instance cannot be separated (no offset table)");
  Uint8* raw = nullptr;
  table->getUint8Array(raw);
  std::vector<Uint32> offsets(count);
  for (std::int64_t i = 0; i < count; ++i)
    offsets[i] = raw[4 * i] | (raw[4 * i + 1] << 8) | (raw[4 * i + 2] << 16) | (Uint32(raw[4 * i + 3]) << 24);
  std::vector<Uint32> starts;
  Uint32 position = 0;
  for (unsigned long i = 1; i < items; ++i) {
    starts.push_back(position);
    DcmPixelItem* item = nullptr;
    sequence->getItem(item, i);
    position += 8 + item->getLength();
  }
  for (std::int64_t f = 0; f < count; ++f) {
    auto first = std::find(starts.begin(), starts.end(), offsets[f]);
    const Uint32 end = f + 1 < count ? offsets[f + 1] : position;
    auto last = end == position ? starts.end() : std::find(starts.begin(), starts.end(), end);
    if (first == starts.end() || last < first)
      return Fail(ErrorCode::kInvalidArgument, "the basic offset table is inconsistent");
    std::string bytes;
    for (auto it = first; it != last; ++it) bytes += fragment(1 + (it - starts.begin()));
    out.push_back(std::move(bytes));
  }
  return out;
}

Result<DecodedPixels> DecodeFrames(std::shared_ptr<LoadedFile> loaded) {
  DcmDataset& ds = *loaded->dataset;
  if (!ds.tagExists(DCM_PixelData)) return Fail(ErrorCode::kInvalidArgument, "the instance has no pixel data");
  PixelLayout layout;
  layout.rows = GetLong(ds, DCM_Rows, 0);
  layout.columns = GetLong(ds, DCM_Columns, 0);
  layout.frames = GetLong(ds, DCM_NumberOfFrames, 1);
  layout.bits_allocated = static_cast<int>(GetLong(ds, DCM_BitsAllocated, 0));
  layout.bits_stored = static_cast<int>(GetLong(ds, DCM_BitsStored, layout.bits_allocated));
  layout.is_signed = GetLong(ds, DCM_PixelRepresentation, 0) == 1;
  if (GetLong(ds, DCM_SamplesPerPixel, 1) != 1)
    return Fail(ErrorCode::kUnsupported, "colour images (more than one sample per pixel) cannot be a volume");
  if (layout.rows <= 0 || layout.columns <= 0 || layout.frames <= 0 || layout.rows * layout.columns > kMaxFramePixels)
    return Fail(ErrorCode::kInvalidArgument, "Rows, Columns or NumberOfFrames is missing or implausible");
  if (layout.bits_allocated != 1 && layout.bits_allocated != 8 && layout.bits_allocated != 16)
    return Fail(ErrorCode::kUnsupported,
                "pixels of " + std::to_string(layout.bits_allocated) + " bits allocated are not read into volumes");
  if (layout.bits_stored < 1 || layout.bits_stored > layout.bits_allocated) layout.bits_stored = layout.bits_allocated;

  if (DcmXfer(loaded->xfer).isEncapsulated()) {
    if (IsJ2kTransferSyntax(loaded->transfer_syntax_uid)) return DecodeJ2kFrames(loaded, layout);
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
  const std::int64_t needed_bits = pixels * layout.frames * layout.bits_allocated;
  if (static_cast<std::int64_t>(element->getLength()) * 8 < needed_bits)
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
