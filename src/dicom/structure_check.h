// Structure check: follows a DICOM data set's elements without building it, so that what
// DCMTK's recursive reader would choke on is refused first, with a reason.
//
// DCMTK 3.6.7 recurses once per sequence level (about 1.5 KiB of stack each) and has no
// limit of its own: 80 KiB of nested empty sequences exhaust a thread's 8 MiB stack and
// end the process. The walker keeps its own stack on the heap, counts sequence levels,
// and stops at `max_depth`, far above what real objects need (SR content trees and RT
// structure sets nest a dozen levels) and far below what a stack can take.
//
// It decides what is a sequence the way DCMTK does, erring towards "sequence": explicit
// VR SQ; any element of undefined length other than pixel data (UN, OB/OW, future VRs;
// read as items, UN ones in Implicit VR Little Endian); in Implicit VR, a tag the data
// dictionary knows as SQ, or a value that starts with an item. Values are skipped, never
// copied; pixel data fragments are skipped item by item.
//
// Deflated Explicit VR Little Endian is inflated (no more than `max_inflated_bytes`: a
// zip bomb is refused here, before DCMTK would inflate it in memory) and walked.
//
// Plain logic on bytes (DCMTK's dictionary only), no allocation beyond the walker's
// stack and, for deflated data, the inflated copy. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
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

// Walks a bare data set. Returns the deepest sequence level seen. Fails with
// kUnprocessable when the nesting passes the limit, kInvalidArgument when the structure
// cannot be followed (an item where an element belongs) or, for a `complete` data set, a
// length runs past the end of the bytes (DCMTK would allocate what it says first). When
// not `complete` (a data set still arriving) the bytes may stop anywhere: what is there
// is checked.
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
