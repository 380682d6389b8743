#include "dimse/pdu_watcher.h"

#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace vg::dimse {
namespace {

constexpr std::uint8_t kAssociateAc = 0x02;
constexpr std::uint8_t kDataTf = 0x04;
constexpr std::uint16_t kCStoreRq = 0x0001;
constexpr std::uint16_t kNoDataSet = 0x0101;

std::uint32_t Be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
std::uint16_t Be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// CommandField (0000,0100) and CommandDataSetType (0000,0800) of a complete command set,
// read by DCMTK as DIMSE will read it (Implicit VR Little Endian, first occurrence wins).
// nullopt when DCMTK cannot read it or a field is missing: DIMSE then refuses the command.
struct CommandFields {
  std::uint16_t field = 0;
  std::uint16_t dataset_type = 0;
};
std::optional<CommandFields> ReadCommandFields(const std::string& command) {
  DcmInputBufferStream stream;
  stream.setBuffer(command.data(), static_cast<offile_off_t>(command.size()));
  stream.setEos();
  DcmDataset set;
  set.transferInit();
  const OFCondition read = set.read(stream, EXS_LittleEndianImplicit);
  set.transferEnd();
  CommandFields out;
  if (read.bad() || set.findAndGetUint16(DCM_CommandField, out.field).bad() ||
      set.findAndGetUint16(DCM_CommandDataSetType, out.dataset_type).bad())
    return std::nullopt;
  return out;
}

}  // namespace

Result<void> PduWatcher::Refuse(const char* limit, const std::string& message) {
  refused_limit_ = limit;
  return Fail(ErrorCode::kUnprocessable, message);
}

Result<void> PduWatcher::OnReceived(std::span<const std::uint8_t> bytes) {
  if (!refused_limit_.empty()) return Fail(ErrorCode::kUnprocessable, "the association was refused already");
  std::size_t at = 0;
  while (at < bytes.size()) {
    if (header_.size() < 6) {
      const std::size_t take = std::min<std::size_t>(6 - header_.size(), bytes.size() - at);
      header_.append(reinterpret_cast<const char*>(bytes.data() + at), take);
      at += take;
      if (header_.size() < 6) break;
      const auto* h = reinterpret_cast<const std::uint8_t*>(header_.data());
      pdu_type_ = h[0];
      const std::uint32_t length = Be32(h + 2);
      const std::uint32_t cap = pdu_type_ == kDataTf ? limits_.max_pdu : kMaxOtherPduBytes;
      if (length > cap)
        return Refuse(pdu_type_ == kDataTf ? "max_pdu" : "max_other_pdu_bytes",
                      fmt::format("a PDU of type {} announces {} bytes; at most {} are accepted", pdu_type_, length, cap));
      body_left_ = length;
      body_.clear();
    } else {
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(body_left_, bytes.size() - at));
      if (pdu_type_ == kDataTf) body_.append(reinterpret_cast<const char*>(bytes.data() + at), take);
      body_left_ -= take;
      at += take;
    }
    if (header_.size() == 6 && body_left_ == 0) {
      Result<void> handled;
      if (pdu_type_ == kDataTf) handled = OnPduBody(Bytes(body_));
      header_.clear();
      body_.clear();
      if (!handled) return handled;
    }
  }
  return {};
}

Result<void> PduWatcher::OnPduBody(std::span<const std::uint8_t> body) {
  std::size_t at = 0;
  while (at < body.size()) {
    if (body.size() - at < 6) return Refuse("malformed_pdu", "a P-DATA-TF PDU ends inside a PDV header");
    const std::uint32_t length = Be32(body.data() + at);
    if (length < 2 || length > body.size() - at - 4)
      return Refuse("malformed_pdu", "a PDV's length does not fit its P-DATA-TF PDU");
    const std::uint8_t context = body[at + 4], control = body[at + 5];
    if (auto ok = OnPdv(context, control, body.subspan(at + 6, length - 2)); !ok) return ok;
    at += 4 + length;
  }
  return {};
}

Result<void> PduWatcher::OnPdv(std::uint8_t context, std::uint8_t control, std::span<const std::uint8_t> data) {
  const bool is_command = control & 0x01, last = control & 0x02;
  if (is_command) {
    if (command_done_ || !command_walker_) {  // the next message
      command_.clear();
      dataset_.clear();
      dataset_walker_.reset();
      command_done_ = expects_dataset_ = store_dataset_ = false;
      command_walker_.emplace(dicom::DatasetEncoding{false, false}, limits_.structure, /*complete=*/false);
    }
    if (command_.size() + data.size() > kMaxCommandBytes)
      return Refuse("max_command_bytes", fmt::format("a command set passes {} bytes", kMaxCommandBytes));
    command_.append(reinterpret_cast<const char*>(data.data()), data.size());
    auto walked = command_walker_->Continue(Bytes(command_));
    if (!walked && walked.error().code == ErrorCode::kUnprocessable)
      return Refuse("max_dicom_depth", walked.error().public_message);
    if (last) {
      command_done_ = true;
      // DCMTK allocates an element's declared length before it finds the bytes missing:
      // a command set is complete only if every value fits in it.
      if (auto whole = WalkComplete(command_, {false, false}); !whole) return whole;
      // Only a command DCMTK itself reads as a C-STORE-RQ has its data set passed through;
      // anything it may read otherwise has its data set watched.
      const auto fields = walked ? ReadCommandFields(command_) : std::nullopt;
      store_dataset_ = fields && fields->field == kCStoreRq;
      expects_dataset_ = !fields || fields->dataset_type != kNoDataSet;
    }
    return {};
  }
  // A data set fragment. Without a finished command DCMTK refuses it itself; a C-STORE's
  // data set streams to the staging area and is checked where it is parsed.
  if (!command_done_ || !expects_dataset_ || store_dataset_) return {};
  if (dataset_.size() + data.size() > limits_.max_identifier_bytes)
    return Refuse("max_identifier_bytes", fmt::format("a query or retrieve identifier passes {} bytes (dicom.max_identifier_bytes)",
                                                      limits_.max_identifier_bytes));
  dataset_.append(reinterpret_cast<const char*>(data.data()), data.size());
  if (!dataset_walker_) {
    auto ts = transfer_syntaxes_.find(context);
    if (ts == transfer_syntaxes_.end())
      return Refuse("malformed_pdu", fmt::format("a data set on presentation context {}, which was not accepted", context));
    const DcmXfer xfer(ts->second.c_str());
    if (xfer.getXfer() == EXS_Unknown || xfer.getStreamCompression() != ESC_none)
      return Refuse("malformed_pdu", "an identifier in a transfer syntax that is not read here");
    dataset_encoding_ = {xfer.isExplicitVR(), xfer.isBigEndian()};
    dataset_walker_.emplace(dataset_encoding_, limits_.structure, /*complete=*/false);
  }
  auto walked = dataset_walker_->Continue(Bytes(dataset_));
  if (!walked && walked.error().code == ErrorCode::kUnprocessable)
    return Refuse("max_dicom_depth", walked.error().public_message);
  if (last) return WalkComplete(dataset_, dataset_encoding_);
  return {};
}

Result<void> PduWatcher::WalkComplete(const std::string& bytes, dicom::DatasetEncoding encoding) {
  auto walked = dicom::WalkDataset(Bytes(bytes), encoding, limits_.structure, /*complete=*/true);
  if (walked) return {};
  if (walked.error().code == ErrorCode::kUnprocessable) return Refuse("max_dicom_depth", walked.error().public_message);
  return Refuse("malformed_pdu", "a command set or identifier whose elements do not fit in it: " + walked.error().public_message);
}

void PduWatcher::OnSent(std::span<const std::uint8_t> bytes) {
  if (sent_done_) return;
  sent_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (sent_.size() < 6) return;
  const auto* p = reinterpret_cast<const std::uint8_t*>(sent_.data());
  const std::uint32_t length = Be32(p + 2);
  if (p[0] != kAssociateAc || length > kMaxOtherPduBytes) {
    sent_done_ = true;
    sent_.clear();
    return;
  }
  if (sent_.size() < 6 + std::size_t{length}) return;
  ReadAccept(Bytes(sent_).subspan(0, 6 + length));
  sent_done_ = true;
  sent_.clear();
}

void PduWatcher::ReadAccept(std::span<const std::uint8_t> pdu) {
  // After the fixed part (PS3.8 9.3.3): header 6, version 2, reserved 2, AE titles 32,
  // reserved 32; then items of type, reserved, 2-byte length.
  for (std::size_t at = 74; at + 4 <= pdu.size();) {
    const std::uint8_t type = pdu[at];
    const std::size_t length = Be16(pdu.data() + at + 2);
    if (at + 4 + length > pdu.size()) return;
    if (type == 0x21 && length >= 4) {
      const std::uint8_t context = pdu[at + 4], result = pdu[at + 6];
      for (std::size_t sub = at + 8; sub + 4 <= at + 4 + length;) {
        const std::size_t sub_length = Be16(pdu.data() + sub + 2);
        if (sub + 4 + sub_length > at + 4 + length) break;
        if (pdu[sub] == 0x40 && result == 0) {
          std::string uid(reinterpret_cast<const char*>(pdu.data() + sub + 4), sub_length);
          while (!uid.empty() && (uid.back() == '\0' || uid.back() == ' ')) uid.pop_back();
          transfer_syntaxes_[context] = uid;
        }
        sub += 4 + sub_length;
      }
    }
    at += 4 + length;
  }
}

}  // namespace vg::dimse
