#include <dcmtk/dcmimage/diregist.h>
#include <dcmtk/dcmimage/dipipng.h>
#include <dcmtk/dcmimgle/dcmimage.h>
#include <dcmtk/dcmjpeg/dipijpeg.h>

#include <cstdio>

#include "dicom/dcmtk_io.h"
#include "dicom/dicom.h"

namespace vg::dicom {

Result<std::string> RenderFrame(std::string_view file, const RenderOptions& options) {
  auto loaded = LoadFromMemory(file);
  if (!loaded) return std::unexpected(loaded.error());
  if (!loaded->dataset->tagExists(DCM_PixelData)) return Fail(ErrorCode::kNotFound, "the instance has no pixel data");
  DicomImage image(loaded->file.get(), loaded->xfer, CIF_UsePartialAccessToPixelData,
                   static_cast<unsigned long>(options.frame - 1), 1);
  if (image.getStatus() != EIS_Normal)
    return Fail(ErrorCode::kUnsupported, std::string("cannot render this image: ") +
                                             DicomImage::getString(image.getStatus()));
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
