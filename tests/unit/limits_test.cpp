// The plain logic behind the listeners' limits: connection caps and body pacing.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "core/connection_limits.h"
#include "http/body_pace.h"

namespace vg {
namespace {

TEST(ConnectionLimits, RefusesPastTheTotalCap) {
  ConnectionLimits limits(2, 0);
  auto a = limits.TryOpen("10.0.0.1");
  auto b = limits.TryOpen("10.0.0.2");
  ASSERT_TRUE(a && b);
  auto c = limits.TryOpen("10.0.0.3");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), ConnectionLimits::Refusal::kTotal);
}

TEST(ConnectionLimits, RefusesPastThePerAddressCapWhileOthersStillOpen) {
  ConnectionLimits limits(10, 2);
  auto a = limits.TryOpen("10.0.0.1");
  auto b = limits.TryOpen("10.0.0.1");
  ASSERT_TRUE(a && b);
  auto c = limits.TryOpen("10.0.0.1");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), ConnectionLimits::Refusal::kPerAddress);
  EXPECT_TRUE(limits.TryOpen("10.0.0.2"));
  EXPECT_EQ(limits.open_from("10.0.0.1"), 2u);
}

TEST(ConnectionLimits, AClosedSlotFreesItsPlace) {
  ConnectionLimits limits(1, 1);
  {
    auto a = limits.TryOpen("10.0.0.1");
    ASSERT_TRUE(a);
    EXPECT_FALSE(limits.TryOpen("10.0.0.1"));
  }
  EXPECT_EQ(limits.open(), 0u);
  EXPECT_EQ(limits.open_from("10.0.0.1"), 0u);
  EXPECT_TRUE(limits.TryOpen("10.0.0.1"));
}

TEST(ConnectionLimits, AMovedSlotReleasesOnce) {
  ConnectionLimits limits(3, 0);
  auto a = limits.TryOpen("x");
  ASSERT_TRUE(a);
  ConnectionLimits::Slot moved = std::move(*a);
  ConnectionLimits::Slot again;
  again = std::move(moved);
  EXPECT_EQ(limits.open(), 1u);
  again.Release();
  again.Release();
  EXPECT_EQ(limits.open(), 0u);
}

TEST(ConnectionLimits, ARefusalLeavesNoTraceOfTheAddress) {
  ConnectionLimits limits(1, 5);
  auto a = limits.TryOpen("a");
  ASSERT_TRUE(a);
  EXPECT_FALSE(limits.TryOpen("b"));
  EXPECT_EQ(limits.open_from("b"), 0u);
}

TEST(ConnectionLimits, ConcurrentOpensNeverExceedTheCap) {
  ConnectionLimits limits(50, 0);
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  std::vector<std::vector<ConnectionLimits::Slot>> kept(8);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i)
        if (auto slot = limits.TryOpen("addr" + std::to_string(i % 3))) {
          ++granted;
          kept[t].push_back(std::move(*slot));
        }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(granted.load(), 50);
  EXPECT_EQ(limits.open(), 50u);
}

using http::BodyPace;
using Clock = BodyPace::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(BodyPace, WithoutARateOnlyTheRequestDeadlineBinds) {
  const auto now = Clock::now();
  BodyPace pace(now + seconds(300), 0, seconds(10));
  auto [deadline, limit] = pace.NextDeadline(now);
  EXPECT_EQ(deadline, now + seconds(300));
  EXPECT_EQ(limit, BodyPace::Limit::kRequest);
}

TEST(BodyPace, ASilentClientGetsTheGraceThenTheRateBinds) {
  const auto now = Clock::now();
  BodyPace pace(now + seconds(300), 1000, seconds(10));
  auto [deadline, limit] = pace.NextDeadline(now);
  EXPECT_EQ(limit, BodyPace::Limit::kRate);
  EXPECT_EQ(deadline, now + seconds(10));
}

TEST(BodyPace, BytesEarnWaitingTimeAtTheMinimumRate) {
  const auto now = Clock::now();
  BodyPace pace(now + seconds(300), 1000, seconds(10));
  pace.Record(5000, seconds(4));  // 5 s earned, 4 s spent: 10 + 5 - 4 = 11 s left
  auto [deadline, limit] = pace.NextDeadline(now);
  EXPECT_EQ(limit, BodyPace::Limit::kRate);
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(deadline - now).count(), 11000);
}

TEST(BodyPace, AClientBelowTheRateHasNoTimeLeft) {
  const auto now = Clock::now();
  BodyPace pace(now + seconds(300), 1000, seconds(10));
  pace.Record(1000, seconds(30));
  EXPECT_EQ(pace.NextDeadline(now).first, now);
}

TEST(BodyPace, TheServersOwnTimeBetweenReadsDoesNotCount) {
  const auto start = Clock::now();
  BodyPace pace(start + seconds(300), 1000, seconds(10));
  pace.Record(100, milliseconds(1));
  // A minute later (the handler stored what it had), the client still has its grace.
  const auto later = start + seconds(60);
  auto [deadline, limit] = pace.NextDeadline(later);
  EXPECT_EQ(limit, BodyPace::Limit::kRate);
  EXPECT_GT(deadline, later + seconds(9));
}

TEST(BodyPace, AFastClientIsBoundByTheRequestDeadline) {
  const auto now = Clock::now();
  BodyPace pace(now + seconds(5), 1000, seconds(10));
  pace.Record(1u << 30, milliseconds(100));
  auto [deadline, limit] = pace.NextDeadline(now);
  EXPECT_EQ(limit, BodyPace::Limit::kRequest);
  EXPECT_EQ(deadline, now + seconds(5));
}

TEST(BodyPace, WithoutGraceATrickleHasNoTimeLeft) {
  const auto now = Clock::now();
  BodyPace pace(now + seconds(300), 4096, seconds(10));
  pace.Record(40, seconds(1));  // 40 bytes in a second: under the rate, inside the grace
  EXPECT_GT(pace.NextDeadline(now).first, now + seconds(8));
  pace.WithoutGrace();  // every handler thread busy
  EXPECT_EQ(pace.NextDeadline(now).first, now);
}

TEST(BodyPace, WithoutGraceAFastClientKeepsItsAllowance) {
  const auto now = Clock::now();
  BodyPace pace(now + seconds(300), 4096, seconds(10));
  pace.Record(1u << 20, milliseconds(100));  // 1 MiB in 0.1 s earns 256 s
  pace.WithoutGrace();
  EXPECT_GT(pace.NextDeadline(now).first, now + seconds(200));
}

TEST(BodyPace, HugeCountsDoNotOverflow) {
  const auto now = Clock::now();
  BodyPace pace(Clock::time_point::max(), 1, seconds(10));
  pace.Record(UINT64_MAX / 2, milliseconds(0));
  auto [deadline, limit] = pace.NextDeadline(now);
  EXPECT_GT(deadline, now);
  EXPECT_EQ(limit, BodyPace::Limit::kRate);
}

}  // namespace
}  // namespace vg
