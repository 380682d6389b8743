// Private to dicom/: reading a DCMTK dataset from memory.
#pragma once

#include <dcmtk/dcmdata/dctk.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace vg::dicom {

struct LoadedFile {
  std::unique_ptr<DcmFileFormat> file;
  DcmDataset* dataset = nullptr;  // owned by `file`
  E_TransferSyntax xfer = EXS_Unknown;
  std::string transfer_syntax_uid;
};

// Reads a Part 10 file (DICM at offset 128), or a bare dataset when
// `fallback_transfer_syntax` names its encoding.
Result<LoadedFile> LoadFromMemory(std::string_view bytes, const std::string& fallback_transfer_syntax = {});

std::string GetString(DcmItem& item, const DcmTagKey& tag);

}  // namespace vg::dicom
