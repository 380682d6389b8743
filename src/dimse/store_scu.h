// StoreScu: sends Part 10 files to a DICOM node with C-STORE over one association (the
// gateway's way of putting results into the hospital PACS). Presentation contexts are
// proposed per SOP class in each file's own transfer syntax (and Explicit VR Little
// Endian as a fallback for uncompressed data); nothing is transcoded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace vg::dimse {

struct StoreTarget {
  std::string calling_ae, called_ae, host;
  std::uint16_t port = 104;
  int timeout_s = 30;
};

struct StoreOutcomeScu {
  std::uint16_t status = 0xFFFF;  // the C-STORE response status; 0 is success
  std::string message;            // why it failed, when it did
  bool Ok() const { return status == 0x0000 || status == 0xB000 || status == 0xB007 || status == 0xB006; }
};

// kUnavailable when the association cannot be made (the node is down or refuses us);
// otherwise one outcome per file, in order.
Result<std::vector<StoreOutcomeScu>> SendInstances(const StoreTarget& target, const std::vector<std::string>& files);

}  // namespace vg::dimse
