// ThrottleStore of SqlCatalog: the login throttle's counts, shared by a cluster's nodes.
#include "storage/sql_catalog.h"

namespace vg::storage {

Result<std::vector<ThrottleEntry>> SqlCatalog::ThrottleEntries(const std::vector<std::string>& keys) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               "SELECT failures, last_failure_ms, blocked_until_ms FROM login_throttle WHERE key = ?");
  if (!st) return std::unexpected(st.error());
  std::vector<ThrottleEntry> out;
  for (const auto& key : keys) {
    st->Reset();
    st->Bind(key);
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    ThrottleEntry entry;
    if (*row) entry = {static_cast<int>(st->Int(0)), st->Int(1), st->Int(2)};
    out.push_back(entry);
  }
  return out;
}

Result<void> SqlCatalog::UpdateThrottle(const std::vector<std::string>& keys,
                                        const std::function<void(ThrottleEntry&)>& update, std::int64_t now_ms,
                                        std::int64_t forget_before_ms) {
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  auto read = sql::Stmt::Prepare(writer_,
                                 "SELECT failures, last_failure_ms, blocked_until_ms FROM login_throttle WHERE key = ?");
  auto write = sql::Stmt::Prepare(writer_,
                                  "INSERT INTO login_throttle(key, failures, last_failure_ms, blocked_until_ms) "
                                  "VALUES(?,?,?,?) ON CONFLICT(key) DO UPDATE SET failures = excluded.failures, "
                                  "last_failure_ms = excluded.last_failure_ms, "
                                  "blocked_until_ms = excluded.blocked_until_ms");
  if (!read) return std::unexpected(read.error());
  if (!write) return std::unexpected(write.error());
  for (const auto& key : keys) {
    read->Reset();
    read->Bind(key);
    auto row = read->Step();
    if (!row) return std::unexpected(row.error());
    ThrottleEntry entry;
    if (*row) entry = {static_cast<int>(read->Int(0)), read->Int(1), read->Int(2)};
    read->Reset();
    update(entry);
    write->Reset();
    write->Bind(key).Bind(std::int64_t{entry.failures}).Bind(entry.last_failure_ms).Bind(entry.blocked_until_ms);
    if (auto r = write->Run(); !r) return r;
  }
  auto fade = sql::Stmt::Prepare(writer_,
                                 "DELETE FROM login_throttle WHERE last_failure_ms < ? AND blocked_until_ms <= ?");
  if (!fade) return std::unexpected(fade.error());
  fade->Bind(forget_before_ms).Bind(now_ms);
  if (auto r = fade->Run(); !r) return r;
  return tx->Commit();
}

Result<void> SqlCatalog::ClearThrottle(const std::string& key) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "DELETE FROM login_throttle WHERE key = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(key);
  return st->Run();
}

Result<bool> SqlCatalog::IsKnownLoginAddress(const std::string& username, const std::string& address) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT 1 FROM login_addresses WHERE username = ? AND address = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(username).Bind(address);
  return st->Step();
}

Result<void> SqlCatalog::AddKnownLoginAddress(const std::string& username, const std::string& address,
                                              std::int64_t now_ms, int keep) {
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  auto add = sql::Stmt::Prepare(writer_,
                                "INSERT INTO login_addresses(username, address, seen_ms) VALUES(?,?,?) "
                                "ON CONFLICT(username, address) DO UPDATE SET seen_ms = excluded.seen_ms");
  if (!add) return std::unexpected(add.error());
  add->Bind(username).Bind(address).Bind(now_ms);
  if (auto r = add->Run(); !r) return r;
  auto trim = sql::Stmt::Prepare(writer_,
                                 "DELETE FROM login_addresses WHERE username = ? AND address NOT IN (SELECT address "
                                 "FROM login_addresses WHERE username = ? ORDER BY seen_ms DESC LIMIT ?)");
  if (!trim) return std::unexpected(trim.error());
  trim->Bind(username).Bind(username).Bind(std::int64_t{keep});
  if (auto r = trim->Run(); !r) return r;
  return tx->Commit();
}

}  // namespace vg::storage
