#include "storage/sqlite_db.h"

namespace vg::storage::sql {

Error SqlError(sqlite3* db, std::string_view what) {
  int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;
  std::string detail = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "no database");
  if (code == SQLITE_FULL) return Error{ErrorCode::kResourceExhausted, "out of storage space", detail};
  if (code == SQLITE_IOERR) return Error{ErrorCode::kResourceExhausted, "the storage failed (I/O error)", detail};
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return Error{ErrorCode::kUnavailable, "catalog is busy", detail};
  return Error{ErrorCode::kInternal, "catalog error", detail};
}

Result<Db> Db::Open(const std::string& path, bool durable) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e = SqlError(raw, "open " + path);
    sqlite3_close(raw);
    return std::unexpected(e);
  }
  Db db(raw);
  sqlite3_busy_timeout(raw, 10000);
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;";
  // WAL + FULL makes every commit durable before it returns; NORMAL may lose the last
  // commits on power loss (never corrupts).
  pragmas += durable ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;";
  if (auto r = db.Exec(pragmas); !r) return std::unexpected(r.error());
  return db;
}

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

Result<void> Db::Exec(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string detail = message ? message : "unknown";
    sqlite3_free(message);
    Error e = SqlError(db_, "exec");
    e.detail += " (" + detail + ")";
    return std::unexpected(e);
  }
  return {};
}

Result<Stmt> Stmt::Prepare(const Db& db, std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db.raw(), sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK)
    return std::unexpected(SqlError(db.raw(), "prepare"));
  return Stmt(stmt);
}

Stmt::~Stmt() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Stmt& Stmt::Bind(std::int64_t v) {
  sqlite3_bind_int64(stmt_, next_++, v);
  return *this;
}
Stmt& Stmt::BindDouble(double v) {
  sqlite3_bind_double(stmt_, next_++, v);
  return *this;
}
Stmt& Stmt::Bind(const std::string& v) {
  sqlite3_bind_text(stmt_, next_++, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::Bind(const std::vector<std::uint8_t>& v) {
  if (v.empty()) sqlite3_bind_null(stmt_, next_++);
  else sqlite3_bind_blob(stmt_, next_++, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::Bind(const std::optional<std::int64_t>& v) {
  if (v) return Bind(*v);
  return BindNull();
}
Stmt& Stmt::Bind(const std::optional<std::string>& v) {
  if (v) return Bind(*v);
  return BindNull();
}
Stmt& Stmt::BindNull() {
  sqlite3_bind_null(stmt_, next_++);
  return *this;
}

Result<bool> Stmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(SqlError(sqlite3_db_handle(stmt_), "step"));
}

Result<void> Stmt::Run() {
  while (true) {
    auto row = Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
  }
}

void Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  next_ = 1;
}

std::int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }
double Stmt::Double(int col) const { return sqlite3_column_double(stmt_, col); }
std::optional<std::int64_t> Stmt::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}
std::string Stmt::Text(int col) const {
  const auto* text = sqlite3_column_text(stmt_, col);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}
std::vector<std::uint8_t> Stmt::Blob(int col) const {
  const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
  if (!data) return {};
  return std::vector<std::uint8_t>(data, data + sqlite3_column_bytes(stmt_, col));
}
bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

Result<Transaction> Transaction::Begin(Db& db) {
  if (auto r = db.Exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
  return Transaction(db);
}

Transaction::~Transaction() {
  if (open_) (void)db_->Exec("ROLLBACK");
}

Result<void> Transaction::Commit() {
  auto r = db_->Exec("COMMIT");
  if (r) open_ = false;
  return r;
}

}  // namespace vg::storage::sql
