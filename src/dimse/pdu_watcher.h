// PduWatcher: reads along with DCMTK on one association and stops what DCMTK would choke
// on before DCMTK sees it. Private to dimse/; plain logic on bytes (fuzzed).
//
// DCMTK parses command sets, and the data sets of C-FIND, C-MOVE and C-GET requests (the
// identifiers), in memory and recursively, as their fragments arrive. The watcher sees
// every byte DCMTK reads (through the transport connection, see quickack_layer.h) and
// refuses, so that the association is aborted instead of the process:
//   - a P-DATA-TF PDU longer than the maximum PDU length we announced, or another PDU
//     longer than kMaxOtherPduBytes;
//   - a command set over kMaxCommandBytes, an identifier over max_identifier_bytes
//     (C-STORE data sets go to the staging area, never into memory, and pass the
//     structure check where they are parsed);
//   - nesting deeper than the structure limit in a command set or an identifier, checked
//     as each fragment arrives (each byte is walked once);
//   - a complete command set or identifier with a value longer than what is left of it
//     (DCMTK would allocate the declared length, up to 4 GiB, before finding it short).
// Whether a data set is a C-STORE's (passed through) is decided by DCMTK's own reading of
// the command set; a command it cannot read has its data set watched.
// It learns each presentation context's transfer syntax from the A-ASSOCIATE-AC that
// DCMTK sends (OnSent).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "core/result.h"
#include "dicom/structure_check.h"

namespace vg::dimse {

struct PduLimits {
  std::uint32_t max_pdu = 128 * 1024;  // the receive limit we announce
  std::uint32_t max_identifier_bytes = 1u << 20;
  dicom::StructureLimits structure;
};

inline constexpr std::uint32_t kMaxCommandBytes = 64 * 1024;
inline constexpr std::uint32_t kMaxOtherPduBytes = 64 * 1024;

class PduWatcher {
 public:
  explicit PduWatcher(PduLimits limits) : limits_(limits) {}

  // Bytes the peer sent, in order, as DCMTK reads them. An error names the limit; the
  // connection must then fail the read (the bytes never reach DCMTK).
  Result<void> OnReceived(std::span<const std::uint8_t> bytes);
  // Bytes we sent, in order (only the A-ASSOCIATE-AC is looked at).
  void OnSent(std::span<const std::uint8_t> bytes);

  // The limit behind the last refusal, for metrics ("max_pdu", "max_identifier_bytes"...).
  const std::string& refused_limit() const { return refused_limit_; }

 private:
  Result<void> Refuse(const char* limit, const std::string& message);
  Result<void> OnPdv(std::uint8_t context, std::uint8_t control, std::span<const std::uint8_t> data);
  Result<void> OnPduBody(std::span<const std::uint8_t> body);
  // A whole command set or identifier: every value within it (see WalkDataset `complete`).
  Result<void> WalkComplete(const std::string& bytes, dicom::DatasetEncoding encoding);
  void ReadAccept(std::span<const std::uint8_t> pdu);

  PduLimits limits_;
  std::string refused_limit_;

  // Incoming PDUs: the 6-byte header, then the body (P-DATA bodies are kept whole to
  // split them into PDVs; bounded by max_pdu).
  std::string header_;
  std::uint8_t pdu_type_ = 0;
  std::uint64_t body_left_ = 0;
  std::string body_;

  // The message being received.
  std::string command_;
  std::optional<dicom::DatasetWalker> command_walker_;  // walks command_ as it grows
  bool command_done_ = false;
  bool expects_dataset_ = false;
  bool store_dataset_ = false;  // the data set of a C-STORE-RQ: passed through
  std::string dataset_;
  std::optional<dicom::DatasetWalker> dataset_walker_;
  dicom::DatasetEncoding dataset_encoding_;

  // Outgoing: the first PDU (the A-ASSOCIATE-AC, or not).
  std::string sent_;
  bool sent_done_ = false;
  std::map<std::uint8_t, std::string> transfer_syntaxes_;  // accepted context -> UID
};

}  // namespace vg::dimse
