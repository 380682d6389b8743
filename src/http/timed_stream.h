// TimedStream: a blocking view of a non-blocking socket for Beast's synchronous
// algorithms (SyncReadStream + SyncWriteStream), with a deadline on reads and a
// per-operation timeout on writes. With the read deadline kNoWait, a read that would
// wait fails at once with would_block instead (the header phase: the connection then
// waits on the I/O thread, holding no handler thread). Private to http/.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <climits>
#include <cerrno>

#include "http/sync_stream.h"

namespace vg::http {

// Waits until fd is ready for `events` (POLLIN, POLLOUT); false on timeout or error.
inline bool WaitForSocket(int fd, short events, int timeout_ms) {
  pollfd pfd{fd, events, 0};
  while (true) {
    int rc = ::poll(&pfd, 1, timeout_ms);
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

class TimedStream : public SyncStreamOps<TimedStream> {
 public:
  using SyncStreamOps::read_some;
  using SyncStreamOps::write_some;
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::time_point kNoWait = Clock::time_point::min();
  TimedStream(int fd, Clock::time_point read_deadline, std::chrono::milliseconds write_timeout)
      : fd_(fd), read_deadline_(read_deadline), write_timeout_(write_timeout) {}
  void SetReadDeadline(Clock::time_point deadline) { read_deadline_ = deadline; }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    ec = {};
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::mutable_buffer b = *it;
      if (b.size() == 0) continue;
      while (true) {
        ssize_t n = ::recv(fd_, b.data(), b.size(), 0);
        if (n > 0) return static_cast<std::size_t>(n);
        if (n == 0) {
          ec = boost::asio::error::eof;
          return 0;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          ec = boost::system::error_code(errno, boost::system::system_category());
          return 0;
        }
        if (read_deadline_ == kNoWait) {
          ec = boost::asio::error::would_block;
          return 0;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(read_deadline_ - Clock::now()).count();
        if (left <= 0 || !Wait(POLLIN, static_cast<int>(std::min<long long>(left, INT_MAX)))) {
          ec = boost::asio::error::timed_out;
          return 0;
        }
      }
    }
    return 0;
  }

  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    ec = {};
    iovec iov[16];
    int count = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && count < 16; ++it) {
      boost::asio::const_buffer b = *it;
      if (b.size() == 0) continue;
      iov[count].iov_base = const_cast<void*>(b.data());
      iov[count].iov_len = b.size();
      ++count;
    }
    if (count == 0) return 0;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    while (true) {
      ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec = boost::system::error_code(errno, boost::system::system_category());
        return 0;
      }
      if (!Wait(POLLOUT, static_cast<int>(write_timeout_.count()))) {
        ec = boost::asio::error::timed_out;
        return 0;
      }
    }
  }


 private:
  bool Wait(short events, int timeout_ms) { return WaitForSocket(fd_, events, timeout_ms); }
  int fd_;
  Clock::time_point read_deadline_;
  std::chrono::milliseconds write_timeout_;
};

}  // namespace vg::http
