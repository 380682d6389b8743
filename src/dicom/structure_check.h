// Structure check: follows a DICOM data set's elements without building it, so that what
// DCMTK's recursive reader would choke on is refused first, with a reason.
//
// DCMTK 3.6.7 recurses once per sequence level (about 1.5 KiB of stack each) and has no
// limit of its own: 80 KiB of nested empty sequences exhaust a thread's 8 MiB stack and
// end the process. It also allocates an element's value by its declared length before
// reading it. The walker keeps its own stack on the heap, counts sequence levels, stops
// at `max_depth` (far above the dozen levels of real SR trees and RT structure sets), and
// refuses values that run past the data.
//
// It reads each element as DCMTK 3.6.7 does, with DCMTK's own VR table and dictionary, so
// the two cannot disagree on where an element ends or what is a sequence: the explicit
// VR decides the header (lower-case internal VRs such as "ox" included); in Implicit VR
// the dictionary's VR, private tags through their item's private creator; a sequence is
// SQ, or UN / an unknown VR of undefined length (read as Implicit VR Little Endian,
// CP-246); undefined-length pixel data is fragments, skipped; any other undefined length
// is refused (DCMTK fails on it too). Values are skipped, never copied.
//
// A Part 10 file's meta group must be conformant (PS3.10 7.1): a meta group DCMTK could
// read differently is refused. A transfer syntax DCMTK does not know, or none, is guessed
// from the data set's first element by DCMTK's own rule. Deflated Explicit VR
// Little Endian is inflated under `max_inflated_bytes` (a zip bomb is refused here) and
// walked.
//
// Plain logic on bytes (DCMTK's dictionary only). Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>
#include <string_view>

#include "core/result.h"

namespace vg::dicom {

struct StructureLimits {
  int max_depth = 64;                              // nested sequence levels
  std::uint64_t max_inflated_bytes = 256ull << 20;  // a deflated data set, inflated
};

struct DatasetEncoding {
  bool explicit_vr = true;
  bool big_endian = false;
};

// Walks a data set as its bytes arrive: Continue() with all the bytes so far (the same
// buffer, grown) goes on where the last call stopped, so a data set received in many
// fragments is walked once in all. Returns the deepest sequence level seen so far. Fails
// with kUnprocessable when the nesting passes the limit, kInvalidArgument when the
// structure cannot be followed, or, for a `complete` data set, when a length runs past the
// end of the bytes. Once failed it stays failed. Not thread-safe.
class DatasetWalker {
 public:
  DatasetWalker(DatasetEncoding encoding, StructureLimits limits, bool complete);
  ~DatasetWalker();
  DatasetWalker(const DatasetWalker&) = delete;
  DatasetWalker& operator=(const DatasetWalker&) = delete;
  Result<int> Continue(std::span<const std::uint8_t> bytes, std::uint64_t root_end = UINT64_MAX);

 private:
  enum class Kind { kElements, kItems, kFragments };
  struct Frame;
  StructureLimits limits_;
  bool complete_;
  std::vector<std::unique_ptr<Frame>> stack_;
  std::uint64_t pos_ = 0;
  int depth_ = 0, deepest_ = 0;
  std::optional<Error> failed_;
};

// A whole data set at once (see DatasetWalker).
Result<int> WalkDataset(std::span<const std::uint8_t> bytes, DatasetEncoding encoding, const StructureLimits& limits,
                        bool complete = true);

// Checks a Part 10 file (preamble, DICM, meta group, data set in the meta's transfer
// syntax). Data that is not Part 10 is kInvalidArgument.
Result<void> CheckPart10Structure(std::string_view bytes, const StructureLimits& limits);

// Where the data set of a Part 10 file starts (after a meta group that passes the
// check), for readers that salvage the meta group of a refused file.
std::optional<std::uint64_t> Part10DatasetOffset(std::string_view bytes, const StructureLimits& limits);

// The limits every DICOM read of the process applies (dicom/dcmtk_io.h); set once at
// start-up from the configuration (limits.max_dicom_depth, limits.max_decompressed_bytes).
StructureLimits DefaultStructureLimits();
void SetDefaultStructureLimits(const StructureLimits& limits);

}  // namespace vg::dicom
