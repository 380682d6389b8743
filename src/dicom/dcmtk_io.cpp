#include "dicom/dcmtk_io.h"

#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrmb.h>

#include "dicom/structure_check.h"

namespace vg::dicom {

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  return std::string(value.c_str(), value.length());
}

namespace {

OFCondition ReadUnchecked(std::string_view bytes, DcmFileFormat& file, bool* consumed_all) {
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  file.transferInit();
  OFCondition cond = file.read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  file.transferEnd();
  if (consumed_all) *consumed_all = stream.eos() && stream.avail() == 0;
  return cond;
}

}  // namespace

OFCondition ReadPart10(std::string_view bytes, DcmFileFormat& file, bool* consumed_all) {
  const StructureLimits limits = DefaultStructureLimits();
  if (auto checked = CheckPart10Structure(bytes, limits); !checked) {
    // Only the meta group, when it passed: a caller that salvages what it can still
    // learns the file's identity.
    if (auto offset = Part10DatasetOffset(bytes, limits)) (void)ReadUnchecked(bytes.substr(0, *offset), file, nullptr);
    if (consumed_all) *consumed_all = false;
    return makeOFCondition(OFM_dcmdata, 900, OF_error, checked.error().public_message.c_str());
  }
  return ReadUnchecked(bytes, file, consumed_all);
}

std::int64_t GetLong(DcmItem& item, const DcmTagKey& tag, std::int64_t fallback) {
  long value = 0;
  if (item.findAndGetLongInt(tag, value).good()) return value;
  return fallback;
}

Result<std::string> WriteFileToString(DcmFileFormat& file, E_TransferSyntax xfer) {
  DcmDataset* dataset = file.getDataset();
  if (dataset->chooseRepresentation(xfer, nullptr).bad() || !dataset->canWriteXfer(xfer))
    return Fail(ErrorCode::kInternal, std::string("cannot encode the dataset in ") + DcmXfer(xfer).getXferName());
  // The exact size is known up front: one buffer, one pass.
  const Uint32 length = file.calcElementLength(xfer, EET_ExplicitLength);
  std::string buffer(static_cast<size_t>(length) + 132 + 8192, '\0');
  DcmOutputBufferStream stream(buffer.data(), buffer.size());
  file.transferInit();
  OFCondition cond = file.write(stream, xfer, EET_ExplicitLength, nullptr, EGL_withoutGL, EPD_noChange, 0, 0, 0,
                                EWM_updateMeta);
  file.transferEnd();
  if (cond.bad()) return Fail(ErrorCode::kInternal, "cannot encode the DICOM file", cond.text());
  stream.flush();  // a deflated dataset ends in the compressor until flushed
  void* data = nullptr;
  offile_off_t written = 0;
  stream.flushBuffer(data, written);
  buffer.resize(static_cast<size_t>(written));
  return buffer;
}

Result<LoadedFile> LoadFromMemory(std::string_view bytes) {
  if (bytes.size() < 132) return Fail(ErrorCode::kInvalidArgument, "not a DICOM file: too short");
  if (bytes.substr(128, 4) != "DICM")
    return Fail(ErrorCode::kInvalidArgument, "not a DICOM Part 10 file: no DICM prefix at offset 128");
  // Refused with its own reason (422 for nesting, 413 for a deflate bomb) before DCMTK
  // reads a byte of the data set.
  if (auto checked = CheckPart10Structure(bytes, DefaultStructureLimits()); !checked)
    return std::unexpected(checked.error());
  LoadedFile loaded;
  loaded.file = std::make_unique<DcmFileFormat>();
  bool consumed_all = false;
  OFCondition cond = ReadUnchecked(bytes, *loaded.file, &consumed_all);
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
