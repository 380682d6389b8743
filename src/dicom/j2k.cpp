#include "dicom/j2k.h"

#include <openjpeg.h>

#include <cstring>
#include <memory>

namespace vg::dicom {
namespace {

struct MemoryStream {
  std::string_view data;
  OPJ_SIZE_T offset = 0;
};

OPJ_SIZE_T ReadCallback(void* buffer, OPJ_SIZE_T bytes, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (s->offset >= s->data.size()) return static_cast<OPJ_SIZE_T>(-1);
  OPJ_SIZE_T n = std::min(bytes, s->data.size() - s->offset);
  std::memcpy(buffer, s->data.data() + s->offset, n);
  s->offset += n;
  return n;
}

OPJ_OFF_T SkipCallback(OPJ_OFF_T bytes, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (bytes < 0) return -1;
  OPJ_SIZE_T n = std::min<OPJ_SIZE_T>(static_cast<OPJ_SIZE_T>(bytes), s->data.size() - s->offset);
  s->offset += n;
  return static_cast<OPJ_OFF_T>(n);
}

OPJ_BOOL SeekCallback(OPJ_OFF_T position, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (position < 0 || static_cast<OPJ_SIZE_T>(position) > s->data.size()) return OPJ_FALSE;
  s->offset = static_cast<OPJ_SIZE_T>(position);
  return OPJ_TRUE;
}

void Quiet(const char*, void*) {}

}  // namespace

bool IsJ2kTransferSyntax(std::string_view uid) {
  return uid == "1.2.840.10008.1.2.4.90" || uid == "1.2.840.10008.1.2.4.91" ||  // JPEG 2000
         uid == "1.2.840.10008.1.2.4.201" || uid == "1.2.840.10008.1.2.4.202" ||  // HTJ2K
         uid == "1.2.840.10008.1.2.4.203";
}

Result<J2kImage> DecodeJ2k(std::string_view codestream, std::int64_t max_pixels) {
  if (codestream.size() < 12) return Fail(ErrorCode::kInvalidArgument, "JPEG 2000 frame is too short");
  // A raw codestream starts with SOC+SIZ (FF4F FF51); anything else is taken for a JP2 file.
  const bool raw = static_cast<unsigned char>(codestream[0]) == 0xFF && static_cast<unsigned char>(codestream[1]) == 0x4F;
  std::unique_ptr<opj_codec_t, decltype(&opj_destroy_codec)> codec(
      opj_create_decompress(raw ? OPJ_CODEC_J2K : OPJ_CODEC_JP2), opj_destroy_codec);
  if (!codec) return Fail(ErrorCode::kInternal, "cannot create a JPEG 2000 decoder");
  opj_set_info_handler(codec.get(), Quiet, nullptr);
  opj_set_warning_handler(codec.get(), Quiet, nullptr);
  opj_set_error_handler(codec.get(), Quiet, nullptr);
  opj_dparameters_t parameters;
  opj_set_default_decoder_parameters(&parameters);
  if (!opj_setup_decoder(codec.get(), &parameters)) return Fail(ErrorCode::kInternal, "cannot set up JPEG 2000 decoding");

  MemoryStream memory{codestream, 0};
  std::unique_ptr<opj_stream_t, decltype(&opj_stream_destroy)> stream(opj_stream_create(64 * 1024, OPJ_TRUE),
                                                                       opj_stream_destroy);
  opj_stream_set_user_data(stream.get(), &memory, nullptr);
  opj_stream_set_user_data_length(stream.get(), codestream.size());
  opj_stream_set_read_function(stream.get(), ReadCallback);
  opj_stream_set_skip_function(stream.get(), SkipCallback);
  opj_stream_set_seek_function(stream.get(), SeekCallback);

  opj_image_t* raw_image = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw_image) || !raw_image)
    return Fail(ErrorCode::kInvalidArgument, "cannot read the JPEG 2000 header: the frame is damaged");
  std::unique_ptr<opj_image_t, decltype(&opj_image_destroy)> image(raw_image, opj_image_destroy);
  if (image->numcomps != 1) return Fail(ErrorCode::kUnsupported, "colour JPEG 2000 images are not decoded into volumes");
  const std::int64_t width = image->x1 - image->x0, height = image->y1 - image->y0;
  if (width <= 0 || height <= 0 || width * height > max_pixels)
    return Fail(ErrorCode::kInvalidArgument, "JPEG 2000 frame has implausible dimensions");
  if (!opj_decode(codec.get(), stream.get(), image.get()) || !opj_end_decompress(codec.get(), stream.get()))
    return Fail(ErrorCode::kInvalidArgument, "cannot decode the JPEG 2000 frame: the data is damaged or truncated");
  const opj_image_comp_t& comp = image->comps[0];
  if (!comp.data || static_cast<std::int64_t>(comp.w) * comp.h != width * height)
    return Fail(ErrorCode::kInvalidArgument, "the JPEG 2000 frame decoded to an unexpected size");
  J2kImage out;
  out.width = width;
  out.height = height;
  out.precision = static_cast<int>(comp.prec);
  out.is_signed = comp.sgnd != 0;
  out.samples.assign(comp.data, comp.data + width * height);
  return out;
}

}  // namespace vg::dicom
