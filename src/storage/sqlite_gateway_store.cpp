// GatewayStore on SQLite (WAL, synchronous FULL: an acknowledged instance is on disk).
#include <mutex>

#include "storage/gateway_store.h"
#include "storage/sql_db.h"
#include "storage/sql_where.h"

namespace vg::storage {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS uid_map(new_uid TEXT PRIMARY KEY, original_sealed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS patients(pseudonym TEXT PRIMARY KEY, original_sealed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS studies(
  study_uid TEXT PRIMARY KEY,
  pseudonym TEXT NOT NULL,
  original_sealed BLOB NOT NULL,
  received_at INTEGER NOT NULL,
  forwarded_at INTEGER);
CREATE TABLE IF NOT EXISTS outbox(
  sop_uid TEXT PRIMARY KEY,
  study_uid TEXT NOT NULL,
  file TEXT NOT NULL,
  size INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'queued',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_attempt_at, created_at);
CREATE TABLE IF NOT EXISTS results(
  sop_uid TEXT PRIMARY KEY,
  study_uid TEXT NOT NULL,
  delivered INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 1,
  last_error TEXT NOT NULL DEFAULT '',
  at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql";

class SqliteGatewayStore final : public GatewayStore {
 public:
  explicit SqliteGatewayStore(sql::Db db) : db_(std::move(db)) {}

  Result<void> RecordReceived(const ReceivedInstance& in) override {
    std::lock_guard lock(mutex_);
    auto tx = sql::Transaction::Begin(db_);
    if (!tx) return std::unexpected(tx.error());
    for (const auto& [uid, sealed] : in.uids) {
      auto st = sql::Stmt::Prepare(db_, "INSERT OR IGNORE INTO uid_map(new_uid, original_sealed) VALUES(?,?)");
      if (!st) return std::unexpected(st.error());
      st->Bind(uid).Bind(sealed);
      if (auto r = st->Run(); !r) return r;
    }
    auto patient = sql::Stmt::Prepare(db_, "INSERT OR IGNORE INTO patients(pseudonym, original_sealed) VALUES(?,?)");
    if (!patient) return std::unexpected(patient.error());
    patient->Bind(in.pseudonym).Bind(in.patient_sealed);
    if (auto r = patient->Run(); !r) return r;
    auto study = sql::Stmt::Prepare(db_, "INSERT OR IGNORE INTO studies(study_uid, pseudonym, original_sealed, received_at) "
                                         "VALUES(?,?,?,?)");
    if (!study) return std::unexpected(study.error());
    study->Bind(in.study_uid).Bind(in.pseudonym).Bind(in.study_sealed).Bind(in.now);
    if (auto r = study->Run(); !r) return r;
    // The same instance again (the PACS resent it): queued once, sent again if it went.
    auto outbox = sql::Stmt::Prepare(db_, "INSERT INTO outbox(sop_uid, study_uid, file, size, created_at) VALUES(?,?,?,?,?) "
                                          "ON CONFLICT(sop_uid) DO UPDATE SET file = excluded.file, size = excluded.size, "
                                          "state = 'queued', next_attempt_at = 0");
    if (!outbox) return std::unexpected(outbox.error());
    outbox->Bind(in.sop_uid).Bind(in.study_uid).Bind(in.file).Bind(in.size).Bind(in.now);
    if (auto r = outbox->Run(); !r) return r;
    return tx->Commit();
  }

  Result<std::vector<OutboxItem>> DueOutbox(std::int64_t now, std::int64_t limit) override {
    std::lock_guard lock(mutex_);
    auto st = sql::Stmt::Prepare(db_, "SELECT sop_uid, study_uid, file, size, attempts, next_attempt_at, created_at, "
                                      "last_error FROM outbox WHERE state = 'queued' AND next_attempt_at <= ? "
                                      "ORDER BY created_at, sop_uid LIMIT ?");
    if (!st) return std::unexpected(st.error());
    st->Bind(now).Bind(limit);
    return sql::CollectRows<OutboxItem>(*st, [](const sql::Stmt& r) {
      return OutboxItem{r.Text(0), r.Text(1), r.Text(2), r.Int(3), r.Int(4), r.Int(5), r.Int(6), r.Text(7)};
    });
  }

  Result<void> Forwarded(const std::vector<std::string>& sops, std::int64_t now) override {
    std::lock_guard lock(mutex_);
    auto tx = sql::Transaction::Begin(db_);
    if (!tx) return std::unexpected(tx.error());
    for (const auto& sop : sops) {
      auto study = sql::Stmt::Prepare(db_, "UPDATE studies SET forwarded_at = ? WHERE study_uid = "
                                           "(SELECT study_uid FROM outbox WHERE sop_uid = ?)");
      if (!study) return std::unexpected(study.error());
      study->Bind(now).Bind(sop);
      if (auto r = study->Run(); !r) return r;
      auto gone = sql::Stmt::Prepare(db_, "DELETE FROM outbox WHERE sop_uid = ?");
      if (!gone) return std::unexpected(gone.error());
      gone->Bind(sop);
      if (auto r = gone->Run(); !r) return r;
    }
    return tx->Commit();
  }

  Result<void> Retry(const std::vector<std::string>& sops, const std::string& error, std::int64_t at) override {
    std::lock_guard lock(mutex_);
    auto tx = sql::Transaction::Begin(db_);
    if (!tx) return std::unexpected(tx.error());
    for (const auto& sop : sops) {
      auto st = sql::Stmt::Prepare(db_, "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
                                        "WHERE sop_uid = ?");
      if (!st) return std::unexpected(st.error());
      st->Bind(at).Bind(error).Bind(sop);
      if (auto r = st->Run(); !r) return r;
    }
    return tx->Commit();
  }

  Result<void> Dead(const std::string& sop, const std::string& error) override {
    std::lock_guard lock(mutex_);
    auto st = sql::Stmt::Prepare(db_, "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ? "
                                      "WHERE sop_uid = ?");
    if (!st) return std::unexpected(st.error());
    st->Bind(error).Bind(sop);
    return st->Run();
  }

  Result<std::optional<SealedBytes>> OriginalUid(const std::string& new_uid) override {
    std::lock_guard lock(mutex_);
    auto st = sql::Stmt::Prepare(db_, "SELECT original_sealed FROM uid_map WHERE new_uid = ?");
    if (!st) return std::unexpected(st.error());
    st->Bind(new_uid);
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return std::optional<SealedBytes>();
    return std::optional<SealedBytes>(st->Blob(0));
  }

  Result<SealedBytes> Patient(const std::string& pseudonym) override {
    std::lock_guard lock(mutex_);
    auto st = sql::Stmt::Prepare(db_, "SELECT original_sealed FROM patients WHERE pseudonym = ?");
    if (!st) return std::unexpected(st.error());
    st->Bind(pseudonym);
    return sql::FirstRow<SealedBytes>(*st, [](const sql::Stmt& r) { return r.Blob(0); }, ErrorCode::kNotFound,
                                      "no such pseudonym");
  }

  Result<GatewayStudy> Study(const std::string& study_uid) override {
    std::lock_guard lock(mutex_);
    auto st = sql::Stmt::Prepare(db_, "SELECT study_uid, pseudonym, original_sealed, forwarded_at FROM studies WHERE study_uid = ?");
    if (!st) return std::unexpected(st.error());
    st->Bind(study_uid);
    return sql::FirstRow<GatewayStudy>(*st, ReadStudy, ErrorCode::kNotFound, "no such study");
  }

  Result<std::vector<GatewayStudy>> StudiesToPoll(std::int64_t since) override {
    std::lock_guard lock(mutex_);
    auto st = sql::Stmt::Prepare(db_, "SELECT study_uid, pseudonym, original_sealed, forwarded_at FROM studies "
                                      "WHERE forwarded_at IS NOT NULL AND forwarded_at >= ? ORDER BY forwarded_at DESC");
    if (!st) return std::unexpected(st.error());
    st->Bind(since);
    return sql::CollectRows<GatewayStudy>(*st, ReadStudy);
  }

  Result<bool> ResultHandled(const std::string& sop_uid) override {
    std::lock_guard lock(mutex_);
    auto st = sql::Stmt::Prepare(db_, "SELECT delivered, attempts FROM results WHERE sop_uid = ?");
    if (!st) return std::unexpected(st.error());
    st->Bind(sop_uid);
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    // Delivered, or failed often enough to stop trying (the status page shows it).
    return *row && (st->Int(0) != 0 || st->Int(1) >= 10);
  }

  Result<void> RecordResult(const std::string& sop_uid, const std::string& study_uid, bool delivered,
                            const std::string& error, std::int64_t now) override {
    std::lock_guard lock(mutex_);
    auto st = sql::Stmt::Prepare(db_, "INSERT INTO results(sop_uid, study_uid, delivered, last_error, at) VALUES(?,?,?,?,?) "
                                      "ON CONFLICT(sop_uid) DO UPDATE SET delivered = excluded.delivered, "
                                      "attempts = attempts + 1, last_error = excluded.last_error, at = excluded.at");
    if (!st) return std::unexpected(st.error());
    st->Bind(sop_uid).Bind(study_uid).Bind(std::int64_t{delivered}).Bind(error).Bind(now);
    return st->Run();
  }

  Result<GatewayCounts> Counts() override {
    std::lock_guard lock(mutex_);
    auto st = sql::Stmt::Prepare(db_, "SELECT (SELECT count(*) FROM outbox WHERE state = 'queued'), "
                                      "(SELECT count(*) FROM outbox WHERE state = 'dead'), (SELECT count(*) FROM studies), "
                                      "(SELECT count(*) FROM results WHERE delivered = 1), "
                                      "(SELECT count(*) FROM results WHERE delivered = 0)");
    if (!st) return std::unexpected(st.error());
    return sql::FirstRow<GatewayCounts>(
        *st, [](const sql::Stmt& r) { return GatewayCounts{r.Int(0), r.Int(1), r.Int(2), r.Int(3), r.Int(4)}; },
        ErrorCode::kInternal, "no counts");
  }

  Result<void> SetState(const std::string& key, const std::string& value) override {
    std::lock_guard lock(mutex_);
    auto st = sql::Stmt::Prepare(db_, "INSERT INTO state(key, value) VALUES(?,?) "
                                      "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    if (!st) return std::unexpected(st.error());
    st->Bind(key).Bind(value);
    return st->Run();
  }

  Result<std::map<std::string, std::string>> States() override {
    std::lock_guard lock(mutex_);
    auto st = sql::Stmt::Prepare(db_, "SELECT key, value FROM state");
    if (!st) return std::unexpected(st.error());
    auto rows = sql::CollectRows<std::pair<std::string, std::string>>(
        *st, [](const sql::Stmt& r) { return std::make_pair(r.Text(0), r.Text(1)); });
    if (!rows) return std::unexpected(rows.error());
    return std::map<std::string, std::string>(rows->begin(), rows->end());
  }

 private:
  static GatewayStudy ReadStudy(const sql::Stmt& r) { return GatewayStudy{r.Text(0), r.Text(1), r.Blob(2), r.OptInt(3)}; }

  std::mutex mutex_;
  sql::Db db_;
};

}  // namespace

Result<std::unique_ptr<GatewayStore>> GatewayStore::Open(const std::string& path) {
  auto db = sql::Db::OpenSqlite(path, /*durable=*/true);
  if (!db) return std::unexpected(db.error());
  if (auto r = db->Exec(kSchema); !r) return std::unexpected(r.error());
  return std::unique_ptr<GatewayStore>(new SqliteGatewayStore(std::move(*db)));
}

}  // namespace vg::storage
