#include "storage/leader_lease.h"

#include "core/logging.h"

namespace vg::storage {

PostgresLeaderLease::PostgresLeaderLease(std::function<Result<sql::Db>()> connect, std::int64_t key,
                                         std::chrono::milliseconds retry)
    : connect_(std::move(connect)), key_(key), retry_(retry) {
  CheckOnce();  // a single node leads from its first moment
  thread_ = std::thread([this] { Loop(); });
}

PostgresLeaderLease::~PostgresLeaderLease() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  // Closing the connection releases the lock for the next leader at once.
}

void PostgresLeaderLease::Loop() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, retry_, [&] { return stopping_; })) {
    lock.unlock();
    CheckOnce();
    lock.lock();
  }
}

void PostgresLeaderLease::CheckOnce() {
  const bool was = held_.load();
  if (!db_) {
    auto opened = connect_();
    if (!opened) {
      held_ = false;
      if (was) LogWarn("leadership_lost", "\"reason\":\"catalog unreachable\"");
      return;
    }
    db_ = std::make_unique<sql::Db>(std::move(*opened));
  }
  // Ours already on this session (the connection may have been re-made under us, which
  // drops the lock), or taken now.
  auto st = sql::Stmt::Prepare(*db_,
                               "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND "
                               "pid = pg_backend_pid() AND granted AND classid = 0 AND objid = ? AND objsubid = 1) "
                               "THEN true ELSE pg_try_advisory_lock(?) END");
  if (st) st->Bind(key_).Bind(key_);
  auto row = st ? st->Step() : Result<bool>(std::unexpected(st.error()));
  if (!row || !*row) {
    db_.reset();  // a new connection next time; the server dropped this one's lock
    held_ = false;
    if (was) LogWarn("leadership_lost", "\"reason\":\"catalog connection failed\"");
    return;
  }
  const bool now = st->Int(0) != 0;
  held_ = now;
  if (now && !was) LogInfo("leadership_taken");
}

}  // namespace vg::storage
