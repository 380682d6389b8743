// SyncStreamOps: what Beast's SyncReadStream/SyncWriteStream concepts want besides a
// stream's own error_code read_some/write_some (the throwing overloads), plus WriteAll.
// Shared by TimedStream and TlsStream (CRTP). Private to http/.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

namespace vg::http {

template <class Stream>
class SyncStreamOps {
 public:
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    std::size_t n = self().read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    boost::system::error_code ec;
    std::size_t n = self().write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  // Writes everything or fails.
  bool WriteAll(const void* data, std::size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      boost::system::error_code ec;
      std::size_t n = self().write_some(boost::asio::const_buffer(p, size), ec);
      if (ec) return false;
      p += n;
      size -= n;
    }
    return true;
  }

 private:
  Stream& self() { return static_cast<Stream&>(*this); }
};

}  // namespace vg::http
