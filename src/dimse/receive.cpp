#include "dimse/receive.h"

#include <dcmtk/dcmdata/dcostrma.h>

namespace vg::dimse {
namespace {

class ReceivingConsumer final : public DcmConsumer {
 public:
  ReceivingConsumer(std::string& out, std::uint64_t limit, std::unique_ptr<storage::BlobWriter>* writer,
                    ReceivedDataset& received)
      : out_(out), limit_(limit), writer_(writer), received_(received) {
    if (Writing()) Forward(out_.data(), out_.size());  // the meta header, already in `out`
  }
  OFBool good() const override { return OFTrue; }
  OFCondition status() const override { return EC_Normal; }
  OFBool isFlushed() const override { return OFTrue; }
  offile_off_t avail() const override { return 1 << 30; }
  offile_off_t write(const void* buf, offile_off_t length) override {
    if (received_.too_large) return length;  // read and dropped
    if (out_.size() + static_cast<std::uint64_t>(length) > limit_) {
      received_.too_large = true;
      std::string().swap(out_);
      if (writer_) writer_->reset();  // an abandoned writer leaves no file
      return length;
    }
    out_.append(static_cast<const char*>(buf), static_cast<size_t>(length));
    if (Writing()) Forward(buf, static_cast<size_t>(length));
    return length;
  }
  void flush() override {}

 private:
  bool Writing() const { return writer_ && *writer_; }
  void Forward(const void* data, size_t size) {
    if (!(*writer_)->Append(std::span(static_cast<const std::uint8_t*>(data), size))) writer_->reset();
  }
  std::string& out_;
  std::uint64_t limit_;
  std::unique_ptr<storage::BlobWriter>* writer_;
  ReceivedDataset& received_;
};

class ReceivingStream final : public DcmOutputStream {
 public:
  ReceivingStream(std::string& out, std::uint64_t limit, std::unique_ptr<storage::BlobWriter>* writer,
                  ReceivedDataset& received)
      : DcmOutputStream(&consumer_), consumer_(out, limit, writer, received) {}

 private:
  ReceivingConsumer consumer_;
};

}  // namespace

OFCondition ReceiveStoreDataset(T_ASC_Association* assoc, T_ASC_PresentationContextID pid, int timeout_s,
                                std::string& out, std::uint64_t limit, std::unique_ptr<storage::BlobWriter>* writer,
                                ReceivedDataset& received) {
  ReceivingStream sink(out, limit, writer, received);
  return DIMSE_receiveDataSetInFile(assoc, DIMSE_BLOCKING, timeout_s, &pid, &sink, nullptr, nullptr);
}

}  // namespace vg::dimse
