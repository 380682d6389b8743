// Private to dimse/: receiving a C-STORE data set as raw bytes (never parsed by DCMTK,
// never re-encoded), bounded by the instance size limit.
#pragma once

#include <dcmtk/dcmnet/dimse.h>

#include <cstdint>
#include <memory>
#include <string>

#include "storage/blob_store.h"

namespace vg::dimse {

struct ReceivedDataset {
  bool too_large = false;  // passed `limit`: the rest was read and dropped, `out` is empty
};

// Appends the data set that follows a C-STORE-RQ to `out` (which may hold a meta header
// already), and, when `writer` is set, hands every piece to it as it comes (a writer
// that fails is dropped, as is one whose instance turns out too large). Past `limit`
// bytes in `out` the rest of the data set is read and dropped, so that the association
// stays usable and the sender gets a refusal. A bad condition: the link broke.
OFCondition ReceiveStoreDataset(T_ASC_Association* assoc, T_ASC_PresentationContextID pid, int timeout_s,
                                std::string& out, std::uint64_t limit, std::unique_ptr<storage::BlobWriter>* writer,
                                ReceivedDataset& received);

}  // namespace vg::dimse
