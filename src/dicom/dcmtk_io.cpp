#include "dicom/dcmtk_io.h"

#include <dcmtk/dcmdata/dcistrmb.h>

namespace vg::dicom {

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  return std::string(value.c_str(), value.length());
}

OFCondition ReadPart10(std::string_view bytes, DcmFileFormat& file, bool* consumed_all) {
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  file.transferInit();
  OFCondition cond = file.read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  file.transferEnd();
  if (consumed_all) *consumed_all = stream.eos() && stream.avail() == 0;
  return cond;
}

Result<LoadedFile> LoadFromMemory(std::string_view bytes) {
  if (bytes.size() < 132) return Fail(ErrorCode::kInvalidArgument, "not a DICOM file: too short");
  if (bytes.substr(128, 4) != "DICM")
    return Fail(ErrorCode::kInvalidArgument, "not a DICOM Part 10 file: no DICM prefix at offset 128");
  LoadedFile loaded;
  loaded.file = std::make_unique<DcmFileFormat>();
  bool consumed_all = false;
  OFCondition cond = ReadPart10(bytes, *loaded.file, &consumed_all);
  if (cond.bad()) return Fail(ErrorCode::kInvalidArgument, std::string("cannot parse DICOM: ") + cond.text());
  // A read that stopped early leaves bytes behind: the element lengths did not add up.
  if (!consumed_all) return Fail(ErrorCode::kInvalidArgument, "cannot parse DICOM: trailing or truncated data");
  loaded.dataset = loaded.file->getDataset();
  OFString ts;
  loaded.file->getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts);
  loaded.transfer_syntax_uid = ts.c_str();
  loaded.xfer = loaded.dataset->getOriginalXfer();
  return loaded;
}

}  // namespace vg::dicom
