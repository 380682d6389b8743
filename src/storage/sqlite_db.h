// A thin RAII layer over sqlite3: connections, prepared statements, transactions.
// Private to storage/: nothing above this layer sees SQL.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace vg::storage::sql {

class Db {
 public:
  static Result<Db> Open(const std::string& path, bool durable);
  Db(Db&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Db& operator=(Db&&) = delete;
  ~Db();
  Result<void> Exec(const std::string& sql);
  sqlite3* raw() const { return db_; }
 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

class Stmt {
 public:
  static Result<Stmt> Prepare(const Db& db, std::string_view sql);
  Stmt(Stmt&& other) noexcept : stmt_(other.stmt_), next_(other.next_) { other.stmt_ = nullptr; }
  ~Stmt();
  Stmt& Bind(std::int64_t v);
  Stmt& BindDouble(double v);
  Stmt& Bind(const std::string& v);
  Stmt& Bind(const std::vector<std::uint8_t>& v);  // empty binds NULL
  Stmt& Bind(const std::optional<std::int64_t>& v);
  Stmt& Bind(const std::optional<std::string>& v);
  Stmt& BindNull();
  // true: a row is ready; false: done.
  Result<bool> Step();
  Result<void> Run();  // Step to completion, expecting no rows
  void Reset();
  std::int64_t Int(int col) const;
  double Double(int col) const;
  std::optional<std::int64_t> OptInt(int col) const;
  std::string Text(int col) const;
  std::vector<std::uint8_t> Blob(int col) const;
  bool IsNull(int col) const;
 private:
  explicit Stmt(sqlite3_stmt* stmt) : stmt_(stmt) {}
  sqlite3_stmt* stmt_;
  int next_ = 1;
};

// Runs BEGIN IMMEDIATE; rolls back on destruction unless Commit() succeeded.
class Transaction {
 public:
  static Result<Transaction> Begin(Db& db);
  Transaction(Transaction&& other) noexcept : db_(other.db_), open_(other.open_) { other.open_ = false; }
  ~Transaction();
  Result<void> Commit();
 private:
  explicit Transaction(Db& db) : db_(&db) {}
  Db* db_;
  bool open_ = true;
};

Error SqlError(sqlite3* db, std::string_view what);

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

}  // namespace vg::storage::sql
