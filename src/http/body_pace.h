// BodyPace: how long the next read of a request body may wait for the client. Two limits
// bind. The whole request has a deadline (limits.request_timeout_s). And the client must
// keep up a minimum rate: the time spent waiting for its bytes may not exceed
// grace + received / min_rate (limits.body_grace_s, limits.min_body_rate); when every
// handler thread is busy the grace is dropped (WithoutGrace). Time the handler spends
// between reads (parsing, storing, fsync) is the server's, not the client's, and does not
// count against it. Plain logic; private to http/.
#pragma once

#include <chrono>
#include <cstdint>
#include <utility>

namespace vg::http {

class BodyPace {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Limit { kRequest, kRate };

  // min_rate_bytes_per_s 0: no rate limit, only the request deadline.
  BodyPace(Clock::time_point request_deadline, std::uint64_t min_rate_bytes_per_s, std::chrono::milliseconds grace)
      : request_deadline_(request_deadline), min_rate_(min_rate_bytes_per_s), grace_(grace) {}

  // The deadline of a wait that starts at `now`, and the limit that sets it.
  std::pair<Clock::time_point, Limit> NextDeadline(Clock::time_point now) const {
    if (min_rate_ == 0) return {request_deadline_, Limit::kRequest};
    // Allowance in microseconds: grace + received / rate - waited, never below zero.
    const double earned_us = static_cast<double>(received_) * 1e6 / static_cast<double>(min_rate_);
    const double left_us = static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(grace_).count()) +
                           earned_us - static_cast<double>(waited_.count());
    const auto rate_deadline =
        left_us <= 0 ? now
                     : now + std::chrono::microseconds(static_cast<std::int64_t>(std::min(left_us, 1e15)));
    if (rate_deadline < request_deadline_) return {rate_deadline, Limit::kRate};
    return {request_deadline_, Limit::kRequest};
  }

  // After a read: `bytes` arrived, and `waited` passed inside the read.
  void Record(std::uint64_t bytes, Clock::duration waited) {
    received_ += bytes;
    waited_ += std::chrono::duration_cast<std::chrono::microseconds>(waited);
  }

  // Under pressure (every handler thread busy) the grace is gone: from here on the client
  // must have kept the minimum rate from its first byte, as a body trickled in to hold a
  // thread would not.
  void WithoutGrace() { grace_ = std::chrono::milliseconds(0); }

  std::uint64_t received() const { return received_; }

 private:
  Clock::time_point request_deadline_;
  std::uint64_t min_rate_;
  std::chrono::milliseconds grace_;
  std::uint64_t received_ = 0;
  std::chrono::microseconds waited_{0};
};

}  // namespace vg::http
