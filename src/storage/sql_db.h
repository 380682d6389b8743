// A thin RAII layer over the two SQL engines the catalog runs on: SQLite (embedded,
// sqlite3) and PostgreSQL (libpq). Connections, prepared statements, transactions.
// Private to storage/: nothing above this layer sees SQL.
//
// One dialect for both: statements are written with `?` placeholders (turned into $1..$n
// for PostgreSQL), `INSERT ... ON CONFLICT`, `RETURNING`, `IS [NOT] DISTINCT FROM`, and
// the few engine-specific expressions come from Dialect (JSON fields, string
// aggregation, the larger of two values). Integers are 64-bit in both.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

struct sqlite3;

namespace vg::storage::sql {

enum class Engine { kSqlite, kPostgres };

// Why the last statement on a connection failed, where callers act on it.
enum class Failure {
  kNone,
  kDuplicate,  // a UNIQUE or PRIMARY KEY constraint
  kRetry,      // PostgreSQL: serialization failure or deadlock; the transaction may be run again
  kOther,
};

class Statement;

// One connection's engine-specific half.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual Engine engine() const = 0;
  virtual Result<void> Exec(const std::string& sql) = 0;
  virtual Result<std::unique_ptr<Statement>> Prepare(std::string_view sql) = 0;
  virtual std::int64_t Changes() const = 0;
  virtual Failure LastFailure() const = 0;
};

class Db {
 public:
  // `durable`: every commit reaches the disk before it returns (synchronous=FULL).
  static Result<Db> OpenSqlite(const std::string& path, bool durable);
  // A libpq connection URI (postgresql://user:pass@host:port/db). The password never
  // appears in an error.
  static Result<Db> OpenPostgres(const std::string& uri);

  Db(Db&& other) noexcept = default;
  Db& operator=(Db&&) = delete;
  ~Db();
  Engine engine() const { return conn_->engine(); }
  bool IsSqlite() const { return engine() == Engine::kSqlite; }
  // Runs one or more statements without parameters.
  Result<void> Exec(const std::string& sql) { return conn_->Exec(sql); }
  // Rows changed by the last INSERT, UPDATE or DELETE run to completion.
  std::int64_t Changes() const { return conn_->Changes(); }
  // Why the last statement prepared on this connection failed (kNone if it did not); a
  // later Exec (the ROLLBACK) leaves it.
  Failure LastFailure() const { return conn_->LastFailure(); }
  // The SQLite handle, for maintenance only SQLite has (checkpoints); null on PostgreSQL.
  sqlite3* sqlite() const;
  Connection& connection() const { return *conn_; }

 private:
  explicit Db(std::unique_ptr<Connection> conn) : conn_(std::move(conn)) {}
  std::unique_ptr<Connection> conn_;
};

// A bound parameter, kept until the statement runs (PostgreSQL sends them all at once).
struct Param {
  enum Kind { kNull, kInt, kDouble, kText, kBlob } kind = kNull;
  std::int64_t number = 0;
  double real = 0;
  std::string bytes;  // text, or blob bytes
};

// One engine's prepared statement.
class Statement {
 public:
  virtual ~Statement() = default;
  virtual void Bind(int index, const Param& param) = 0;  // index from 1
  virtual Result<bool> Step() = 0;
  virtual void Reset() = 0;
  virtual std::int64_t Int(int col) const = 0;
  virtual double Double(int col) const = 0;
  virtual std::string Text(int col) const = 0;
  virtual std::vector<std::uint8_t> Blob(int col) const = 0;
  virtual bool IsNull(int col) const = 0;
};

class Stmt {
 public:
  static Result<Stmt> Prepare(const Db& db, std::string_view sql);
  Stmt(Stmt&& other) noexcept = default;
  ~Stmt();
  Stmt& Bind(std::int64_t v);
  Stmt& BindDouble(double v);
  Stmt& Bind(const std::string& v);
  Stmt& Bind(const std::vector<std::uint8_t>& v);  // empty binds NULL
  Stmt& Bind(const std::optional<std::int64_t>& v);
  Stmt& Bind(const std::optional<std::string>& v);
  Stmt& BindNull();
  // true: a row is ready; false: done.
  Result<bool> Step() { return impl_->Step(); }
  Result<void> Run();  // Step to completion, expecting no rows
  void Reset() {
    impl_->Reset();
    next_ = 1;
  }
  std::int64_t Int(int col) const { return impl_->Int(col); }
  double Double(int col) const { return impl_->Double(col); }
  std::optional<std::int64_t> OptInt(int col) const;
  std::string Text(int col) const { return impl_->Text(col); }
  std::vector<std::uint8_t> Blob(int col) const { return impl_->Blob(col); }
  bool IsNull(int col) const { return impl_->IsNull(col); }

 private:
  explicit Stmt(std::unique_ptr<Statement> impl) : impl_(std::move(impl)) {}
  std::unique_ptr<Statement> impl_;
  int next_ = 1;
};

// How a write transaction meets other writers.
//   kSerialised: one at a time across every connection to the catalog, as SQLite's single
//     writer is; on PostgreSQL, through a transaction-scoped advisory lock, so code that
//     reads and then writes (a job claim, a quota check, the audit chain) stays correct
//     with many nodes.
//   kConcurrent: PostgreSQL READ COMMITTED without that lock, for code written to be safe
//     alongside others (conflict-safe inserts, retried on Failure::kRetry). SQLite still
//     has one writer.
// The audit chain has its own lock, so appends never wait behind other writes.
enum class Isolation { kSerialised, kConcurrent, kAuditChain };

// Runs BEGIN (IMMEDIATE on SQLite); rolls back on destruction unless Commit() succeeded.
class Transaction {
 public:
  static Result<Transaction> Begin(Db& db, Isolation isolation = Isolation::kSerialised);
  Transaction(Transaction&& other) noexcept : db_(other.db_), open_(other.open_) { other.open_ = false; }
  ~Transaction();
  Result<void> Commit();

 private:
  explicit Transaction(Db& db) : db_(&db) {}
  Db* db_;
  bool open_ = true;
};

// The expressions the two engines spell differently.
struct Dialect {
  Engine engine;
  // The text of a top-level field of a JSON object held in a TEXT column.
  std::string JsonText(const std::string& column, const std::string& field) const;
  // A nested field (path of keys) as a number, NULL when absent.
  std::string JsonNumber(const std::string& column, const std::vector<std::string>& path) const;
  // Whether a top-level field of a JSON TEXT column is an object.
  std::string JsonIsObject(const std::string& column, const std::string& field) const;
  // The distinct values of a column joined by commas.
  std::string DistinctList(const std::string& column) const;
  // An empty blob literal.
  std::string EmptyBlob() const { return engine == Engine::kSqlite ? "X''" : "'\\x'::bytea"; }
  // The larger of two values.
  std::string Greater(const std::string& a, const std::string& b) const;
};
inline Dialect DialectOf(const Db& db) { return Dialect{db.engine()}; }

// Runs an INSERT ... RETURNING id to completion and returns the id.
Result<std::int64_t> RunReturningId(Stmt& stmt);

// A PostgreSQL LISTEN on a connection of its own: `on_notify` is called (on the
// listener's thread) for each notification on `channel`, and once after every reconnect
// (notifications sent while it was away are lost, so the caller should look). Stops and
// closes its connection when destroyed.
class Listener {
 public:
  virtual ~Listener() = default;
};
std::unique_ptr<Listener> ListenPostgres(const std::string& uri, const std::string& channel,
                                         std::function<void()> on_notify);

// Steps `stmt` to the end, turning each row into a T with `read(stmt)`.
template <typename T, typename ReadRow>
Result<std::vector<T>> CollectRows(Stmt& stmt, ReadRow read) {
  std::vector<T> out;
  while (true) {
    auto row = stmt.Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(read(stmt));
  }
}

// The first row as a T, or `missing` when there is none.
template <typename T, typename ReadRow>
Result<T> FirstRow(Stmt& stmt, ReadRow read, ErrorCode missing_code, std::string missing_message) {
  auto row = stmt.Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return Fail(missing_code, std::move(missing_message));
  return read(stmt);
}

// Copies the SQLite database at `source` into a new file `dest` with SQLite's online backup:
// one consistent snapshot (a read transaction over the whole copy), while other processes
// go on writing (WAL). `dest` must not exist; on failure nothing is left at `dest`.
Result<void> CopySqliteOnline(const std::string& source, const std::string& dest);

void PauseBeforeRetry(int attempt);

// Runs `body` (which opens its own transaction) again while it fails with Failure::kRetry
// on `db`, up to a few times with a short randomised pause.
template <typename Body>
auto Retrying(Db& db, Body body) -> decltype(body()) {
  for (int attempt = 1;; ++attempt) {
    auto result = body();
    if (result || db.LastFailure() != Failure::kRetry || attempt >= 8) return result;
    PauseBeforeRetry(attempt);
  }
}

}  // namespace vg::storage::sql
