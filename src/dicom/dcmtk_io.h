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

// Every read below first passes the structure check (dicom/structure_check.h) with the
// process's limits: nesting deeper than DCMTK's recursion can take, or a deflated data
// set that inflates past the ceiling, is refused before DCMTK sees the data set.

// Reads a Part 10 file (DICM at offset 128) whose element lengths add up exactly.
Result<LoadedFile> LoadFromMemory(std::string_view bytes);

// DCMTK's read of a Part 10 file from memory, as is: errors are not interpreted, so a
// caller can also look at what a damaged file yielded (a file the structure check
// refuses yields its meta group only). `consumed_all` tells whether the read used every
// byte.
OFCondition ReadPart10(std::string_view bytes, DcmFileFormat& file, bool* consumed_all = nullptr);

std::string GetString(DcmItem& item, const DcmTagKey& tag);
// An integer element's value, or `fallback` when absent or unreadable.
std::int64_t GetLong(DcmItem& item, const DcmTagKey& tag, std::int64_t fallback);

// A Part 10 file (preamble, DICM, a meta header brought up to date with the dataset) of
// `file` in `xfer` (by default Explicit VR Little Endian; a compressed dataset is written
// in the syntax it holds). Retired group lengths are left out.
Result<std::string> WriteFileToString(DcmFileFormat& file, E_TransferSyntax xfer = EXS_LittleEndianExplicit);

}  // namespace vg::dicom
