#include "dicom/dcmtk_io.h"

#include <dcmtk/dcmdata/dcistrmb.h>

namespace vg::dicom {

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  return std::string(value.c_str(), value.length());
}

Result<LoadedFile> LoadFromMemory(std::string_view bytes, const std::string& fallback_transfer_syntax) {
  const bool part10 = bytes.size() >= 132 && bytes.substr(128, 4) == "DICM";
  if (!part10 && fallback_transfer_syntax.empty()) {
    if (bytes.size() < 132) return Fail(ErrorCode::kInvalidArgument, "not a DICOM file: too short");
    return Fail(ErrorCode::kInvalidArgument, "not a DICOM Part 10 file: no DICM prefix at offset 128");
  }
  LoadedFile loaded;
  loaded.file = std::make_unique<DcmFileFormat>();
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  OFCondition cond;
  if (part10) {
    loaded.file->transferInit();
    cond = loaded.file->read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    loaded.file->transferEnd();
  } else {
    DcmXfer xfer(fallback_transfer_syntax.c_str());
    if (xfer.getXfer() == EXS_Unknown)
      return Fail(ErrorCode::kInvalidArgument, "unknown transfer syntax " + fallback_transfer_syntax);
    DcmDataset* dataset = loaded.file->getDataset();
    dataset->transferInit();
    cond = dataset->read(stream, xfer.getXfer(), EGL_noChange, DCM_MaxReadLength);
    dataset->transferEnd();
  }
  if (cond.bad()) return Fail(ErrorCode::kInvalidArgument, std::string("cannot parse DICOM: ") + cond.text());
  // A read that stopped early leaves bytes behind: the element lengths did not add up.
  if (!stream.eos() || stream.avail() != 0)
    return Fail(ErrorCode::kInvalidArgument, "cannot parse DICOM: trailing or truncated data");
  loaded.dataset = loaded.file->getDataset();
  if (part10) {
    OFString ts;
    loaded.file->getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts);
    loaded.transfer_syntax_uid = ts.c_str();
  } else {
    loaded.transfer_syntax_uid = fallback_transfer_syntax;
  }
  loaded.xfer = loaded.dataset->getOriginalXfer();
  return loaded;
}

}  // namespace vg::dicom
