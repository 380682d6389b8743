// LeaderLease: which process of a cluster runs the tasks that must run once at a time
// (period ends, alert notifications, the blob garbage collector).
//
// On PostgreSQL the leader is the process whose own connection holds a session advisory
// lock: when it dies or its connection drops, the server releases the lock and another
// node takes it at its next try (every `retry`). A leader that loses its connection stops
// leading at its next check, so two nodes can both believe they lead for up to `retry`:
// the tasks are written to be harmless when that happens (idempotent, or re-checked in a
// serialised transaction). On SQLite there is one machine and `voxelgate serve` leads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "storage/sql_db.h"

namespace vg::storage {

class LeaderLease {
 public:
  virtual ~LeaderLease() = default;
  // Whether this process leads now (cheap: the background check's latest answer).
  virtual bool Held() const = 0;
};

class AlwaysLeader final : public LeaderLease {
 public:
  bool Held() const override { return true; }
};

class PostgresLeaderLease final : public LeaderLease {
 public:
  // `connect` opens a connection of the lease's own; `key` names the lease.
  PostgresLeaderLease(std::function<Result<sql::Db>()> connect, std::int64_t key,
                      std::chrono::milliseconds retry = std::chrono::seconds(2));
  ~PostgresLeaderLease() override;
  bool Held() const override { return held_.load(); }

 private:
  void Loop();
  void CheckOnce();
  std::function<Result<sql::Db>()> connect_;
  std::int64_t key_;
  std::chrono::milliseconds retry_;
  std::unique_ptr<sql::Db> db_;
  std::atomic<bool> held_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// The lease for cluster-wide singleton tasks.
inline constexpr std::int64_t kLeaderLeaseKey = 0x76676c64;  // "vgld"

}  // namespace vg::storage
