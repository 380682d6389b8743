#include <dcmtk/dcmimage/diregist.h>
#include <dcmtk/dcmimage/dipipng.h>
#include <dcmtk/dcmimgle/dcmimage.h>
#include <dcmtk/dcmjpeg/dipijpeg.h>

#include <cstdio>

#include "dicom/dcmtk_io.h"
#include "dicom/dicom.h"
#include "dicom/pixels.h"

namespace vg::dicom {
namespace {

// One grey frame decoded by our own decoders (JPEG 2000, HTJ2K: DCMTK has no codec for
// them) as a small uncompressed dataset DicomImage can render: the pixel module, the
// modality LUT and the windows of the original, and the frame.
Result<std::unique_ptr<DcmDataset>> DecodedFrameDataset(std::string_view file, std::int64_t frame) {
  auto loaded = LoadFromMemory(file);
  if (!loaded) return std::unexpected(loaded.error());
  auto shared = std::make_shared<LoadedFile>(std::move(*loaded));
  DcmDataset& source = *shared->dataset;
  auto out = std::make_unique<DcmDataset>();
  for (const DcmTagKey& tag : {DCM_SamplesPerPixel, DCM_PhotometricInterpretation, DCM_RescaleSlope, DCM_RescaleIntercept,
                               DCM_RescaleType, DCM_WindowCenter, DCM_WindowWidth, DCM_VOILUTFunction,
                               DCM_PixelSpacing, DCM_ImagerPixelSpacing}) {
    DcmElement* element = nullptr;
    if (source.findAndGetElement(tag, element).good() && element)
      out->insert(static_cast<DcmElement*>(element->clone()), true);
  }
  auto decoded = DecodeFrames(shared);
  if (!decoded) return std::unexpected(decoded.error());
  const PixelLayout& l = decoded->layout;
  if (frame < 1 || frame > static_cast<std::int64_t>(decoded->frame_data.size()))
    return Fail(ErrorCode::kNotFound, "no such frame");
  const std::uint8_t* data = decoded->frame_data[frame - 1];
  const unsigned long samples = static_cast<unsigned long>(l.rows * l.columns);
  out->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(l.rows));
  out->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(l.columns));
  out->putAndInsertUint16(DCM_BitsAllocated, static_cast<Uint16>(l.bits_allocated));
  out->putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(l.bits_stored));
  out->putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(l.bits_stored - 1));
  out->putAndInsertUint16(DCM_PixelRepresentation, l.is_signed ? 1 : 0);
  if (!out->tagExists(DCM_SamplesPerPixel)) out->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  if (!out->tagExists(DCM_PhotometricInterpretation)) out->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  OFCondition put;
  if (l.bits_allocated == 8) put = out->putAndInsertUint8Array(DCM_PixelData, data, samples);
  else if (l.bits_allocated == 16) put = out->putAndInsertUint16Array(DCM_PixelData, reinterpret_cast<const Uint16*>(data), samples);
  else return Fail(ErrorCode::kUnsupported, "cannot render " + std::to_string(l.bits_allocated) + "-bit decoded frames");
  if (put.bad()) return Fail(ErrorCode::kInternal, "cannot render this image", put.text());
  return out;
}

}  // namespace

Result<std::string> RenderFrame(std::string_view file, const RenderOptions& options) {
  auto loaded = LoadFromMemory(file);
  if (!loaded) return std::unexpected(loaded.error());
  if (!loaded->dataset->tagExists(DCM_PixelData)) return Fail(ErrorCode::kNotFound, "the instance has no pixel data");
  // DicomImage sizes its buffers from these attributes: they are checked first.
  auto layout = ReadImageLayout(*loaded->dataset);
  if (!layout) return std::unexpected(layout.error());
  if (options.frame < 1 || options.frame > layout->frames) return Fail(ErrorCode::kNotFound, "no such frame");
  std::unique_ptr<DcmDataset> decoded_frame;  // outlives the image made from it
  auto owned = std::make_unique<DicomImage>(loaded->file.get(), loaded->xfer, CIF_UsePartialAccessToPixelData,
                                            static_cast<unsigned long>(options.frame - 1), 1);
  if (owned->getStatus() != EIS_Normal) {
    // Perhaps a compression DCMTK cannot decode but we can (JPEG 2000).
    const std::string why = DicomImage::getString(owned->getStatus());
    auto decoded = DecodedFrameDataset(file, options.frame);
    if (!decoded) return Fail(ErrorCode::kUnsupported, "cannot render this image: " + why);
    decoded_frame = std::move(*decoded);
    owned = std::make_unique<DicomImage>(decoded_frame.get(), EXS_LittleEndianExplicit, CIF_MayDetachPixelData);
    if (owned->getStatus() != EIS_Normal)
      return Fail(ErrorCode::kUnsupported, std::string("cannot render this image: ") +
                                               DicomImage::getString(owned->getStatus()));
  }
  DicomImage& image = *owned;
  if (image.isMonochrome()) {
    if (options.window_center && options.window_width)
      image.setWindow(*options.window_center, *options.window_width);
    else if (image.getWindowCount() > 0)
      image.setWindow(0);
    else
      image.setMinMaxWindow();
  }
  std::unique_ptr<DicomImage> scaled;
  DicomImage* target = &image;
  if (options.max_size > 0) {
    unsigned long w = image.getWidth(), h = image.getHeight();
    if (w > static_cast<unsigned long>(options.max_size) || h > static_cast<unsigned long>(options.max_size)) {
      double scale = static_cast<double>(options.max_size) / static_cast<double>(std::max(w, h));
      scaled.reset(image.createScaledImage(std::max(1ul, static_cast<unsigned long>(w * scale)),
                                           std::max(1ul, static_cast<unsigned long>(h * scale)), 1 /*interpolate*/));
      if (scaled) target = scaled.get();
    }
  }
  char* buffer = nullptr;
  size_t size = 0;
  FILE* stream = open_memstream(&buffer, &size);
  if (!stream) return Fail(ErrorCode::kInternal, "cannot render", "open_memstream failed");
  int ok = 0;
  if (options.format == ImageFormat::kJpeg) {
    DiJPEGPlugin plugin;
    plugin.setQuality(static_cast<unsigned int>(options.quality));
    plugin.setSampling(ESS_444);
    ok = target->writePluginFormat(&plugin, stream, 0);
  } else {
    DiPNGPlugin plugin;
    plugin.setInterlaceType(E_pngInterlaceNone);
    plugin.setMetainfoType(E_pngNoMetainfo);
    ok = target->writePluginFormat(&plugin, stream, 0);
  }
  std::fclose(stream);
  std::string out(buffer ? buffer : "", size);
  std::free(buffer);
  if (!ok || out.empty()) return Fail(ErrorCode::kInternal, "cannot render this image", "encoder failed");
  return out;
}

}  // namespace vg::dicom
