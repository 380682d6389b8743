// Reading a DCMTK dataset from memory: private to the DCMTK wrappers (dicom/, dimse/).
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

// Reads a Part 10 file (DICM at offset 128) whose element lengths add up exactly.
Result<LoadedFile> LoadFromMemory(std::string_view bytes);

// DCMTK's read of a Part 10 file from memory, as is: errors are not interpreted, so a
// caller can also look at what a damaged file yielded. `consumed_all` tells whether the
// read used every byte.
OFCondition ReadPart10(std::string_view bytes, DcmFileFormat& file, bool* consumed_all = nullptr);

std::string GetString(DcmItem& item, const DcmTagKey& tag);
// An integer element's value, or `fallback` when absent or unreadable.
std::int64_t GetLong(DcmItem& item, const DcmTagKey& tag, std::int64_t fallback);

// A Part 10 file (preamble, DICM, a meta header brought up to date with the dataset) of
// `file` in `xfer` (by default Explicit VR Little Endian; a compressed dataset is written
// in the syntax it holds). Retired group lengths are left out.
Result<std::string> WriteFileToString(DcmFileFormat& file, E_TransferSyntax xfer = EXS_LittleEndianExplicit);

}  // namespace vg::dicom
