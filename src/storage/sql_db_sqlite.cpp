// The SQLite half of sql_db.h.
#include <sqlite3.h>

#include <filesystem>

#include "storage/sql_db.h"

namespace vg::storage::sql {
namespace {

Failure FailureOf(int extended) {
  if (extended == SQLITE_CONSTRAINT_UNIQUE || extended == SQLITE_CONSTRAINT_PRIMARYKEY) return Failure::kDuplicate;
  return Failure::kOther;
}

Error SqliteError(sqlite3* db, std::string_view what) {
  int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;
  std::string detail = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "no database");
  if (code == SQLITE_FULL) return Error{ErrorCode::kResourceExhausted, "out of storage space", detail};
  if (code == SQLITE_IOERR) return Error{ErrorCode::kResourceExhausted, "the storage failed (I/O error)", detail};
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return Error{ErrorCode::kUnavailable, "catalog is busy", detail};
  return Error{ErrorCode::kInternal, "catalog error", detail};
}

class SqliteStatement final : public Statement {
 public:
  SqliteStatement(sqlite3_stmt* stmt, Failure* last_failure) : stmt_(stmt), last_failure_(last_failure) {}
  ~SqliteStatement() override { sqlite3_finalize(stmt_); }
  void Bind(int index, const Param& p) override {
    switch (p.kind) {
      case Param::kNull: sqlite3_bind_null(stmt_, index); break;
      case Param::kInt: sqlite3_bind_int64(stmt_, index, p.number); break;
      case Param::kDouble: sqlite3_bind_double(stmt_, index, p.real); break;
      case Param::kText:
        sqlite3_bind_text(stmt_, index, p.bytes.data(), static_cast<int>(p.bytes.size()), SQLITE_TRANSIENT);
        break;
      case Param::kBlob:
        sqlite3_bind_blob(stmt_, index, p.bytes.data(), static_cast<int>(p.bytes.size()), SQLITE_TRANSIENT);
        break;
    }
  }
  Result<bool> Step() override {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3* db = sqlite3_db_handle(stmt_);
    *last_failure_ = FailureOf(sqlite3_extended_errcode(db));
    return std::unexpected(SqliteError(db, "step"));
  }
  void Reset() override {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::int64_t Int(int col) const override { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const override { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const override {
    const auto* text = sqlite3_column_text(stmt_, col);
    if (!text) return {};
    return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::vector<std::uint8_t> Blob(int col) const override {
    const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
    if (!data) return {};
    return std::vector<std::uint8_t>(data, data + sqlite3_column_bytes(stmt_, col));
  }
  bool IsNull(int col) const override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* stmt_;
  Failure* last_failure_;
};

class SqliteConnection final : public Connection {
 public:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  ~SqliteConnection() override { sqlite3_close_v2(db_); }
  Engine engine() const override { return Engine::kSqlite; }
  Result<void> Exec(const std::string& sql) override {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      std::string detail = message ? message : "unknown";
      sqlite3_free(message);
      last_failure_ = FailureOf(sqlite3_extended_errcode(db_));
      Error e = SqliteError(db_, "exec");
      e.detail += " (" + detail + ")";
      return std::unexpected(e);
    }
    return {};  // last_failure_ is left for the caller's ROLLBACK to keep (see sql_db_postgres.cpp)
  }
  Result<std::unique_ptr<Statement>> Prepare(std::string_view sql) override {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK)
      return std::unexpected(SqliteError(db_, "prepare"));
    last_failure_ = Failure::kNone;
    return std::unique_ptr<Statement>(new SqliteStatement(stmt, &last_failure_));
  }
  std::int64_t Changes() const override { return sqlite3_changes64(db_); }
  Failure LastFailure() const override { return last_failure_; }
  sqlite3* raw() const { return db_; }

 private:
  sqlite3* db_;
  Failure last_failure_ = Failure::kNone;
};

}  // namespace

Result<Db> Db::OpenSqlite(const std::string& path, bool durable) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e = SqliteError(raw, "open " + path);
    sqlite3_close(raw);
    return std::unexpected(e);
  }
  Db db(std::make_unique<SqliteConnection>(raw));
  sqlite3_busy_timeout(raw, 10000);
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;";
  // WAL + FULL makes every commit durable before it returns; NORMAL may lose the last
  // commits on power loss (never corrupts).
  pragmas += durable ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;";
  if (auto r = db.Exec(pragmas); !r) return std::unexpected(r.error());
  return db;
}

Result<void> CopySqliteOnline(const std::string& source, const std::string& dest) {
  if (std::filesystem::exists(dest)) return Fail(ErrorCode::kConflict, dest + " already exists");
  auto from = Db::OpenSqlite(source, false);
  if (!from) return std::unexpected(from.error());
  sqlite3* to = nullptr;
  int rc = sqlite3_open_v2(dest.c_str(), &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  auto fail = [&](const std::string& what) {
    Error e = SqliteError(to, what);
    sqlite3_close(to);
    std::error_code ec;
    std::filesystem::remove(dest, ec);
    return std::unexpected(e);
  };
  if (rc != SQLITE_OK) return fail("open " + dest);
  sqlite3_backup* backup = sqlite3_backup_init(to, "main", from->sqlite(), "main");
  if (!backup) return fail("backup of " + source);
  // All pages in one step: the copy is the database as of one moment. A writer holding the
  // lock makes the step answer BUSY: wait and try again.
  for (int attempt = 0;; ++attempt) {
    rc = sqlite3_backup_step(backup, -1);
    if (rc == SQLITE_DONE) break;
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && attempt < 200) {
      sqlite3_sleep(50);
      continue;
    }
    sqlite3_backup_finish(backup);
    return fail("backup of " + source);
  }
  rc = sqlite3_backup_finish(backup);
  if (rc != SQLITE_OK) return fail("backup of " + source);
  // The copy as one file: no -wal beside it.
  if (sqlite3_exec(to, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr) != SQLITE_OK) return fail("journal mode of " + dest);
  sqlite3_close(to);
  return {};
}

sqlite3* Db::sqlite() const {
  if (!IsSqlite()) return nullptr;
  return static_cast<const SqliteConnection&>(*conn_).raw();
}

}  // namespace vg::storage::sql
